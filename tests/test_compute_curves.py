"""Score-against-compute curves: snapshots found in order, rows upserted, the plot drawn."""

import json
import shutil

import pytest

from agents.random_agent import RandomAgent
from benchmarks import compute_curves


def make_run(tmp_path, tiny_maze_checkpoint, finished=True):
    run = tmp_path / "run"
    (run / "snapshots").mkdir(parents=True)
    for minutes in ("10", "5", "2.5"):
        shutil.copyfile(tiny_maze_checkpoint, run / "snapshots" / f"checkpoint-{minutes}min.pt")
    (run / "snapshots" / "notes.txt").write_text("not a model")
    if finished:
        shutil.copyfile(tiny_maze_checkpoint, run / "checkpoint.pt")
    return run


def test_a_runs_snapshots_come_in_order_of_minutes_then_its_final_model(tmp_path, tiny_maze_checkpoint):
    run = make_run(tmp_path, tiny_maze_checkpoint)
    assert [label for label, _ in compute_curves.run_models("df", run)] == ["2.5 min", "5 min", "10 min", "final"]
    with pytest.raises(ValueError, match="unknown agent 'cql'"):
        compute_curves.run_models("cql", run)
    with pytest.raises(FileNotFoundError, match="no run folder"):
        compute_curves.run_models("df", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no snapshots and no finished model"):
        compute_curves.run_models("df", tmp_path / "empty")


def test_curves_are_measured_upserted_and_plotted(tmp_path, tiny_maze_checkpoint, monkeypatch):
    run = make_run(tmp_path, tiny_maze_checkpoint)
    minutes = iter([2.5, 5, 10, 30])
    monkeypatch.setattr(compute_curves, "load_agent", lambda agent, path, env_id: (
        RandomAgent(seed=0), {"steps": 100, "train_wall_s": 60 * next(minutes), "device": "cpu", "preset": "quick"}))
    out = tmp_path / "curves.json"
    assert compute_curves.main(["--env", "maze2d-umaze-v1", "--episodes", "2", "--run", f"df={run}", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(row["model"], row["train_minutes"]) for row in rows] == [("10 min", 10.0), ("2.5 min", 2.5), ("5 min", 5.0),
                                                                     ("final", 30.0)]
    assert all(row["n_episodes"] == 2 and row["command"].startswith("python -m benchmarks.compute_curves") for row in rows)
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert "| maze2d-umaze-v1 | df | 2.5 min | 100 | 2.5 |" in compute_curves.curves_table(out)


def test_skip_measured_evaluates_only_the_models_not_yet_in_the_curves_file(tmp_path, tiny_maze_checkpoint, monkeypatch):
    run = make_run(tmp_path, tiny_maze_checkpoint)
    loaded = []

    def load(agent, path, env_id):
        loaded.append(path.name)
        return RandomAgent(seed=0), {"steps": 100, "train_wall_s": 60.0, "device": "cpu", "preset": "quick"}

    monkeypatch.setattr(compute_curves, "load_agent", load)
    out = tmp_path / "curves.json"
    args = ["--env", "maze2d-umaze-v1", "--episodes", "2", "--run", f"df={run}", "--out", str(out)]
    assert compute_curves.main(args) == 0
    first = len(loaded)
    (run / "snapshots" / "checkpoint-20min.pt").write_bytes((run / "snapshots" / "checkpoint-10min.pt").read_bytes())
    assert compute_curves.main([*args, "--skip-measured"]) == 0
    assert loaded[first:] == ["checkpoint-20min.pt"]  # only the new snapshot
    assert compute_curves.main([*args[:3], "3", *args[4:], "--skip-measured"]) == 0
    assert len(loaded) == first + 1 + first + 1  # another episode count is another measurement: all again
    assert len(json.loads(out.read_text())) == first + 1


def test_bad_run_arguments_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        compute_curves.main(["--run", "df"])
    assert "--run takes AGENT=FOLDER" in capsys.readouterr().err
    assert compute_curves.main(["--run", f"df={tmp_path / 'nothing'}", "--out", str(tmp_path / "c.json")]) == 2
    assert "no run folder" in capsys.readouterr().err and not (tmp_path / "c.json").exists()


def test_a_df_snapshot_plans_with_the_shipped_settings_cost_to_go_and_inverse_head(tmp_path):
    import dataclasses
    import shutil

    import envs
    from dfplan.planner import DFPlanner

    snapshot = tmp_path / "snapshots" / "checkpoint-5min.pt"  # no sidecar files beside it
    snapshot.parent.mkdir()
    shutil.copy(DFPlanner.load("maze2d-medium-v1", device="cpu").checkpoint, snapshot)
    built, _ = compute_curves.load_agent("df", snapshot, "maze2d-medium-v1")
    shipped = DFPlanner.load("maze2d-medium-v1", device="cpu")
    assert dataclasses.replace(built.config, cost_model="", inverse_model="") == shipped.config  # the sidecars: shipped
    assert built.config.action_mode == "inverse" and built.inverse is not None
    obs, _ = envs.make("maze2d-medium-v1").reset(seed=0)
    assert built.act(obs).shape == (2,)
