"""The six AntMaze envs: D4RL antmaze-v2's constants, start, goal, reward, termination and scoring."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.antmazes import (
    ANTMAZES,
    GOAL_CELL_NOISE,
    GOAL_EXTRA_NOISE,
    d4rl_goal_offset,
    get_antmaze_spec,
)
from envs.scoring import normalized_score

R, G = "R", "G"
# D4RL's evaluation maps (d4rl/locomotion/maze_env.py), as antmaze-*-v2 registers them.
D4RL_U_MAZE_TEST = [[1, 1, 1, 1, 1], [1, R, 0, 0, 1], [1, 1, 1, 0, 1], [1, G, 0, 0, 1], [1, 1, 1, 1, 1]]
D4RL_BIG_MAZE_TEST = [
    [1, 1, 1, 1, 1, 1, 1, 1], [1, R, 0, 1, 1, 0, 0, 1], [1, 0, 0, 1, 0, 0, 0, 1], [1, 1, 0, 0, 0, 1, 1, 1],
    [1, 0, 0, 1, 0, 0, 0, 1], [1, 0, 1, 0, 0, 1, 0, 1], [1, 0, 0, 0, 1, 0, G, 1], [1, 1, 1, 1, 1, 1, 1, 1]]
D4RL_HARDEST_MAZE_TEST = [
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, R, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
    [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1], [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
    [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1], [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1],
    [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1], [1, 0, 0, 1, 0, 0, 0, 1, 0, G, 0, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]
D4RL = {  # env id: (map, max_episode_steps)
    "antmaze-umaze-v2": (D4RL_U_MAZE_TEST, 700), "antmaze-umaze-diverse-v2": (D4RL_U_MAZE_TEST, 700),
    "antmaze-medium-play-v2": (D4RL_BIG_MAZE_TEST, 1000), "antmaze-medium-diverse-v2": (D4RL_BIG_MAZE_TEST, 1000),
    "antmaze-large-play-v2": (D4RL_HARDEST_MAZE_TEST, 1000), "antmaze-large-diverse-v2": (D4RL_HARDEST_MAZE_TEST, 1000),
}


def _cell(d4rl_map, mark):
    return next((r, c) for r, row in enumerate(d4rl_map) for c, v in enumerate(row) if v == mark)


@pytest.mark.parametrize("env_id", list(D4RL))
def test_constants_match_d4rl_antmaze_v2(env_id):
    d4rl_map, steps = D4RL[env_id]
    maze = get_antmaze_spec(env_id).maze
    assert [[0 if v in (R, G) else v for v in row] for row in d4rl_map] == [list(r) for r in maze.layout]
    assert maze.start_cell == _cell(d4rl_map, R) and maze.goal_cell == _cell(d4rl_map, G)
    assert maze.episode_steps == steps and maze.scale == 4.0
    assert (maze.ref_min_score, maze.ref_max_score) == (0.0, 1.0)
    assert normalized_score(env_id, 1.0) == 100.0 and normalized_score(env_id, 0.0) == 0.0


def test_six_ids_registered_and_unknown_ids_rejected():
    assert envs.ANTMAZE_IDS == tuple(D4RL)
    for env_id in D4RL:
        assert gymnasium.spec(f"dfplan/{env_id}").max_episode_steps == D4RL[env_id][1]
    with pytest.raises(ValueError, match="antmaze-umaze-v2"):
        envs.make("antmaze-tiny-v2")


def test_d4rl_goal_offset_lies_in_its_box_and_points_along_plus_col_and_plus_row():
    offsets = np.stack([d4rl_goal_offset(np.random.default_rng(i)) for i in range(500)])
    reach = GOAL_CELL_NOISE + GOAL_EXTRA_NOISE
    assert reach == 1.5
    assert (offsets[:, 0] >= 0).all() and (offsets[:, 0] <= reach).all()  # +col is +x
    assert (offsets[:, 1] <= 0).all() and (offsets[:, 1] >= -reach).all()  # +row is -y
    assert offsets[:, 0].mean() == pytest.approx(0.75, abs=0.05)


def test_check_env_passes():
    env = envs.make("antmaze-umaze-v2")
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", ["antmaze-umaze-v2", "antmaze-large-diverse-v2"])
def test_reset_puts_the_ant_at_the_reset_cell_and_the_goal_in_d4rls_box(env_id):
    env = envs.make(env_id)
    spec = get_antmaze_spec(env_id)
    low, high = spec.goal_box()
    goals = []
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert obs["observation"].shape == (27,) and obs["achieved_goal"].shape == (2,)
        start = spec.maze.cell_to_xy(spec.maze.start_cell)
        assert np.abs(obs["achieved_goal"] - start).max() <= 0.1 + 1e-9
        assert (obs["desired_goal"] >= low).all() and (obs["desired_goal"] <= high).all()
        assert info == {"success": False, "first_reach_step": -1}
        goals.append(obs["desired_goal"])
    assert len({tuple(g) for g in goals}) == 5  # redrawn at every reset (D4RL v2)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(again["desired_goal"], goals[3])
    env.close()


def test_success_within_half_a_unit_ends_the_episode_with_return_one():
    env = envs.make("antmaze-umaze-v2")
    _, info = env.reset(seed=0, options={"goal_xy": ANTMAZES["umaze"].cell_to_xy((1, 1)) + np.array([0.3, 0.0])})
    assert info == {"success": True, "first_reach_step": 0}  # started there; D4RL ends it at the first step
    _, reward, terminated, truncated, info = env.step(np.zeros(8))
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info == {"success": True, "first_reach_step": 0}
    env.reset(seed=0, options={"goal_xy": ANTMAZES["umaze"].cell_to_xy((1, 1)) + np.array([0.0, 0.7])})
    _, reward, terminated, _, info = env.step(np.zeros(8))
    assert (reward, terminated, info["success"]) == (0.0, False, False)
    env.close()


def test_episode_truncates_at_700_steps_on_umaze_without_success():
    env = envs.make("antmaze-umaze-v2")
    env.reset(seed=2)
    steps, truncated = 0, False
    while not truncated:
        _, reward, terminated, truncated, _ = env.step(np.zeros(8))
        steps += 1
        assert not terminated and reward == 0.0
    assert steps == 700
    env.close()


def test_pinned_positions_must_be_finite_and_inside_free_cells():
    env = envs.make("antmaze-medium-play-v2")
    with pytest.raises(ValueError, match="free cell"):
        env.reset(options={"goal_xy": ANTMAZES["medium"].cell_to_xy((0, 0))})
    with pytest.raises(ValueError, match="two finite numbers"):
        env.reset(options={"start_xy": [np.nan, 0.0]})
    obs, _ = env.reset(seed=0, options={"start_xy": ANTMAZES["medium"].cell_to_xy((4, 4))})
    np.testing.assert_allclose(obs["achieved_goal"], ANTMAZES["medium"].cell_to_xy((4, 4)), atol=0.1)
    env.close()


def test_cells_are_four_units_in_the_gymnasium_robotics_frame():
    env = envs.make("antmaze-large-play-v2").unwrapped
    maze = ANTMAZES["large"]
    for cell in [(1, 1), (7, 9), (3, 4)]:
        np.testing.assert_allclose(maze.cell_to_xy(cell), env.maze.cell_rowcol_to_xy(np.array(cell)))
        assert tuple(maze.xy_to_cell(maze.cell_to_xy(cell) + np.array([1.9, -1.9]))) == cell
    env.close()


def test_wall_distance_is_the_gap_to_the_nearest_wall_block_and_zero_inside_one():
    maze = ANTMAZES["medium"]  # cells of 4 units; (1, 1) free with walls at (0, 1) above and (1, 0) to its left
    centre = maze.cell_to_xy((1, 1))
    assert maze.wall_distance(centre) == pytest.approx(2.0)  # half a cell to the walls on two sides
    assert maze.wall_distance(centre + np.array([0.5, 1.5])) == pytest.approx(0.5)  # 0.5 below the wall above
    assert maze.wall_distance(maze.cell_to_xy((0, 0))) == 0.0
    corner = maze.cell_to_xy((3, 2)) + np.array([1.0, 1.0])  # near the corner of wall (2, 3), diagonally
    assert maze.wall_distance(corner) == pytest.approx(np.hypot(1.0, 1.0))
    assert maze.wall_distance(np.zeros((4, 3, 2))).shape == (4, 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        maze.wall_distance(np.zeros(3))


def test_rgb_frames_render_headless():
    env = envs.make("antmaze-umaze-v2", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert (frame == (30, 90, 220)).all(axis=-1).any() and (frame == (220, 40, 40)).all(axis=-1).any()
    env.close()
