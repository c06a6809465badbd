"""D4RL's waypoint controller: Q-iteration on the maze grid feeding a PD controller.

The grid planner runs Q-iteration (discount 0.99, four moves, walls block) towards the goal
cell and rolls the greedy policy out from the agent's cell; the centres of the cells on that
path, jittered as D4RL did, become waypoints, and the last waypoint is the goal itself. A PD
law tracks the current waypoint, ``a = p_gain · (w − p) − d_gain · v`` clipped to [-1, 1],
moving on to the next waypoint once within ``waypoint_tolerance``.

Two uses (DESIGN.md sections 5 and 6): the **data collector** (N(0, 0.5²) action noise, as
D4RL generated maze2d) and the **oracle** agent (no noise, fresh state every episode — D4RL's
reference expert kept stale waypoints across episodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from envs.mazes import MazeSpec

# Grid moves (d_row, d_col) in a fixed order; ties in the greedy policy go to the first.
MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))


@dataclass(frozen=True)
class ControllerConfig:
    """Waypoint-controller settings; defaults are D4RL's."""

    p_gain: float = 10.0
    """Proportional gain on the waypoint error (maze units → action)."""
    d_gain: float = 1.0
    """Derivative gain on the velocity (maze units / s → action)."""
    waypoint_tolerance: float = 0.1
    """Distance (maze units) at which a waypoint counts as reached (D4RL's solve_thresh)."""
    waypoint_jitter: float = 0.2
    """D4RL jitters intermediate waypoints by −U(0, jitter) along row and column; 0 disables."""
    action_noise_std: float = 0.0
    """Std of Gaussian noise added to the action before clipping (0.5 for data collection)."""
    discount: float = 0.99
    """Q-iteration discount."""


COLLECTOR_CONFIG = ControllerConfig(action_noise_std=0.5)
ORACLE_CONFIG = ControllerConfig()


@lru_cache(maxsize=256)
def q_values(maze: MazeSpec, goal_cell: tuple[int, int], discount: float = 0.99) -> np.ndarray:
    """Q-iteration on the grid towards ``goal_cell``.

    Reward 1 for a move that enters the goal cell, which is terminal; a move into a wall
    leaves the agent in place. Iterates until the values stop changing.

    Returns:
        Q, shape ``(n_rows, n_cols, 4)`` over :data:`MOVES` (walls hold zeros). Read-only.
    """
    if not maze.is_free(goal_cell):
        raise ValueError(f"goal cell {goal_cell} is a wall or outside the {maze.name} maze")
    free = ~maze.walls
    rows, cols = np.nonzero(free)
    next_rows, next_cols = [], []
    for d_row, d_col in MOVES:
        r, c = rows + d_row, cols + d_col
        blocked = maze.walls[r, c]  # layouts have a wall border, so indices stay in range
        next_rows.append(np.where(blocked, rows, r))
        next_cols.append(np.where(blocked, cols, c))
    next_r, next_c = np.stack(next_rows, 1), np.stack(next_cols, 1)  # (n_free, 4)
    enters_goal = (next_r == goal_cell[0]) & (next_c == goal_cell[1])
    is_goal = (rows == goal_cell[0]) & (cols == goal_cell[1])

    value = np.zeros(maze.walls.shape)
    for _ in range(len(rows) + 1):
        q = enters_goal.astype(np.float64) + discount * value[next_r, next_c]
        q[is_goal] = 0.0
        new_value = np.zeros_like(value)
        new_value[rows, cols] = q.max(axis=1)
        if np.array_equal(new_value, value):
            break
        value = new_value
    table = np.zeros((*maze.walls.shape, len(MOVES)))
    table[rows, cols] = q
    table.flags.writeable = False
    return table


