"""How trained baselines plug in: one registry entry each, the runner, and ``python -m benchmarks train/ship/eval --agent``.

A stand-in baseline module (a goal-seeking proportional controller "trained" by writing a
JSON file) meets the module contract of :class:`benchmarks.registry.Baseline`, so these
tests exercise the plumbing alone; each real baseline has its own test file.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from agents.protocol import EpisodicAgent, as_batch
from benchmarks import registry, run
from benchmarks.cli import main as suite_main
from benchmarks.results import load_rows

ENV = "maze2d-umaze-v1"


class GainAgent(EpisodicAgent):
    """Action = gain · (goal − position), clipped: enough to run episodes."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta
        self.gain = float(meta["gain"])

    @classmethod
    def load(cls, path, device="auto", **options):
        meta = json.loads(Path(path).read_text())
        if options.get("actions") == "diffused":
            meta = {**meta, "gain": -meta["gain"]}
        return cls(meta)

    def reset(self, seed=None) -> None:
        pass

    def reset_env(self, index: int) -> None:
        pass

    def act(self, obs):
        batch = as_batch(obs)
        actions = np.clip(self.gain * (batch.goals - batch.states[:, :2]), -1, 1).astype(np.float32)
        return actions if batch.batched else actions[0]


def _finished_model(out_dir: Path) -> Path | None:
    path = out_dir / "model.json"
    return path if path.exists() else None


def _train(env_id: str, preset: str, seed: int, out_dir: Path, device: str = "auto", gain: float = 1.0) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"agent": "gain", "env": env_id, "preset": preset, "seed": seed, "train_wall_s": 1.5,
            "budget": "no training", "gain": gain}
    (out_dir / "model.json").write_text(json.dumps(meta))
    return out_dir / "model.json"


@pytest.fixture
def gain_baseline(monkeypatch, tmp_path):
    """Register the stand-in as baseline ``gain`` (variant ``gain/diffused`` flips its sign)."""
    module = types.ModuleType("gain_baseline")
    module.train, module.finished_model, module.GainAgent = _train, _finished_model, GainAgent
    monkeypatch.setitem(sys.modules, "gain_baseline", module)
    monkeypatch.setitem(registry.BASELINES, "gain", registry.Baseline("gain_baseline", "GainAgent", {"gain": 4.0}))
    monkeypatch.setitem(registry.AGENTS, "gain", registry._baseline_spec("gain"))
    monkeypatch.setitem(registry.AGENTS, "gain/diffused", registry._baseline_spec("gain", "diffused", actions="diffused"))
    monkeypatch.setenv("DFPLAN_BASELINE_DIR", str(tmp_path / "checkpoints"))
    return module


def test_every_baseline_of_the_design_is_registered_with_a_module():
    assert {"diffuser", "sac-her", "iql", "cql"} <= set(registry.BASELINES)
    assert {"diffuser", "diffuser/diffused-actions", "sac-her", "iql", "cql"} <= set(registry.AGENTS)
    assert registry.AGENTS["diffuser/diffused-actions"].row_agent == "diffuser"
    assert registry.BASELINES["sac-her"].training_env("maze2d-large-v1") == "multi2d-large-v1"
    assert registry.BASELINES["iql"].training_env("multi2d-large-v1") == "maze2d-large-v1"
    with pytest.raises(ValueError, match="unknown baseline 'dreamer'; known: diffuser"):
        registry.get_baseline("dreamer")


