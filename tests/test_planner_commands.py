"""python -m benchmarks eval / plan / ship on a tiny checkpoint."""

import dataclasses
import json

import pytest

from benchmarks import cli
from dfplan.planner import DFPlanner

FAST = ["--planner.horizon", "4", "--planner.sampler.num_steps", "3", "--planner.replan_every", "40"]


def test_eval_writes_a_results_row(tiny_maze_checkpoint, tmp_path):
    results = tmp_path / "results.json"
    code = cli.main(["eval", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--episodes", "2",
                     "--batch", "2", "--device", "cpu", "--results", str(results), "--variant", "tiny", *FAST])
    assert code == 0
    (row,) = json.loads(results.read_text())
    assert row["agent"] == "df" and row["variant"] == "tiny" and row["n_episodes"] == 2
    assert row["act_ms_median"] > 0 and row["replan_ms_median"] > 0
    assert row["extra"]["planner"]["horizon"] == 4 and row["command"].startswith("python -m benchmarks eval")


def test_ship_then_load_by_path_keeps_the_planner_settings(tiny_maze_checkpoint, tmp_path):
    out = tmp_path / "shipped.pt"
    assert cli.main(["ship", "--run", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--out", str(out),
                     "--planner.action_mode", "diffused", "--planner.horizon", "6"]) == 0
    planner = DFPlanner.load(out, device="cpu")
    assert planner.config.action_mode == "diffused" and planner.config.horizon == 6
    assert planner.meta["env"] == "maze2d-umaze-v1" and planner.meta["action_high"] == [1.0, 1.0]
    again = tmp_path / "reshipped.pt"  # re-shipping a shipped model changes only the flags given
    assert cli.main(["ship", "--run", str(out), "--env", "maze2d-umaze-v1", "--out", str(again),
                     "--planner.kp", "20"]) == 0
    reshipped = DFPlanner.load(again, device="cpu")
    assert reshipped.config == dataclasses.replace(planner.config, kp=20.0)
    assert reshipped.meta["shipped_from"] == planner.meta["shipped_from"] == str(tiny_maze_checkpoint)
    taken = tmp_path / "taken.pt"  # a fresh run taking over another checkpoint's settings
    assert cli.main(["ship", "--run", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--out", str(taken),
                     "--settings-from", str(again), "--planner.horizon", "5"]) == 0
    assert DFPlanner.load(taken, device="cpu").config == dataclasses.replace(reshipped.config, horizon=5)
    assert cli.main(["ship", "--run", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--out",
                     str(tmp_path / "x.pt"), "--settings-from", str(tiny_maze_checkpoint)]) == 2


def test_plan_draws_a_picture_and_a_gif(tiny_maze_checkpoint, tmp_path):
    code = cli.main(["plan", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--start=-1,-1",
                     "--goal", "1,1", "--png", str(tmp_path / "plan.png"), "--gif", str(tmp_path / "ep.gif"),
                     "--device", "cpu", *FAST])
    assert code == 0
    assert (tmp_path / "plan.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "ep.gif").read_bytes()[:3] == b"GIF"


@pytest.mark.parametrize("args", [["--start", "1"], ["--goal", "a,b"]])
def test_plan_rejects_bad_coordinates(tiny_maze_checkpoint, tmp_path, args, capsys):
    base = {"--start": "0,0", "--goal": "1,1"}
    base[args[0]] = args[1]
    code = cli.main(["plan", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1",
                     "--png", str(tmp_path / "p.png"), *[x for kv in base.items() for x in kv]])
    assert code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["eval", "plan", "ship", "train-cost", "video-clips"])
def test_unknown_env_names_the_suite_envs(tiny_maze_checkpoint, tmp_path, command, capsys):
    given = {"eval": ["--checkpoint", str(tiny_maze_checkpoint)], "ship": ["--run", str(tiny_maze_checkpoint)],
             "plan": ["--checkpoint", str(tiny_maze_checkpoint), "--start", "0,0", "--goal", "1,1"],
             "train-cost": ["--out", str(tmp_path / "c.pt")], "video-clips": []}[command]
    assert cli.main([command, *given, "--env", "CartPole-v1"]) == 2
    err = capsys.readouterr().err
    assert "unknown env 'CartPole-v1'" in err and "maze2d-umaze-v1" in err
    assert not list(tmp_path.iterdir())


def test_ship_refuses_another_maze_and_an_existing_file_without_force(tiny_maze_checkpoint, tmp_path, capsys):
    out = tmp_path / "shipped.pt"
    ship = ["ship", "--run", str(tiny_maze_checkpoint), "--out", str(out)]
    assert cli.main([*ship, "--env", "maze2d-umaze-v1"]) == 0
    assert cli.main([*ship, "--env", "maze2d-umaze-v1"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert cli.main([*ship, "--env", "multi2d-umaze-v1", "--force", "--planner.horizon", "6"]) == 0  # same maze
    assert DFPlanner.load(out, device="cpu").config.horizon == 6
    again = ["ship", "--run", str(out), "--out", str(tmp_path / "again.pt")]  # the shipped file names its maze
    assert cli.main([*again, "--env", "maze2d-large-v1"]) == 2
    assert "trained on maze2d-umaze-v1, not on maze2d-large-v1" in capsys.readouterr().err
    assert not (tmp_path / "again.pt").exists()


def test_a_planner_refuses_an_env_of_another_maze(tiny_maze_checkpoint, tmp_path, capsys):
    import envs

    out = tmp_path / "shipped.pt"
    assert cli.main(["ship", "--run", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--out", str(out)]) == 0
    DFPlanner.load(out, device="cpu", env=envs.make("multi2d-umaze-v1"))  # one model serves both envs of its maze
    with pytest.raises(ValueError, match="trained on maze2d-umaze-v1; the env is dfplan/maze2d-large-v1"):
        DFPlanner.load(out, device="cpu", env=envs.make("maze2d-large-v1"))
    results = tmp_path / "results.json"
    assert cli.main(["eval", "--checkpoint", str(out), "--env", "maze2d-large-v1", "--episodes", "1",
                     "--results", str(results), *FAST]) == 2
    assert "plans only in the maze it was trained on" in capsys.readouterr().err and not results.exists()


def test_eval_refuses_an_unusable_results_file_before_evaluating(tiny_maze_checkpoint, tmp_path, capsys):
    corrupt = tmp_path / "results.json"
    corrupt.write_text('[{"env": ')
    base = ["eval", "--checkpoint", str(tiny_maze_checkpoint), "--env", "maze2d-umaze-v1", "--episodes", "1", *FAST]
    assert cli.main([*base, "--results", str(corrupt)]) == 2
    assert "not valid JSON" in capsys.readouterr().err and corrupt.read_text() == '[{"env": '
    assert cli.main([*base, "--results", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: a count must be >= 1
        cli.main([*base, "--episodes", "0"])
