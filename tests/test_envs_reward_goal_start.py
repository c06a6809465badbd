"""D4RL semantics: reward radius, fixed vs random goals, start distribution, info fields."""

import numpy as np
import pytest

import envs
from envs.mazes import MAZES


def _pinned(env_id, offset, seed=0):
    env = envs.make(env_id)
    goal = MAZES[envs.get_env_spec(env_id).maze.name].goal_xy
    obs, info = env.reset(seed=seed, options={"start_xy": goal + np.array([offset, 0.0])})
    return env, obs, info


def test_reward_radius_is_half_a_cell_not_045():
    # Start 0.47 from the goal: inside D4RL's 0.5, outside PointMaze's 0.45.
    env, _, info = _pinned("maze2d-umaze-v1", 0.47)
    assert info["success"] and info["first_reach_step"] == 0
    env.unwrapped.point_env.data.qvel[:] = 0.0
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == 1.0 and info["success"]

    env, _, info = _pinned("maze2d-umaze-v1", 0.53)
    env.unwrapped.point_env.data.qvel[:] = 0.0
    _, reward, _, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == 0.0 and not info["success"] and info["first_reach_step"] == -1


def test_compute_reward_is_batched():
    env = envs.make("maze2d-umaze-v1").unwrapped
    achieved = np.array([[0.0, 0.0], [0.49, 0.0], [0.51, 0.0]])
    assert env.compute_reward(achieved, np.zeros(2), {}).tolist() == [1.0, 1.0, 0.0]


def test_first_reach_step_counts_env_steps():
    env, _, info = _pinned("maze2d-umaze-v1", 0.6)
    assert info["first_reach_step"] == -1
    env.unwrapped.point_env.data.qvel[:] = 0.0
    for step in range(1, 100):
        _, _, _, _, info = env.step(np.array([-1.0, 0.0], dtype=np.float32))
        if info["success"]:
            assert info["first_reach_step"] == step
            break
    else:
        pytest.fail("never reached a goal 0.1 outside the radius while pushing towards it")


@pytest.mark.parametrize("maze", ["umaze", "medium", "large"])
def test_fixed_goal_is_exact_centre_of_d4rl_cell(maze):
    spec = MAZES[maze]
    assert spec.is_free(spec.goal_cell)
    env = envs.make(f"maze2d-{maze}-v1")
    goals = {tuple(env.reset(seed=s)[0]["desired_goal"]) for s in range(5)}
    assert goals == {tuple(spec.goal_xy)}
    assert tuple(spec.xy_to_cell(spec.goal_xy)) == spec.goal_cell


def test_d4rl_goal_cells_in_pointmaze_frame():
    assert MAZES["umaze"].goal_xy.tolist() == [-1.0, 1.0]
    assert MAZES["medium"].goal_xy.tolist() == [2.5, -2.5]
    assert MAZES["large"].goal_xy.tolist() == [3.5, -3.0]


def test_multi2d_goal_is_random_free_cell_plus_noise():
    spec = MAZES["medium"]
    env = envs.make("multi2d-medium-v1")
    goals = np.array([env.reset(seed=s)[0]["desired_goal"] for s in range(60)])
    cells = spec.xy_to_cell(goals)
    assert all(spec.is_free(c) for c in cells)
    assert len({tuple(c) for c in cells}) > 10
    offsets = goals - spec.cell_to_xy(cells)
    assert np.abs(offsets).max() <= 0.1 + 1e-12 and np.abs(offsets).max() > 0.05


def test_start_distribution_covers_every_free_cell_including_goal():
    spec = MAZES["umaze"]
    env = envs.make("maze2d-umaze-v1")
    starts = np.array([env.reset(seed=s)[0]["observation"] for s in range(300)])
    cells = {tuple(c) for c in spec.xy_to_cell(starts[:, :2])}
    assert cells == set(spec.free_cells)
    assert spec.goal_cell in cells
    offsets = starts[:, :2] - spec.cell_to_xy(spec.xy_to_cell(starts[:, :2]))
    assert np.abs(offsets).max() <= 0.1 + 1e-12
    assert 0.07 < starts[:, 2:].std() < 0.13  # N(0, 0.1²) velocity


def test_reset_is_reproducible_from_seed():
    env = envs.make("multi2d-large-v1")
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_pinned_start_or_goal_outside_the_free_cells_is_a_clear_error():
    env = envs.make("maze2d-umaze-v1")
    wall = MAZES["umaze"].cell_to_xy((0, 0))  # the outer wall
    with pytest.raises(ValueError, match="not in a free cell of the umaze maze"):
        env.reset(seed=0, options={"start_xy": wall})
    with pytest.raises(ValueError, match="not in a free cell"):
        env.reset(seed=0, options={"goal_xy": [100.0, 100.0]})
    with pytest.raises(ValueError, match="two finite numbers"):
        env.reset(seed=0, options={"start_xy": [np.nan, 0.0]})
    obs, _ = env.reset(seed=0, options={"start_xy": MAZES["umaze"].goal_xy})
    np.testing.assert_allclose(obs["observation"][:2], MAZES["umaze"].goal_xy)
