"""The Maze2D / Multi2D env: Gymnasium-Robotics PointMaze physics with D4RL maze2d-v1 semantics.

Differences from ``PointMaze_*-v3`` (all D4RL's behaviour, DESIGN.md section 5):

- reward 1.0 for every step that ends within 0.5 of the goal (PointMaze: 0.45), else 0.0;
- the episode never terminates; it is truncated at the maze's episode length (300 / 600 / 800
  steps) by the ``TimeLimit`` that :func:`envs.make` adds;
- start: a uniformly drawn free cell, the goal cell included, + U(±0.1) position noise, and
  velocity N(0, 0.1²) (PointMaze: never the goal cell, ±0.25 noise, zero velocity);
- goal: the exact centre of D4RL's goal cell (maze2d) or a random free cell + U(±0.1),
  redrawn at every reset (multi2d); it never moves within an episode.

Importing this module loads MuJoCo; ``import envs`` does not.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import mujoco
import numpy as np

with contextlib.redirect_stderr(io.StringIO()):  # gymnasium-robotics prints a notice about its Adroit envs at import
    from gymnasium_robotics.core import GoalEnv
    from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

from envs.mazes import (
    GOAL_RADIUS,
    START_POSITION_NOISE,
    START_VELOCITY_STD,
    SuiteEnvSpec,
    get_env_spec,
)
from envs.scoring import FirstReach

ObsDict = dict[str, np.ndarray]


class Maze2DEnv(PointMazeEnv):
    """PointMaze with D4RL maze2d-v1 goal, start, reward and episode rules.

    Observation (dict, float64, raw units): ``observation`` (4,) = x, y, vx, vy;
    ``achieved_goal`` (2,) = x, y; ``desired_goal`` (2,) = goal x, y. Action (2,) in [-1, 1]
    (force along x and y). ``info``: ``success`` (bool, within 0.5 of the goal now) and
    ``first_reach_step`` (int, env steps taken when the agent was first within 0.5 of the
    goal this episode; 0 if it started there, -1 while it has not arrived yet).

    ``reset(options=...)`` accepts ``goal_xy`` and ``start_xy`` (shape (2,)) to pin the goal or
    the start position exactly (no noise; the start velocity is still drawn).

    ``render_mode="rgb_array"`` renders headlessly with :func:`envs.render.render_frames`
    (top-down, ``render_size`` pixels square; no OpenGL needed).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}  # noqa: RUF012 (gymnasium API)

    def __init__(
        self, env_id: str = "maze2d-umaze-v1", render_mode: str | None = None, render_size: int = 64
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.suite_spec: SuiteEnvSpec = get_env_spec(env_id)
        self.maze_spec = self.suite_spec.maze
        super().__init__(
            maze_map=[list(row) for row in self.maze_spec.layout],
            render_mode=None,
            reward_type="sparse",
            continuing_task=True,
            reset_target=False,
        )
        self.render_mode = render_mode
        self.render_size = render_size
        self._free_cell_xy = self.maze_spec.cell_to_xy(np.asarray(self.maze_spec.free_cells))
        self.goal = self.maze_spec.goal_xy.copy()
        self._reach = FirstReach(GOAL_RADIUS)

    # ----------------------------------------------------------------- sampling helpers
    def _random_free_cell_xy(self) -> np.ndarray:
        """A uniformly drawn free-cell centre + U(±0.1) noise, shape (2,)."""
        centre = self._free_cell_xy[self.np_random.integers(len(self._free_cell_xy))]
        noise = self.np_random.uniform(-START_POSITION_NOISE, START_POSITION_NOISE, size=2)
        return centre + noise


    # ----------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsDict, dict[str, Any]]:
        GoalEnv.reset(self, seed=seed)
        options = options or {}
        if options.get("goal_xy") is not None:
            self.goal = self.maze_spec.free_xy(options["goal_xy"], "goal_xy")
        elif self.suite_spec.multi_goal:
            self.goal = self._random_free_cell_xy()
        else:
            self.goal = self.maze_spec.goal_xy.copy()
        if options.get("start_xy") is not None:
            start = self.maze_spec.free_xy(options["start_xy"], "start_xy")
        else:
            start = self._random_free_cell_xy()
        velocity = self.np_random.normal(0.0, START_VELOCITY_STD, size=2)
        self.reset_pos = start

        mujoco.mj_resetData(self.point_env.model, self.point_env.data)
        self.point_env.set_state(start, velocity)
        self.update_target_site_pos()

        obs = self._get_obs(self._point_obs())
        return obs, self._reach.start(obs["achieved_goal"], self.goal)

    def step(self, action: np.ndarray) -> tuple[ObsDict, float, bool, bool, dict[str, Any]]:
        point_obs, _, _, _, _ = self.point_env.step(np.asarray(action, dtype=np.float64))
        obs = self._get_obs(point_obs)
        info = self._reach.step(obs["achieved_goal"], self.goal)
        reward = float(self.compute_reward(obs["achieved_goal"], self.goal, info))
        return obs, reward, False, False, info

    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """Sparse D4RL reward: 1.0 within 0.5 of the goal, else 0.0; batched over leading dims."""
        distance = np.linalg.norm(np.asarray(achieved_goal) - desired_goal, axis=-1)
        return (distance <= GOAL_RADIUS).astype(np.float64)

    def compute_terminated(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> bool:
        """Maze2D episodes never terminate (D4RL)."""
        return False

    def render(self) -> np.ndarray | None:
        """Top-down RGB frame (render_size, render_size, 3) uint8 in ``rgb_array`` mode."""
        if self.render_mode != "rgb_array":
            return None
        from envs.render import render_frames

        return render_frames(
            self.maze_spec, self.point_env.data.qpos[:2].copy(), self.goal, self.render_size
        )

    # ----------------------------------------------------------------------- internals
    def _point_obs(self) -> np.ndarray:
        data = self.point_env.data
        return np.concatenate([data.qpos, data.qvel]).ravel()
