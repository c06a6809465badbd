"""AntMaze metadata: D4RL's ``antmaze-*-v2`` evaluation on Gymnasium-Robotics ``AntMaze``.

Plain data, no MuJoCo import. The three mazes are D4RL's evaluation maps ``U_MAZE_TEST``,
``BIG_MAZE_TEST`` and ``HARDEST_MAZE_TEST`` (``d4rl/locomotion/maze_env.py``): the Maze2D
layouts, with the ant's reset cell ``R`` and the goal cell ``G`` in ``(row, col)`` of the maze
strings. Cells are 4 × 4 (D4RL's ``maze_size_scaling``); positions are in the Gymnasium-Robotics
frame of :mod:`envs.mazes` scaled by 4 (origin at the maze's centre, ``y`` up the page).

D4RL places cell ``(row, col)`` at ``(4·col, 4·row)`` relative to the reset cell, so its world is
this one mirrored top to bottom (the ant's body is symmetric under that mirror, and every route
keeps its length); its random goal offset, ``U(0, 1) + U(0, 0.5)`` along ``+col`` and ``+row``, is
applied here along ``+x`` and ``−y``. ``docs/antmaze.md`` lists every difference from D4RL.

The six env ids share three mazes; ``umaze``, ``diverse`` and ``play`` name the dataset, not the
evaluation, which is the same for both envs of a maze (as in D4RL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.mazes import (
    GYM_NAMESPACE,
    LARGE_MAZE_LAYOUT,
    MEDIUM_MAZE_LAYOUT,
    U_MAZE_LAYOUT,
    MazeSpec,
    lookup_spec,
)

ANT_BODY_DIM = 27
"""Length of AntMaze's ``observation``: the ant's state without the torso's (x, y) (D4RL's 29 less 2)."""
ANT_STATE_DIM = ANT_BODY_DIM + 2
"""D4RL's ant state: the torso's (x, y), then AntMaze's ``observation``."""
ANT_MAZE_SCALE = 4.0
"""Side of one maze cell in world units (D4RL's and Gymnasium-Robotics' ``maze_size_scaling``)."""
ANT_GOAL_RADIUS = 0.5
"""Success: the torso's (x, y) within this distance of the goal (D4RL; Gymnasium-Robotics: 0.45)."""
START_QPOS_NOISE = 0.1
"""Half-width of the uniform noise on every joint position at reset, torso (x, y) included (D4RL's ant)."""
START_QVEL_STD = 0.1
"""Standard deviation of the Gaussian joint velocities at reset (D4RL's ant)."""
GOAL_CELL_NOISE = 0.25 * ANT_MAZE_SCALE
"""D4RL's goal: the goal cell's centre plus ``U(0, GOAL_CELL_NOISE)`` ..."""
GOAL_EXTRA_NOISE = 0.5 * 0.25 * ANT_MAZE_SCALE
"""... plus ``U(0, GOAL_EXTRA_NOISE)``, along +col and +row of D4RL's maze (``goal_sampler``)."""



def torso_up(body: np.ndarray) -> np.ndarray:
    """The world ``z`` of the torso's up axis from a body state (``(..., ANT_BODY_DIM)``, its quaternion
    ``w, x, y, z`` at 1:5): 1 upright, 0 on its side, −1 on its back.

    Gymnasium's ant never ends an episode for lying on its back (the torso's height, 0.27, stays in
    its healthy range), so this is how a flip is told.
    """
    quat = np.asarray(body)[..., 1:5]
    return 1.0 - 2.0 * (quat[..., 1] ** 2 + quat[..., 2] ** 2) / np.sum(quat**2, axis=-1)


ANTMAZES: dict[str, MazeSpec] = {
    # reference returns 0 / 1: D4RL's antmaze ref_min_score / ref_max_score (score = 100 · success)
    "umaze": MazeSpec("umaze", U_MAZE_LAYOUT, (3, 1), 700, 0.0, 1.0, 1_000_000,
                      scale=ANT_MAZE_SCALE, start_cell=(1, 1)),
    "medium": MazeSpec("medium", MEDIUM_MAZE_LAYOUT, (6, 6), 1000, 0.0, 1.0, 1_000_000,
                       scale=ANT_MAZE_SCALE, start_cell=(1, 1)),
    "large": MazeSpec("large", LARGE_MAZE_LAYOUT, (7, 9), 1000, 0.0, 1.0, 1_000_000,
                      scale=ANT_MAZE_SCALE, start_cell=(1, 1)),
}

