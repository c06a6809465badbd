"""Episode traces: what failed episodes did (flipped, stalled, timed out), from real and made-up paths."""

import json

import numpy as np
import pytest

from benchmarks.evaluate import run_lockstep
from benchmarks.trace import (
    FLIP_WINDOW,
    STALL_WINDOW,
    failure_summary,
    trace_episode,
    trace_records,
    write_trace,
)
from envs.antmazes import ANT_BODY_DIM, get_antmaze_spec
from envs.scoring import EpisodeMetrics

UPRIGHT = np.array([1.0, 0.0, 0.0, 0.0])
ON_ITS_BACK = np.array([0.0, 1.0, 0.0, 0.0])


def ant_path(xy: np.ndarray, flip_at: int | None = None) -> dict[str, np.ndarray]:
    body = np.zeros((len(xy), ANT_BODY_DIM))
    body[:, 1:5] = UPRIGHT
    if flip_at is not None:
        body[flip_at:, 1:5] = ON_ITS_BACK
    return {"observation": body, "achieved_goal": xy, "desired_goal": np.array([10.0, 0.0])}


def failed(length: int) -> EpisodeMetrics:
    return EpisodeMetrics(0.0, 0.0, False, -1, length)


def walk(speed: float, steps: int = 300) -> np.ndarray:
    return np.stack([np.arange(steps + 1) * speed, np.zeros(steps + 1)], axis=-1)


def test_failed_ant_episodes_are_told_apart_as_flipped_stalled_or_timed_out():
    env = "antmaze-umaze-v2"
    flipped = trace_episode(env, 0, failed(300), ant_path(walk(0.01), flip_at=120))
    assert (flipped["kind"], flipped["flip_step"]) == ("flipped", 120)
    window = walk(0.01)[120 - FLIP_WINDOW : 121]
    assert flipped["flip_wall_distance"] == pytest.approx(get_antmaze_spec(env).maze.wall_distance(window).min(), abs=1e-3)
    stalled = walk(0.02)
    stalled[-STALL_WINDOW - 1 :] = stalled[-STALL_WINDOW - 1]  # stands still for its last steps
    record = trace_episode(env, 1, failed(300), ant_path(stalled))
    assert record["kind"] == "stalled" and record["moved_last"] == 0.0 and record["flip_step"] is None
    assert record["flip_wall_distance"] is None
    slow = trace_episode(env, 2, failed(300), ant_path(walk(0.02)))
    assert slow["kind"] == "timed_out" and slow["min_goal_distance"] == pytest.approx(4.0)
    assert slow["end_xy"] == [6.0, 0.0] and len(slow["path"]) == 31


def test_successes_have_no_failure_kind_and_the_summary_counts_failures():
    env = "antmaze-umaze-v2"
    arrived = trace_episode(env, 0, EpisodeMetrics(1.0, 100.0, True, 250, 250), ant_path(walk(0.04, 250)))
    assert arrived["kind"] is None and arrived["min_goal_distance"] == 0.0
    flipped = trace_episode(env, 1, failed(300), ant_path(walk(0.01), flip_at=5))
    summary = failure_summary([arrived, flipped])
    assert summary.startswith("1 of 2 episodes failed: 1 flipped") and "closest approach 7.00" in summary
    assert f"flips came within a median {flipped['flip_wall_distance']:.2f} of a wall" in summary
    assert failure_summary([arrived]) == "no failures in 1 episodes"


def test_traces_of_a_real_ant_rollout_match_its_episodes(tmp_path):
    class Still:
        def reset(self, seed=None):
            pass

        def act(self, obs):
            return np.zeros((*np.shape(obs["observation"])[:-1], 8), dtype=np.float32)

    traces: list = []
    episodes = run_lockstep(Still(), "antmaze-umaze-v2", [0, 1], episode_steps=30, traces=traces)
    records = trace_records("antmaze-umaze-v2", [0, 1], episodes, traces)
    assert [len(t["achieved_goal"]) for t in traces] == [31, 31]
    assert [r["kind"] for r in records] == ["stalled", "stalled"] and all(r["flip_step"] is None for r in records)
    out = write_trace(tmp_path / "trace.json", records, {"env": "antmaze-umaze-v2"})
    document = json.loads(out.read_text())
    assert document["kinds"] == {"stalled": 2} and len(document["episodes"]) == 2


def test_bad_traces_and_a_folder_for_the_trace_file_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="do not match"):
        trace_records("antmaze-umaze-v2", [0], [], [])
    bad = ant_path(walk(0.01))
    bad["achieved_goal"] = bad["achieved_goal"][:, :1]
    with pytest.raises(ValueError, match=r"\(T \+ 1, 2\) positions"):
        trace_episode("antmaze-umaze-v2", 0, failed(300), bad)
    with pytest.raises(ValueError, match="is a folder"):
        write_trace(tmp_path, [], {})
