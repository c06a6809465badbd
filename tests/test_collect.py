"""Dataset generation into a temporary Minari store, loading as arrays, D4RL hdf5 import."""

import json

import minari
import numpy as np
import pytest

import envs
from envs import collect
from envs.collect import collect_stream, write_dataset
from envs.data import import_d4rl_hdf5, load_arrays, read_d4rl_hdf5
from envs.mazes import MAZES


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    return tmp_path / "store"


def test_fast_physics_matches_env_step():
    maze = MAZES["umaze"]
    stream = collect_stream(maze, 200, seed=3, progress=False)
    env = envs.make("maze2d-umaze-v1").unwrapped
    env.reset(seed=0)
    env.point_env.set_state(stream.observations[0, :2], stream.observations[0, 2:])
    for t, action in enumerate(stream.actions):
        obs, *_ = env.step(action)
        np.testing.assert_allclose(obs["observation"], stream.observations[t + 1], atol=1e-12)


def test_dwell_holds_each_reached_goal_and_zero_dwell_is_the_d4rl_stream():
    maze = MAZES["umaze"]
    plain = collect_stream(maze, 3000, seed=4, progress=False)
    assert np.array_equal(collect_stream(maze, 3000, seed=4, progress=False, dwell=0).observations, plain.observations)
    dwelling = collect_stream(maze, 3000, seed=4, progress=False, dwell=150)
    slow = lambda stream: float((np.linalg.norm(stream.observations[:, 2:], axis=1) < 0.3).mean())  # noqa: E731
    assert slow(plain) < 0.02 and slow(dwelling) > 3 * slow(plain) + 0.02  # the D4RL stream never rests

    def longest_stay(stream) -> int:  # most steps spent within 0.5 of one goal before it changes
        near = np.linalg.norm(stream.observations[:, :2] - stream.goals, axis=1) < 0.5
        change = np.flatnonzero(np.any(np.diff(stream.goals, axis=0) != 0, axis=1)) + 1
        return max(int(part.sum()) for part in np.split(near, change))

    assert longest_stay(plain) < 30 < 60 < longest_stay(dwelling)
    assert dwelling.n_goals_reached < plain.n_goals_reached
    with pytest.raises(ValueError, match="dwell >= 0"):
        collect_stream(maze, 10, progress=False, dwell=-1)
    with pytest.raises(SystemExit):  # a dwelling stream never takes the D4RL dataset's id
        collect.main(["maze2d-umaze-v1", "--dwell", "50", "--steps", "10"])


def test_small_dataset_round_trips(store):
    collect.main(["maze2d-umaze-v1", "--steps", "2000", "--seed", "1"])
    dataset = minari.load_dataset("dfplan/maze2d-umaze-v1")
    assert dataset.total_steps == 2000 and dataset.total_episodes == 7  # 6 × 300 + 200
    episode = dataset[0]
    assert episode.observations["observation"].shape == (301, 4)
    assert set(episode.infos) == {"qpos", "qvel", "goal"}
    assert not episode.terminations.any() and episode.truncations[-1]
    assert dataset.spec.env_spec.id == "dfplan/maze2d-umaze-v1"

    arrays = load_arrays("maze2d-umaze-v1")
    assert arrays.observations.shape == (2000, 4) and arrays.actions.shape == (2000, 2)
    assert arrays.rewards.shape == arrays.terminals.shape == arrays.timeouts.shape == (2000,)
    assert arrays.goals.shape == (2000, 2) and arrays.observations.dtype == np.float32
    assert arrays.timeouts.sum() == 7 and not arrays.terminals.any()
    # The stored episodes are consecutive chunks of one continuous stream.
    np.testing.assert_array_equal(arrays.next_observations[:-1], arrays.observations[1:])
    # Rewards are relabelled to the fixed goal, on the position after each step.
    distance = np.linalg.norm(arrays.next_observations[:, :2] - MAZES["umaze"].goal_xy, axis=1)
    np.testing.assert_array_equal(arrays.rewards, (distance <= 0.5).astype(np.float32))
    # The moving goal changes (new goal on arrival) and is always a free cell.
    assert len(np.unique(arrays.goals, axis=0)) > 2
    assert np.abs(arrays.actions).max() <= 1.0


