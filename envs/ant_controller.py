"""The AntMaze waypoint controller: the Maze2D suite's Q-iteration waypoints, walked by the ant walker.

The grid planner is :class:`envs.controller.WaypointController`'s (Q-iteration towards the goal
cell, cell centres jittered by −U(0, 0.2) as D4RL did, the goal itself last); instead of a PD
law, :class:`envs.ant_walker.AntWalker` walks the ant to the current waypoint, moving on once
the torso is within ``waypoint_tolerance`` (0.45, Minari's AntMaze collector) of it. The walker
is shown the waypoint at most ``reach`` away, a point on the way to it: shown a waypoint a whole
cell (4 units) ahead it sprints and overshoots turns into the walls, where it flips
(``docs/antmaze.md``). Two uses: the data collector (with N(0, 0.2²) action noise, D4RL's
AntMaze data) and the oracle agent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from envs.ant_walker import AntWalker
from envs.controller import ORACLE_CONFIG, WaypointController
from envs.mazes import MazeSpec

WAYPOINT_TOLERANCE = 0.45
"""Distance at which the ant has reached a waypoint (Minari's AntMaze collector)."""
WALKER_REACH = 1.5
"""The farthest the walker is shown its waypoint (chosen on seeds 1000–1019: 1.0 / 1.5 / 2.0 / 3.0 / none tried)."""


class AntWaypointController:
    """Q-iteration waypoints + the walker, for one ant. Call :meth:`reset` at every episode start."""

    def __init__(self, maze: MazeSpec, walker: AntWalker, waypoint_tolerance: float = WAYPOINT_TOLERANCE,
                 seed: int | None = None, reach: float | None = WALKER_REACH) -> None:
        if reach is not None and not reach > 0:
            raise ValueError(f"reach must be positive or None, got {reach}")
        self.walker = walker
        self.reach = reach
        self.grid = WaypointController(maze, replace(ORACLE_CONFIG, waypoint_tolerance=waypoint_tolerance), seed=seed)

    def reset(self, seed: int | None = None) -> None:
        """Forget the plan (and reseed the waypoint jitter when ``seed`` is given)."""
        self.grid.reset(seed)

    @property
    def waypoint(self) -> np.ndarray:
        """The waypoint the ant is walking to now, (x, y)."""
        return np.asarray(self.grid.waypoints[self.grid.waypoint_index])

    def target(self, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Advance along the plan from ``position`` (2,) towards ``goal`` (2,); the waypoint to walk to."""
        grid = self.grid
        if grid.goal is None or grid.goal != (float(goal[0]), float(goal[1])):
            grid.plan(np.asarray(position, dtype=np.float64), np.asarray(goal, dtype=np.float64))
        last = len(grid.waypoints) - 1
        while (grid.waypoint_index < last
               and np.hypot(*(self.waypoint - position)) < grid.config.waypoint_tolerance):
            grid.waypoint_index += 1
        return self.waypoint

    def act(self, body: np.ndarray, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Torques (8,) for an ant with body state ``body`` (27,) at ``position`` (2,) heading to ``goal``."""
        return self.walker.act(body, self.target(position, goal) - position, reach=self.reach)
