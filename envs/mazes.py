"""Maze metadata for the Maze2D / Multi2D suite: layouts, frames, goals, reference scores.

Everything a caller needs to know about a maze lives here, as plain data with no MuJoCo
import, so planners, renderers and scorers can use it cheaply.

Frames. Cells are indexed ``(row, col)`` exactly as in D4RL's maze strings and
Gymnasium-Robotics' ``maps.py`` (row 0 at the top). PointMaze positions are centred on the
maze: ``x = (col + 0.5) - n_cols / 2`` (the column axis, increasing right) and
``y = n_rows / 2 - (row + 0.5)`` (minus the row axis). One cell is 1 × 1 (maze scaling 1);
the AntMaze mazes (:mod:`envs.antmazes`) use the same frame scaled by their ``scale`` (4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

# Layouts (1 = wall, 0 = free): D4RL's maze2d strings, identical to Gymnasium-Robotics'
# U_MAZE / MEDIUM_MAZE / LARGE_MAZE (a test checks this).
U_MAZE_LAYOUT: tuple[tuple[int, ...], ...] = (
    (1, 1, 1, 1, 1),
    (1, 0, 0, 0, 1),
    (1, 1, 1, 0, 1),
    (1, 0, 0, 0, 1),
    (1, 1, 1, 1, 1),
)
MEDIUM_MAZE_LAYOUT: tuple[tuple[int, ...], ...] = (
    (1, 1, 1, 1, 1, 1, 1, 1),
    (1, 0, 0, 1, 1, 0, 0, 1),
    (1, 0, 0, 1, 0, 0, 0, 1),
    (1, 1, 0, 0, 0, 1, 1, 1),
    (1, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 1, 0, 0, 1, 0, 1),
    (1, 0, 0, 0, 1, 0, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 1),
)
LARGE_MAZE_LAYOUT: tuple[tuple[int, ...], ...] = (
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1),
    (1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1),
    (1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1),
    (1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1),
    (1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1),
    (1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
)

GOAL_RADIUS = 0.5
"""Distance (maze units) within which the agent is at the goal: D4RL's radius, not PointMaze's 0.45."""
START_POSITION_NOISE = 0.1
"""Half-width of the uniform position noise added to start cells and Multi2D goals (D4RL)."""
START_VELOCITY_STD = 0.1
"""Standard deviation of the Gaussian start velocity (D4RL)."""


@dataclass(frozen=True)
class MazeSpec:
    """One maze: layout, fixed D4RL goal, episode length and D4RL sparse-v1 reference returns."""

    name: str
    """Short name: ``umaze``, ``medium`` or ``large``."""
    layout: tuple[tuple[int, ...], ...]
    """Grid, ``layout[row][col]`` is 1 for a wall, 0 for a free cell."""
    goal_cell: tuple[int, int]
    """D4RL's fixed goal cell ``(row, col)`` for the maze2d env (the goal is its exact centre)."""
    episode_steps: int
    """Episode length in env steps (truncation only; episodes never terminate)."""
    ref_min_score: float
    """D4RL sparse-v1 reference return of a random policy (normalized score 0)."""
    ref_max_score: float
    """D4RL sparse-v1 reference return of the expert (normalized score 100)."""
    dataset_steps: int
    """Default size of the generated dataset (D4RL's: 1M / 2M / 4M)."""
    scale: float = 1.0
    """Side of one cell in world units (PointMaze 1; AntMaze 4, D4RL's ``maze_size_scaling``)."""
    start_cell: tuple[int, int] | None = None
    """The fixed start cell ``(row, col)`` of the evaluation (AntMaze's ``R``); None: a random free cell."""

    @property
    def n_rows(self) -> int:
        return len(self.layout)

    @property
    def n_cols(self) -> int:
        return len(self.layout[0])

    @cached_property
    def walls(self) -> np.ndarray:
        """Boolean wall grid, shape ``(n_rows, n_cols)``."""
        return np.asarray(self.layout, dtype=bool)

    @cached_property
    def free_cells(self) -> tuple[tuple[int, int], ...]:
        """All free cells ``(row, col)`` in row-major order (D4RL's start and goal candidates)."""
        return tuple(
            (r, c) for r in range(self.n_rows) for c in range(self.n_cols) if not self.layout[r][c]
        )

    @property
    def goal_xy(self) -> np.ndarray:
        """Fixed goal position (x, y), shape ``(2,)``: the exact centre of ``goal_cell``."""
        return self.cell_to_xy(self.goal_cell)

    def cell_to_xy(self, cell: tuple[int, int] | np.ndarray) -> np.ndarray:
        """Centre(s) of cell(s) ``(row, col)``; ``(..., 2)`` in, ``(..., 2)`` float64 (x, y) out."""
        rc = np.asarray(cell, dtype=np.float64)
        x = (rc[..., 1] + 0.5 - self.n_cols / 2) * self.scale
        y = (self.n_rows / 2 - (rc[..., 0] + 0.5)) * self.scale
        return np.stack([x, y], axis=-1)

    def xy_to_cell(self, xy: np.ndarray) -> np.ndarray:
        """Cell(s) ``(row, col)`` containing position(s) (x, y); ``(..., 2)`` in, int64 out."""
        xy = np.asarray(xy, dtype=np.float64) / self.scale
        row = np.floor(self.n_rows / 2 - xy[..., 1])
        col = np.floor(xy[..., 0] + self.n_cols / 2)
        return np.stack([row, col], axis=-1).astype(np.int64)

    def d4rl_to_xy(self, d4rl_pos: np.ndarray) -> np.ndarray:
        """Convert D4RL positions (row, col), cell centres at integers, to PointMaze (x, y).

        ``(..., 2)`` in and out. Velocities and actions rotate the same way without the offset:
        use :meth:`d4rl_to_xy_vector`.
        """
        d4rl_pos = np.asarray(d4rl_pos, dtype=np.float64)
        return self.cell_to_xy(d4rl_pos)

    @staticmethod
    def d4rl_to_xy_vector(d4rl_vec: np.ndarray) -> np.ndarray:
        """Rotate D4RL (row, col) vectors (velocities, forces) to PointMaze (x, y) = (col, -row)."""
        d4rl_vec = np.asarray(d4rl_vec, dtype=np.float64)
        return np.stack([d4rl_vec[..., 1], -d4rl_vec[..., 0]], axis=-1)

    def wall_distance(self, xy: np.ndarray) -> np.ndarray:
        """Distance from position(s) (x, y) to the nearest wall block (the outer walls included);
        ``(..., 2)`` in, ``(...)`` float64 out, 0 inside a wall."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.shape[-1:] != (2,):
            raise ValueError(f"positions must be (..., 2) (x, y), got shape {xy.shape}")
        centres = self.cell_to_xy(np.argwhere(self.walls))  # (W, 2)
        gap = np.maximum(np.abs(xy[..., None, :] - centres) - self.scale / 2, 0.0)  # per axis, outside the block
        return np.linalg.norm(gap, axis=-1).min(-1)

    def free_xy(self, value: object, name: str) -> np.ndarray:
        """A pinned position (e.g. a ``reset`` option ``name``): finite (x, y) inside a free cell, as
        shape (2,) float64; else ``ValueError``."""
        xy = np.asarray(value, dtype=np.float64)
        if xy.size != 2 or not np.isfinite(xy).all():
            raise ValueError(f"options[{name!r}] must be two finite numbers (x, y), got {value!r}")
        xy = xy.reshape(2).copy()
        if not self.is_free(tuple(self.xy_to_cell(xy))):
            raise ValueError(f"options[{name!r}] = {xy.tolist()} is not in a free cell of the {self.name} maze")
        return xy

    def is_free(self, cell: tuple[int, int]) -> bool:
        """True if ``cell`` lies inside the grid and is not a wall."""
        r, c = int(cell[0]), int(cell[1])
        return 0 <= r < self.n_rows and 0 <= c < self.n_cols and not self.layout[r][c]


MAZES: dict[str, MazeSpec] = {
    "umaze": MazeSpec("umaze", U_MAZE_LAYOUT, (1, 1), 300, 23.85, 161.86, 1_000_000),
    "medium": MazeSpec("medium", MEDIUM_MAZE_LAYOUT, (6, 6), 600, 13.13, 277.39, 2_000_000),
    "large": MazeSpec("large", LARGE_MAZE_LAYOUT, (7, 9), 800, 6.7, 273.99, 4_000_000),
}


@dataclass(frozen=True)
class SuiteEnvSpec:
    """One env of the suite: which maze and whether the goal is fixed or redrawn."""

    env_id: str
    """Suite id, e.g. ``maze2d-large-v1`` (registered with Gymnasium as ``dfplan/<env_id>``)."""
    maze: MazeSpec
    multi_goal: bool
    """False: D4RL's fixed goal (maze2d). True: random free cell + U(±0.1) each episode (multi2d)."""

    @property
    def gym_id(self) -> str:
        return f"{GYM_NAMESPACE}/{self.env_id}"

    @property
    def dataset_id(self) -> str:
        """Minari dataset id of this maze's generated dataset (shared by maze2d and multi2d)."""
        return f"{GYM_NAMESPACE}/maze2d-{self.maze.name}-v1"


GYM_NAMESPACE = "dfplan"
ENV_SPECS: dict[str, SuiteEnvSpec] = {
    f"{prefix}-{name}-v1": SuiteEnvSpec(f"{prefix}-{name}-v1", maze, prefix == "multi2d")
    for prefix in ("maze2d", "multi2d")
    for name, maze in MAZES.items()
}
ENV_IDS: tuple[str, ...] = tuple(ENV_SPECS)


def get_env_spec(env_id: str) -> SuiteEnvSpec:
    """Look up a suite env by id (``maze2d-umaze-v1`` or ``dfplan/maze2d-umaze-v1``).

    Raises:
        ValueError: for an unknown id, listing the valid ones.
    """
    return lookup_spec(ENV_SPECS, env_id, "env")


def lookup_spec(specs: dict[str, Any], env_id: str, kind: str) -> Any:
    """``specs[env_id]`` with or without the ``dfplan/`` namespace; ``ValueError`` naming the valid ids."""
    key = env_id.removeprefix(f"{GYM_NAMESPACE}/")
    if key not in specs:
        raise ValueError(f"Unknown {kind} id {env_id!r}; valid ids: {', '.join(specs)}")
    return specs[key]