def grid_path(
    maze: MazeSpec, start_cell: tuple[int, int], goal_cell: tuple[int, int], discount: float = 0.99
) -> list[tuple[int, int]]:
    """Greedy rollout of the Q-iteration policy: cells after ``start_cell`` up to ``goal_cell``.

    Empty when the start is the goal cell. Each cell is a 4-neighbour of the previous one.
    """
    table = q_values(maze, (int(goal_cell[0]), int(goal_cell[1])), discount)
    cell = (int(start_cell[0]), int(start_cell[1]))
    path: list[tuple[int, int]] = []
    for _ in range(len(maze.free_cells)):
        if cell == tuple(goal_cell):
            return path
        d_row, d_col = MOVES[int(np.argmax(table[cell]))]
        cell = (cell[0] + d_row, cell[1] + d_col)
        path.append(cell)
    raise RuntimeError(f"no grid path from {start_cell} to {goal_cell} in the {maze.name} maze")


class WaypointController:
    """Q-iteration waypoints + PD control for one agent (PointMaze frame, raw units).

    Call :meth:`reset` at every episode start. :meth:`act` plans on the first call and
    whenever the goal moves; :meth:`plan` forces a new plan.
    """

    def __init__(
        self, maze: MazeSpec, config: ControllerConfig = ORACLE_CONFIG, seed: int | None = None
    ) -> None:
        self.maze = maze
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Forget the plan (and reseed the jitter / noise generator when ``seed`` is given)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.waypoints: list[tuple[float, float]] = []
        self.waypoint_index = 0
        self.goal: tuple[float, float] | None = None

    def plan(self, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Plan waypoints from ``position`` (2,) to ``goal`` (2,); returns them, shape (n, 2)."""
        start_cell = self.maze.xy_to_cell(position)
        goal_cell = self.maze.xy_to_cell(goal)
        cells = grid_path(self.maze, tuple(start_cell), tuple(goal_cell), self.config.discount)
        waypoints = []
        for cell in cells[:-1]:
            x, y = self.maze.cell_to_xy(cell)
            if self.config.waypoint_jitter > 0:
                # D4RL subtracts U(0, jitter) from row and col; y is minus the row axis.
                d_row, d_col = self.rng.uniform(0.0, self.config.waypoint_jitter, size=2)
                x, y = x - d_col, y + d_row
            waypoints.append((float(x), float(y)))
        self.goal = (float(goal[0]), float(goal[1]))
        waypoints.append(self.goal)
        self.waypoints = waypoints
        self.waypoint_index = 0
        return np.asarray(waypoints)

    def act(self, position: np.ndarray, velocity: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Action (2,) in [-1, 1] for one agent at ``position`` (2,) with ``velocity`` (2,)."""
        ax, ay = self.act_scalar(
            float(position[0]), float(position[1]), float(velocity[0]), float(velocity[1]),
            float(goal[0]), float(goal[1]),
        )  # fmt: skip
        return np.array([ax, ay])

    def act_scalar(
        self, px: float, py: float, vx: float, vy: float, gx: float, gy: float
    ) -> tuple[float, float]:
        """:meth:`act` on Python floats (the fast path the data collector uses)."""
        if self.goal is None or self.goal[0] != gx or self.goal[1] != gy:
            self.plan(np.array([px, py]), np.array([gx, gy]))
        wx, wy = self.waypoints[self.waypoint_index]
        cfg = self.config
        ax = cfg.p_gain * (wx - px) - cfg.d_gain * vx
        ay = cfg.p_gain * (wy - py) - cfg.d_gain * vy
        last = len(self.waypoints) - 1
        if self.waypoint_index < last and math.hypot(wx - px, wy - py) < cfg.waypoint_tolerance:
            self.waypoint_index += 1
        ax, ay = min(1.0, max(-1.0, ax)), min(1.0, max(-1.0, ay))
        if cfg.action_noise_std > 0:  # D4RL: clip, add noise, clip again
            ax = min(1.0, max(-1.0, ax + cfg.action_noise_std * float(self.rng.standard_normal())))
            ay = min(1.0, max(-1.0, ay + cfg.action_noise_std * float(self.rng.standard_normal())))
        return ax, ay

    def at_goal(self, px: float, py: float) -> bool:
        """True once past the last intermediate waypoint and within tolerance of the goal."""
        if self.goal is None or self.waypoint_index < len(self.waypoints) - 1:
            return False
        return math.hypot(self.goal[0] - px, self.goal[1] - py) < self.config.waypoint_tolerance
