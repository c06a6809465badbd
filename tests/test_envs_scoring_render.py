"""Score constants, frame conversions and headless rendering."""

import numpy as np
import pytest

import envs
from envs.mazes import MAZES
from envs.render import render_frames, render_png
from envs.scoring import episode_metrics, normalized_score

REFS = {"umaze": (23.85, 161.86), "medium": (13.13, 277.39), "large": (6.7, 273.99)}


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_reference_returns_score_0_and_100(env_id):
    low, high = REFS[env_id.split("-")[1]]
    assert normalized_score(env_id, low) == pytest.approx(0.0)
    assert normalized_score(env_id, high) == pytest.approx(100.0)
    assert normalized_score(env_id, np.array([low, high])) == pytest.approx([0.0, 100.0])


def test_episode_metrics():
    metrics = episode_metrics("maze2d-umaze-v1", [0.0] * 10 + [1.0] * 5, first_reach_step=11)
    assert metrics.episode_return == 5.0 and metrics.success and metrics.length == 15
    assert not episode_metrics("maze2d-umaze-v1", [0.0] * 3, -1).success


def test_scoring_unknown_env():
    with pytest.raises(ValueError, match="valid ids"):
        normalized_score("hopper-medium-v2", 1.0)


@pytest.mark.parametrize("maze", ["umaze", "medium", "large"])
def test_cell_frames_match_pointmaze(maze):
    from gymnasium_robotics.envs.maze.maze_v4 import Maze

    spec = MAZES[maze]
    reference = Maze([list(r) for r in spec.layout], 1.0, 0.4)
    for cell in spec.free_cells:
        assert np.allclose(spec.cell_to_xy(cell), reference.cell_rowcol_to_xy(np.array(cell)))
        xy = spec.cell_to_xy(cell) + np.array([0.3, -0.3])
        assert tuple(spec.xy_to_cell(xy)) == tuple(reference.cell_xy_to_rowcol(xy))
    # D4RL (row, col) with integer cell centres maps onto PointMaze cell centres.
    assert np.allclose(spec.d4rl_to_xy(np.array(spec.goal_cell, dtype=float)), spec.goal_xy)
    assert spec.d4rl_to_xy_vector(np.array([1.0, 2.0])).tolist() == [2.0, -1.0]


def test_render_png(tmp_path):
    spec = MAZES["large"]
    path = render_png(
        "maze2d-large-v1", tmp_path / "maze.png", agent_xy=spec.cell_to_xy((1, 1)), goal_xy=spec.goal_xy,
        trajectory=spec.cell_to_xy([(1, 1), (1, 2), (1, 3)]), plan=spec.cell_to_xy([(1, 3), (1, 4)]), title="t",
    )  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_frames_draws_walls_agent_goal():
    spec = MAZES["umaze"]
    positions = spec.cell_to_xy([(3, 1), (3, 2)])
    frames = render_frames(spec, positions, goals=spec.goal_xy, size=40)
    assert frames.shape == (2, 40, 40, 3) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])
    single = render_frames("umaze", positions[0], size=40)
    assert single.shape == (40, 40, 3)
    # Pixel at a cell centre: agent colour at its cell, wall colour at a wall cell (row 2, col 1).
    assert tuple(single[28, 12]) == (30, 90, 220)
    assert tuple(single[20, 12]) == (60, 60, 70)
