"""benchmarks.motion: what an arrival is made of, measured on real rollouts and the data stream."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents import OracleAgent, RandomAgent
from benchmarks import motion


def test_oracle_drives_a_path_at_least_as_long_as_the_straight_line_and_holds():
    stats = motion.rollout_motion(OracleAgent("maze2d-umaze-v1", seed=0), "maze2d-umaze-v1", [0, 1], slow=1.0)
    assert stats["success_rate"] == 1.0 and stats["hold_rate"] > 0.95
    assert stats["path_length"] > 0.5 and 0.5 < stats["speed"] < 5.5 and 0.0 <= stats["slow_share"] <= 1.0


def test_an_agent_that_never_arrives_has_no_path_statistics():
    class Still(RandomAgent):
        def act(self, obs):
            return np.zeros_like(obs["observation"][..., :2], dtype=np.float32)  # one observation or a batch

    stats = motion.rollout_motion(Still(), "maze2d-large-v1", [0], slow=1.0)
    assert stats["success_rate"] == 0.0 and stats["path_length"] is None and stats["hold_rate"] is None


def test_rows_are_upserted_by_env_and_agent_and_bad_settings_refused(tmp_path, capsys):
    out = tmp_path / "motion.json"
    motion.main(["--agents", "data,oracle", "--envs", "maze2d-umaze-v1", "--episodes", "1", "--data-steps", "2000",
                 "--out", str(out)])
    motion.main(["--agents", "oracle", "--envs", "maze2d-umaze-v1", "--episodes", "2", "--out", str(out)])
    rows = json.loads(out.read_text())
    assert [(r["agent"], r["episodes"]) for r in rows] == [("data", 0), ("oracle", 2)]
    assert 0 < rows[0]["speed"] and rows[0]["path_length"] is None
    with pytest.raises(SystemExit):
        motion.main(["--agents", "nobody", "--out", str(out)])
    assert "unknown agent" in capsys.readouterr().err


def test_a_corrupt_motion_file_is_refused_before_any_rollout_and_kept(tmp_path, capsys):
    out = tmp_path / "motion.json"
    out.write_text("{not json")
    with pytest.raises(SystemExit):
        motion.main(["--agents", "oracle", "--envs", "maze2d-umaze-v1", "--episodes", "1", "--out", str(out)])
    assert "not a motion file" in capsys.readouterr().err and out.read_text() == "{not json"