def test_existing_dataset_is_not_overwritten(store):
    collect.main(["maze2d-umaze-v1", "--steps", "300"])
    with pytest.raises(SystemExit):
        collect.main(["maze2d-umaze-v1", "--steps", "300"])
    collect.main(["maze2d-umaze-v1", "--steps", "600", "--overwrite"])
    assert minari.load_dataset("dfplan/maze2d-umaze-v1").total_steps == 600


def test_interrupted_write_leaves_nothing(store, monkeypatch):
    stream = collect_stream(MAZES["umaze"], 300, progress=False)

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(minari, "create_dataset_from_buffers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(
            "dfplan/maze2d-umaze-v1", stream, envs.get_env_spec("maze2d-umaze-v1"), seed=0
        )
    leftovers = [p for p in store.rglob("*") if p.name != "namespace_metadata.json" and p.is_file()]
    assert leftovers == []
    assert not (store / "dfplan" / "maze2d-umaze-v1").exists()


def test_missing_dataset_says_how_to_generate(store):
    with pytest.raises(FileNotFoundError, match=r"python -m envs.collect maze2d-large-v1"):
        load_arrays("multi2d-large-v1")


def test_speed_record(tmp_path):
    path = tmp_path / "speed.json"
    collect.record_speed(path, "dfplan/maze2d-umaze-v1", 1000, 0.5, 0.5)
    record = json.loads(path.read_text())["dfplan/maze2d-umaze-v1"]
    assert record["steps_per_second"] == 1000 and record["steps"] == 1000


def _write_d4rl_file(path, maze, rows_cols):
    """A tiny file in D4RL's maze2d layout: (row, col) positions, cell centres at integers."""
    import h5py

    n = len(rows_cols)
    obs = np.zeros((n, 4))
    obs[:, :2] = rows_cols
    obs[:, 2:] = [[0.5, -1.0]] * n  # v_row, v_col
    with h5py.File(path, "w") as file:
        file["observations"] = obs
        file["actions"] = np.tile([0.25, -0.75], (n, 1))
        file["rewards"] = np.zeros(n)
        file["terminals"] = np.zeros(n, dtype=bool)
        file["timeouts"] = np.zeros(n, dtype=bool)
        file["infos/goal"] = np.tile(np.array(maze.goal_cell, dtype=float), (n, 1))
        file["infos/qpos"] = obs[:, :2]
        file["infos/qvel"] = obs[:, 2:]


@pytest.mark.parametrize("maze_name", ["umaze", "medium", "large"])
def test_d4rl_hdf5_frame_conversion(tmp_path, maze_name):
    maze = MAZES[maze_name]
    cells = np.array(maze.free_cells[:5], dtype=float)
    path = tmp_path / f"maze2d-{maze_name}-sparse-v1.hdf5"
    _write_d4rl_file(path, maze, cells + np.array([0.2, -0.3]))
    stream = read_d4rl_hdf5(path, maze)
    # Positions land in the same cells with the offset rotated: +row → −y, +col → +x.
    np.testing.assert_allclose(stream.observations[:, :2], maze.cell_to_xy(cells) + np.array([-0.3, -0.2]))
    assert [tuple(c) for c in maze.xy_to_cell(stream.observations[:, :2])] == [
        tuple(c) for c in cells.astype(int)
    ]
    np.testing.assert_allclose(stream.observations[:, 2:], [[-1.0, -0.5]] * 5)  # (v_col, −v_row)
    np.testing.assert_allclose(stream.actions, [[-0.75, -0.25]] * 4)
    np.testing.assert_allclose(stream.goals, np.tile(maze.goal_xy, (5, 1)))


def test_d4rl_hdf5_import_loads_as_arrays(tmp_path, store):
    maze = MAZES["umaze"]
    path = tmp_path / "maze2d-umaze-sparse-v1.hdf5"
    _write_d4rl_file(
        path, maze, np.array([[3, 1], [3, 2], [3, 3], [2, 3], [1, 3], [1, 2], [1, 1]], dtype=float)
    )
    dataset_id = import_d4rl_hdf5(path)
    assert dataset_id == "dfplan/d4rl-maze2d-umaze-v1"
    arrays = load_arrays(dataset_id)
    assert len(arrays) == 6
    assert arrays.rewards.tolist() == [
        0,
        0,
        0,
        0,
        0,
        1,
    ]  # only the last step ends within 0.5 of (1, 1)