PLAY_GOAL_CELLS: dict[str, tuple[tuple[int, int], ...]] = {
    # the G cells of D4RL's data-generation maps BIG_MAZE and HARDEST_MAZE (d4rl/locomotion/maze_env.py)
    "medium": ((2, 6), (5, 1), (6, 5)),
    "large": ((1, 6), (3, 5), (3, 10), (5, 2), (7, 4), (7, 6), (7, 9)),
}
"""The hand-picked goals of the ``play`` datasets."""
DATASET_EPISODE_STEPS = 1000
"""Length of a data episode (D4RL's generator: one goal per 1000-step episode, every maze)."""
START_CELL_NOISE = 0.5 * 0.5 * ANT_MAZE_SCALE
"""A random data start: a free cell's centre + U(0, START_CELL_NOISE) along +col and +row (D4RL's
``_get_reset_location``)."""

DATASET_KINDS = ("umaze", "diverse", "play")
"""``umaze``: the fixed evaluation start and goal; ``diverse``: random starts and goals;
``play``: random starts, a few hand-picked goals (D4RL's three kinds of AntMaze data)."""


@dataclass(frozen=True)
class AntMazeEnvSpec:
    """One AntMaze env: its maze and the kind of data its dataset holds."""

    env_id: str
    """D4RL's id, e.g. ``antmaze-large-diverse-v2`` (registered as ``dfplan/<env_id>``)."""
    maze: MazeSpec
    dataset_kind: str
    """``umaze``, ``diverse`` or ``play`` (:data:`DATASET_KINDS`)."""

    @property
    def gym_id(self) -> str:
        return f"{GYM_NAMESPACE}/{self.env_id}"

    @property
    def dataset_id(self) -> str:
        """Minari id of this env's generated dataset (one per env, as in D4RL)."""
        return f"{GYM_NAMESPACE}/{self.env_id}"

    def goal_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Corners ``(low, high)`` (x, y) of the box D4RL draws this env's evaluation goal from."""
        centre = self.maze.goal_xy
        reach = GOAL_CELL_NOISE + GOAL_EXTRA_NOISE
        return centre + np.array([0.0, -reach]), centre + np.array([reach, 0.0])


ANTMAZE_ENV_SPECS: dict[str, AntMazeEnvSpec] = {
    env_id: AntMazeEnvSpec(env_id, ANTMAZES[maze], kind)
    for env_id, maze, kind in (
        ("antmaze-umaze-v2", "umaze", "umaze"),
        ("antmaze-umaze-diverse-v2", "umaze", "diverse"),
        ("antmaze-medium-play-v2", "medium", "play"),
        ("antmaze-medium-diverse-v2", "medium", "diverse"),
        ("antmaze-large-play-v2", "large", "play"),
        ("antmaze-large-diverse-v2", "large", "diverse"),
    )
}
ANTMAZE_IDS: tuple[str, ...] = tuple(ANTMAZE_ENV_SPECS)


def get_antmaze_spec(env_id: str) -> AntMazeEnvSpec:
    """Look up an AntMaze env by id (``antmaze-umaze-v2`` or ``dfplan/antmaze-umaze-v2``).

    Raises:
        ValueError: for an unknown id, listing the valid ones.
    """
    return lookup_spec(ANTMAZE_ENV_SPECS, env_id, "AntMaze env")


def d4rl_offset(rng: np.random.Generator, reach: float) -> np.ndarray:
    """``U(0, reach)`` along D4RL's +col (+x here) and +row (−y here), shape (2,)."""
    along_col, along_row = rng.uniform(0.0, reach, 2)
    return np.array([along_col, -along_row])


def d4rl_goal_offset(rng: np.random.Generator) -> np.ndarray:
    """D4RL's random offset of the evaluation goal from its cell's centre, in this frame, shape (2,).

    D4RL adds ``U(0, 1) + U(0, 0.5)`` along its +x (= +col) and +y (= +row); +row is −y here.
    """
    along_col, along_row = rng.uniform(0.0, GOAL_CELL_NOISE, 2) + rng.uniform(0.0, GOAL_EXTRA_NOISE, 2)
    return np.array([along_col, -along_row])
