"""``python -m benchmarks train-baselines``: every baseline's preset on every maze in one command.

The ``full`` presets are a GPU's budget; ``--max-steps`` caps each run so the same command is
exercised here, on the CPU, exactly as a lent GPU would run it (``--device cuda``).
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.datasets import Trajectories
from agents.diffuser import PRESETS as DIFFUSER_PRESETS
from agents.offline_rl import PRESETS as OFFLINE_PRESETS
from agents.sac_her import PRESETS as SAC_PRESETS
from benchmarks.cli import main as suite_main
from benchmarks.registry import get_baseline
from envs.collect import collect_stream
from envs.data import MazeArrays
from envs.mazes import MAZES


@pytest.fixture(scope="module")
def tiny_stream():
    return collect_stream(MAZES["umaze"], 1200, seed=0, progress=False)


@pytest.fixture
def tiny_data(monkeypatch, tiny_stream):
    """Both dataset readers answer with 1200 collector steps instead of the 1M-step Minari dataset."""
    obs, actions = tiny_stream.observations.astype(np.float32), tiny_stream.actions.astype(np.float32)
    n = len(actions)
    arrays = MazeArrays(dataset_id="test", observations=obs[:-1], actions=actions, rewards=np.zeros(n, np.float32),
                        next_observations=obs[1:], goals=np.zeros((n, 2), np.float32), terminals=np.zeros(n, bool),
                        timeouts=np.zeros(n, bool))
    trajectories = Trajectories(observations=obs, actions=actions, rewards=np.zeros(n, np.float32),
                                episode_lengths=np.array([n]))
    monkeypatch.setattr("agents.diffuser.training.load_arrays", lambda env_id: arrays)
    monkeypatch.setattr("agents.datasets.maze_trajectories", lambda env_id, create=False: trajectories)


def test_capped_presets_keep_every_setting_but_the_step_budget():
    full = DIFFUSER_PRESETS["full"]
    capped = full.capped(3)
    assert [capped.for_maze(m).train_steps for m in MAZES] == [3, 3, 3]
    assert capped.unet == full.unet and capped.ema_start == full.ema_start and capped.umaze.horizon == full.umaze.horizon
    offline = OFFLINE_PRESETS["full"].capped(3)
    assert (offline.iql_steps, offline.cql_steps, offline.checkpoint_every) == (3, 3, 3)
    assert offline.gamma == OFFLINE_PRESETS["full"].gamma
    sac = SAC_PRESETS["full"]
    assert sac.capped(3).steps_for("large") == sac.learning_starts + 3  # random-action steps, then 3 updates
    assert sac.capped(3).net_width == sac.net_width
    assert DIFFUSER_PRESETS["quick"].capped(10**9) == DIFFUSER_PRESETS["quick"]  # a cap above the budget changes nothing
    for config in (full, OFFLINE_PRESETS["full"], sac):
        with pytest.raises(ValueError, match="steps must be >= 1"):
            config.capped(0)


def test_one_command_trains_every_baselines_full_preset_and_a_rerun_reuses_the_runs(tmp_path, tiny_data, capsys):
    pytest.importorskip("d3rlpy")
    args = ["train-baselines", "--preset", "full", "--device", "cpu", "--mazes", "umaze", "--max-steps", "2",
            "--runs-dir", str(tmp_path)]
    assert suite_main(args) == 0
    out = capsys.readouterr().out
    assert "4 baseline models trained or found" in out
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["cql-maze2d-umaze-v1-full-seed0-max2steps", "diffuser-maze2d-umaze-v1-full-seed0-max2steps",
                       "iql-maze2d-umaze-v1-full-seed0-max2steps", "sac-her-multi2d-umaze-v1-full-seed0-max2steps"]
    for name, folder in zip(("cql", "diffuser", "iql", "sac-her"), folders, strict=True):
        agent = get_baseline(name).load(tmp_path / folder, device="cpu")
        assert agent.meta["preset"] == "full", name
        assert agent.meta["device"] == "cpu", name
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert suite_main(args) == 0  # finished runs are found, not retrained
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == mtimes


def test_unknown_baselines_mazes_and_bad_caps_are_refused_before_training(tmp_path, capsys):
    assert suite_main(["train-baselines", "--agents", "diffuser,ppo", "--runs-dir", str(tmp_path)]) != 0
    assert "unknown baseline 'ppo'" in capsys.readouterr().err
    assert suite_main(["train-baselines", "--mazes", "umaze,giant", "--runs-dir", str(tmp_path)]) != 0
    assert "known mazes" in capsys.readouterr().err
    only_diffuser = sorted(set(DIFFUSER_PRESETS) - set(SAC_PRESETS))[0]  # a preset SAC + HER lacks
    assert suite_main(["train-baselines", "--agents", "diffuser,sac-her", "--preset", only_diffuser, "--runs-dir",
                       str(tmp_path)]) != 0  # refused before diffuser trains
    assert f"unknown preset '{only_diffuser}'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        suite_main(["train-baselines", "--max-steps", "0", "--runs-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())