def test_sweep_uses_the_shipped_baseline_and_its_variant_shares_the_model(tmp_path, gain_baseline):
    run_dir = tmp_path / "run"
    _train(ENV, "quick", 0, run_dir)
    assert registry.ship_baseline("gain", run_dir) == registry.shipped_baseline_dir("gain", ENV)
    with pytest.raises(FileNotFoundError, match="no finished gain model"):
        registry.ship_baseline("gain", tmp_path / "nothing")
    code = run.main(["--results", str(tmp_path / "results.json"), "--runs-dir", str(tmp_path / "runs"), "--readme", "-",
                     "--no-progress", "--no-report", "--agents", "gain,gain/diffused", "--envs", ENV,
                     "--episodes", "2", "--workers", "0"])
    assert code == 0
    rows = {(row.agent, row.variant): row for row in load_rows(tmp_path / "results.json")}
    assert sorted(rows) == [("gain", "default"), ("gain", "diffused")]
    default, diffused = rows["gain", "default"], rows["gain", "diffused"]
    assert default.extra["model"]["source"] == "shipped" and default.train_wall_s == 1.5
    assert default.extra["training"]["budget"] == "no training" and diffused.extra["actions"] == "diffused"
    assert default.success_rate > diffused.success_rate  # the sign flip pushes away from the goal
    assert not (tmp_path / "runs").exists()  # nothing was trained


def test_suite_train_ship_and_eval_take_an_agent_choice(tmp_path, gain_baseline, capsys):
    out = tmp_path / "run"
    assert suite_main(["train", "--agent", "gain", "--env", "multi2d-umaze-v1", "--preset", "quick", "--seed", "3",
                        "--out", str(out)]) == 0
    assert suite_main(["ship", "--agent", "gain", "--run", str(out), "--env", ENV]) == 0
    assert (registry.shipped_baseline_dir("gain", ENV) / "model.json").exists()
    meta = json.loads((out / "model.json").read_text())
    assert meta["env"] == ENV and meta["seed"] == 3 and meta["gain"] == 4.0  # one model per maze: the maze2d dataset
    results = tmp_path / "results.json"
    assert suite_main(["eval", "--agent", "gain", "--checkpoint", str(out), "--env", "multi2d-umaze-v1",
                        "--episodes", "2", "--batch", "2", "--results", str(results), "--trace",
                        str(tmp_path / "trace.json")]) == 0
    (row,) = load_rows(results)
    assert (row.agent, row.env, row.train_seeds, row.n_episodes) == ("gain", "multi2d-umaze-v1", [3], 2)
    assert row.command.startswith("python -m benchmarks eval --agent gain")
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert [e["seed"] for e in trace["episodes"]] == row.eval_seeds and trace["meta"]["agent"] == "gain"
    assert sum(e["success"] for e in trace["episodes"]) == round(row.success_rate * 2)
    assert all(len(e["path"]) >= 1 and len(e["goal_xy"]) == 2 for e in trace["episodes"])
    output = capsys.readouterr().out
    assert "score" in output and "trace:" in output


def test_baseline_commands_reject_missing_models_and_options(tmp_path, gain_baseline, capsys):
    assert suite_main(["eval", "--agent", "gain", "--checkpoint", str(tmp_path / "nothing"), "--env", ENV]) == 2
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert suite_main(["eval", "--agent", "gain", "--checkpoint", str(tmp_path / "empty"), "--env", ENV]) == 2
    assert "holds no finished model" in capsys.readouterr().err
    assert suite_main(["train", "--agent", "gain", "--env", ENV]) == 2
    assert "needs --preset" in capsys.readouterr().err
    assert suite_main(["train", "--agent", "gain", "--env", ENV, "--preset", "quick", "--extra-data", "dfplan/x-v1"]) == 2
    assert "--extra-data and --upright-only train DF only" in capsys.readouterr().err
    assert suite_main(["train", "--agent", "gain", "--env", ENV, "--preset", "quick", "--upright-only"]) == 2
    assert "train DF only" in capsys.readouterr().err
    assert suite_main(["train-inverse", "--env", ENV, "--out", "x.pt", "--upright-only"]) == 2
    assert "--upright-only is for AntMaze datasets" in capsys.readouterr().err
    assert suite_main(["train", "--agent", "dreamer", "--env", ENV, "--preset", "quick"]) == 2
    assert "unknown baseline 'dreamer'" in capsys.readouterr().err
