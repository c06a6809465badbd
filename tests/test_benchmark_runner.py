"""The benchmark runner: tiny sweeps end to end, resume, crash reports, pooled rows, engines."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import jobs, registry, report, run
from benchmarks.ledger import load_ledger, portable
from benchmarks.results import load_rows

ENV = "maze2d-umaze-v1"


def sweep(tmp_path, *extra: str) -> int:
    """Run a sweep into ``tmp_path/results.json`` (no README, no progress bar)."""
    return run.main(["--results", str(tmp_path / "results.json"), "--runs-dir", str(tmp_path / "runs"),
                     "--readme", "-", "--no-progress", *extra])


def outputs(tmp_path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.is_file() and p.name != "jobs.json"}


def test_tiny_sweep_runs_end_to_end_in_worker_processes(tmp_path):
    code = sweep(tmp_path, "--agents", "oracle,random", "--envs", ENV, "--episodes", "2", "--workers", "1")
    assert code == 0
    rows = {row.agent: row for row in load_rows(tmp_path / "results.json")}
    assert sorted(rows) == ["oracle", "random"]
    assert all(row.env == ENV and row.n_episodes == 2 and row.extra["preset"] == "quick" for row in rows.values())
    assert rows["oracle"].command.startswith("python -m benchmarks.run ")
    assert rows["oracle"].success_rate == 1.0
    records = load_ledger(tmp_path / "jobs.json")
    assert len(records) == 2 and all(record["status"] == "done" for record in records.values())
    assert all(record["job"]["workdir"] == "." for record in records.values())  # the repository, relative
    markdown = (tmp_path / "README.md").read_text()
    assert "| oracle (2 ep.) |" in markdown and (tmp_path / "scores.png").exists()


def test_interrupted_sweep_resumes_without_redoing_finished_jobs(tmp_path, monkeypatch):
    calls: list[str] = []
    evaluate = jobs.evaluate

    def interrupt_second(agent, env_id, *args, agent_name, **kwargs):
        calls.append(agent_name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(agent, env_id, *args, agent_name=agent_name, **kwargs)

    monkeypatch.setattr(jobs, "evaluate", interrupt_second)
    arguments = ("--agents", "oracle,random", "--envs", ENV, "--episodes", "2", "--workers", "0")
    assert sweep(tmp_path, *arguments) == run.INTERRUPTED
    assert [row.agent for row in load_rows(tmp_path / "results.json")] == ["oracle"]
    first = load_ledger(tmp_path / "jobs.json")
    assert list(first) == ["eval/maze2d-umaze-v1/oracle/default/quick/seed-/2ep-from0"]

    assert sweep(tmp_path, *arguments) == 0
    assert calls == ["oracle", "random", "random"]  # oracle was not evaluated again
    second = load_ledger(tmp_path / "jobs.json")
    assert second[next(iter(first))] == first[next(iter(first))]
    assert sorted(row.agent for row in load_rows(tmp_path / "results.json")) == ["oracle", "random"]

    assert sweep(tmp_path, *arguments, "--agents", "oracle", "--rerun") == 0
    assert calls == ["oracle", "random", "random", "oracle"]  # --rerun evaluates a done job again
    assert load_ledger(tmp_path / "jobs.json")[next(iter(first))]["date"] >= first[next(iter(first))]["date"]


def _crash(request):
    raise RuntimeError("boom: the agent could not be built")


def _cannot_train(request):
    raise RuntimeError("boom: training diverged")


def test_crashing_jobs_are_reported_and_the_exit_code_is_nonzero(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry.AGENTS, "crashy", registry.AgentSpec("crashy", _crash))
    monkeypatch.setitem(registry.AGENTS, "untrainable", registry.AgentSpec("untrainable", _crash, _cannot_train))
    code = sweep(tmp_path, "--agents", "oracle,crashy,untrainable", "--envs", ENV, "--episodes", "2", "--workers", "0")
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED eval/maze2d-umaze-v1/crashy" in err and "boom: the agent could not be built" in err
    assert "FAILED train/untrainable/maze2d-umaze-v1/quick/seed0" in err and "boom: training diverged" in err
    assert "3 job(s) failed" in err  # the crashy eval, the training job and the evaluation that needed it
    records = load_ledger(tmp_path / "jobs.json")
    failed = {key for key, record in records.items() if record["status"] == "failed"}
    assert len(failed) == 3 and all("error" in records[key] for key in failed)
    assert [row.agent for row in load_rows(tmp_path / "results.json")] == ["oracle"]  # the rest still landed


def test_ledgers_record_paths_inside_the_repository_relative_to_it(tmp_path):
    job = {"workdir": str(tmp_path), "request": {"runs_dir": str(tmp_path / "runs" / "benchmarks"), "seed": 0},
           "models": [str(tmp_path / "dfplan" / "checkpoints" / "a.pt"), "/elsewhere/b.pt"], "command": "python -m x"}
    assert portable(job, tmp_path) == {"workdir": ".", "request": {"runs_dir": "runs/benchmarks", "seed": 0},
                                       "models": ["dfplan/checkpoints/a.pt", "/elsewhere/b.pt"], "command": "python -m x"}


@pytest.mark.parametrize("suite", ["maze2d", "antmaze"])
def test_the_committed_ledgers_hold_no_absolute_paths(suite):
    def strings(value):
        if isinstance(value, dict):
            yield from (s for item in value.values() for s in strings(item))
        elif isinstance(value, list):
            yield from (s for item in value for s in strings(item))
        elif isinstance(value, str):
            yield value

    ledger = load_ledger(Path(__file__).resolve().parents[1] / "results" / suite / "jobs.json")
    assert ledger and not [s for s in strings(ledger) if s.startswith("/")]


def test_report_regenerates_identically_from_the_same_results(tmp_path):
    arguments = ("--agents", "oracle,random", "--envs", ENV, "--episodes", "2", "--workers", "0")
    assert sweep(tmp_path, *arguments) == 0
    first = outputs(tmp_path)
    assert sweep(tmp_path, *arguments) == 0  # every job already done: nothing changes
    assert outputs(tmp_path) == first
    report.main(["--results", str(tmp_path / "results.json"), "--readme", "-"])
    assert outputs(tmp_path) == first


def test_unknown_agent_names_error_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sweep(tmp_path, "--agents", "oracle,dreamer", "--envs", ENV)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown agent 'dreamer'" in err and "known agents: df, diffuser" in err and "sac-her" in err
    assert "variants such as df/" in err and "--list" in err
    assert not (tmp_path / "jobs.json").exists()


@pytest.mark.parametrize("extra, message", [
    (["--episodes", "0"], "--episodes >= 1"),
    (["--seeds", ""], "at least one agent, env and seed"),
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--device", "tpu9"], "unknown device 'tpu9'"),
])
def test_bad_sweep_settings_fail_before_any_job(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        sweep(tmp_path, "--agents", "random", "--envs", ENV, *extra)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "jobs.json").exists()


def test_a_corrupt_results_file_fails_before_any_job_and_is_kept(tmp_path, capsys):
    (tmp_path / "results.json").write_text('[{"env": ')
    with pytest.raises(SystemExit) as exit_info:
        sweep(tmp_path, "--agents", "random", "--envs", ENV, "--episodes", "1")
    assert exit_info.value.code == 2 and "not valid JSON" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text() == '[{"env": ' and not (tmp_path / "jobs.json").exists()


def test_df_uses_the_shipped_checkpoint_and_pools_training_seeds(tmp_path, monkeypatch, tiny_maze_checkpoint):
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_maze_checkpoint, shipped / "maze2d-umaze-v1.pt")
    monkeypatch.setenv("DFPLAN_CHECKPOINT_DIR", str(shipped))
    quick = tmp_path / "quick"
    quick.mkdir()
    assert sweep(quick, "--agents", "df", "--envs", f"{ENV},multi2d-umaze-v1", "--episodes", "2", "--workers", "0") == 0
    rows = load_rows(quick / "results.json")
    assert [row.env for row in rows] == [ENV, "multi2d-umaze-v1"]
    assert all(row.train_seeds == [0] and row.extra["model"]["source"] == "shipped" for row in rows)
    assert all(row.replan_ms_median is not None and row.extra["eval_batch_size"] == 50 for row in rows)
    dates = {row.env: row.date for row in rows}
    # a changed shipped model (here: a cost-to-go added beside it) makes its finished jobs pending again
    (shipped / "maze2d-umaze-v1.cost.pt").write_bytes(b"a new sibling file")
    assert sweep(quick, "--agents", "df", "--envs", ENV, "--episodes", "2", "--workers", "0") == 0
    assert load_rows(quick / "results.json")[0].date >= dates[ENV]
    ledger = json.loads((quick / "jobs.json").read_text())["jobs"]
    stamps = {record.get("model_stamp") for key, record in ledger.items() if key.startswith("eval/")}
    assert None not in stamps and len(stamps) == 2  # the re-run job carries the new model's stamp

    full = tmp_path / "full"  # finished runs of two seeds are reused, not retrained
    for seed in (0, 1):
        run_dir = full / "runs" / f"df-{ENV}-full-seed{seed}"
        run_dir.mkdir(parents=True)
        shutil.copy(tiny_maze_checkpoint, run_dir / "checkpoint.pt")
    assert sweep(full, "--agents", "df", "--envs", ENV, "--preset", "full", "--episodes", "2", "--seeds", "0,1",
                 "--workers", "0") == 0
    (row,) = load_rows(full / "results.json")
    assert row.train_seeds == [0, 1] and row.n_episodes == 4 and row.eval_seeds == [0, 1, 0, 1]
    assert [m["train_seeds"] for m in row.extra["per_model"]] == [[0], [1]]
    assert row.extra["episodes_per_model"] == 2 and row.extra["preset"] == "full"
    assert not (full / "runs" / f"df-{ENV}-full-seed0" / registry.TRAIN_LOG).exists()


def test_df_variants_are_data_evaluated_as_their_own_rows_and_left_out_of_the_default_sweep(
        tmp_path, monkeypatch, tiny_maze_checkpoint):
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_maze_checkpoint, shipped / "maze2d-umaze-v1.pt")
    monkeypatch.setenv("DFPLAN_CHECKPOINT_DIR", str(shipped))
    assert "df" in registry.DEFAULT_AGENTS and "roadmap" in registry.DEFAULT_AGENTS
    assert not {"df/pursuit", "df/paper-protocol", "roadmap/lookahead0.3"} & set(registry.DEFAULT_AGENTS)
    assert sweep(tmp_path, "--agents", "df/pursuit,df/paper-protocol", "--envs", ENV, "--episodes", "2",
                 "--workers", "0") == 0
    rows = {row.variant: row for row in load_rows(tmp_path / "results.json")}
    assert rows["pursuit"].agent == "df" and rows["pursuit"].extra["planner"]["action_mode"] == "pursuit"
    assert rows["pursuit"].extra["model"]["path"] == str(shipped / "maze2d-umaze-v1.pt")  # outside the repo: as given
    assert rows["paper-protocol"].extra["episode_steps"] == 300  # U-Maze's episodes are shorter than 600 already


def test_failed_training_subprocess_is_reported_with_its_log(tmp_path):
    request = registry.TrainRequest("df", "maze2d-nowhere-v1", "full", 0, tmp_path, "cpu")
    with pytest.raises(RuntimeError, match=r"training .* failed") as error:
        registry.AGENTS["df"].train(request)
    assert "maze2d-nowhere-v1" in str(error.value)
    assert (request.run_dir / registry.TRAIN_LOG).exists()


@pytest.mark.parametrize("agent", ["df", "diffuser"])
def test_the_registry_trains_through_the_suites_own_train_command(tmp_path, agent):
    from benchmarks import cli

    request = registry.TrainRequest(agent, "maze2d-medium-v1", "full", 2, tmp_path, "cpu")
    command = registry.train_command(request)
    assert command[:4] == [sys.executable, "-m", "benchmarks", "train"]
    args = cli.build_parser().parse_args(command[3:])
    assert (args.agent, args.env, args.preset, args.train_seed, args.device) == (agent, "maze2d-medium-v1", "full", 2, "cpu")
    assert args.out == str(request.run_dir) and args.resume == (agent == "df")


def test_ray_engine_runs_a_tiny_sweep(tmp_path):
    pytest.importorskip("ray")
    code = sweep(tmp_path, "--agents", "oracle,random", "--envs", ENV, "--episodes", "2", "--workers", "1",
                 "--engine", "ray")
    assert code == 0
    assert sorted(row.agent for row in load_rows(tmp_path / "results.json")) == ["oracle", "random"]
    assert json.loads((tmp_path / "jobs.json").read_text())["format"] == "dfplan-benchmark-jobs"


def test_ray_engine_without_ray_errors_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert sweep(tmp_path, "--agents", "oracle", "--envs", ENV, "--engine", "ray") == 2
    assert "--engine ray needs Ray: pip install 'dfplan[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "jobs.json").exists()


def test_a_default_sweep_writes_under_runs_and_prints_itself_beside_the_committed_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "results" / "maze2d" / "results.json"
    assert sweep_default("--agents", "oracle", "--envs", ENV, "--episodes", "2") == 0
    ours = tmp_path / "runs" / "maze2d" / "results.json"
    assert load_rows(ours)[0].agent == "oracle" and not committed.exists()
    committed.parent.mkdir(parents=True)
    shutil.copy(ours, committed)
    before = committed.read_bytes()
    assert sweep_default("--agents", "oracle", "--envs", ENV, "--episodes", "2", "--rerun") == 0
    assert committed.read_bytes() == before and not (tmp_path / "README.md").exists()
    printed = capsys.readouterr().out
    assert "this sweep beside the committed rows" in printed
    assert f"{ENV:<26} oracle" in printed


def sweep_default(*extra: str) -> int:
    return run.main(["--no-progress", "--workers", "0", *extra])
