"""The AntMaze env: Gymnasium-Robotics ``AntMaze_*-v5`` physics with D4RL ``antmaze-*-v2`` evaluation.

Differences from ``AntMaze_*-v5`` (all D4RL's evaluation, ``docs/antmaze.md``):

- start: the torso at the centre of the maze's reset cell, every joint position + U(±0.1) and
  every joint velocity N(0, 0.1²) (``AntMaze``: a uniformly drawn cell, ±1 noise, no joint noise);
- goal: the centre of the maze's goal cell + D4RL's offset (U(0, 1) + U(0, 0.5) along +col and
  +row of the maze string), drawn again at every reset;
- reward 1.0 at the step that ends within 0.5 of the goal (``AntMaze``: 0.45), and the episode
  *terminates* there (D4RL's ``eval=True``); else 0.0, truncated at 700 (U-Maze) or 1000 steps
  by the ``TimeLimit`` that :func:`envs.make` adds. The return is 1 for a success, 0 otherwise.
- observation ``observation`` (27,): the ant's joint positions but the torso's (x, y) and its
  joint velocities — D4RL's 29 without (x, y), which is ``achieved_goal``; no contact forces.

What stays Gymnasium's: the ant model (``ant.xml``: time step 0.01 s × 5 frames = 0.05 s per env
step, gear 150; D4RL's: 0.02 s × 5 = 0.1 s with torques up to 30) and the maze's walls.
Importing this module loads MuJoCo; ``import envs`` does not.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    from gymnasium_robotics.core import GoalEnv
    from gymnasium_robotics.envs.maze.ant_maze_v5 import AntMazeEnv

from envs.antmazes import (
    ANT_GOAL_RADIUS,
    START_QPOS_NOISE,
    START_QVEL_STD,
    AntMazeEnvSpec,
    d4rl_goal_offset,
    get_antmaze_spec,
)
from envs.scoring import FirstReach

ObsDict = dict[str, np.ndarray]


class AntMazeD4RLEnv(AntMazeEnv):
    """Gymnasium-Robotics AntMaze with D4RL antmaze-v2 start, goal, reward and termination.

    Observation (dict, float64): ``observation`` (27,) = torso z, orientation quaternion, 8 joint
    angles, torso linear and angular velocity, 8 joint velocities; ``achieved_goal`` (2,) = torso
    (x, y); ``desired_goal`` (2,) = goal (x, y). Action (8,) in [-1, 1] (hip and ankle torques).
    ``info``: ``success`` (within 0.5 of the goal now) and ``first_reach_step`` (env steps taken
    when first within 0.5; 0 if it started there, -1 while it has not arrived).

    ``reset(options=...)`` accepts ``goal_xy`` and ``start_xy`` (shape (2,), inside free cells) to
    pin the goal or the torso's start exactly (the joint noise is still drawn), as data
    collection needs.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012 (gymnasium API)

    def __init__(
        self, env_id: str = "antmaze-umaze-v2", render_mode: str | None = None, render_size: int = 64
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.suite_spec: AntMazeEnvSpec = get_antmaze_spec(env_id)
        self.maze_spec = self.suite_spec.maze
        super().__init__(
            maze_map=[list(row) for row in self.maze_spec.layout],
            render_mode=None,
            reward_type="sparse",
            continuing_task=True,
            reset_target=False,
            include_cfrc_ext_in_observation=False,
        )
        self.render_mode = render_mode
        self.render_size = render_size
        self.goal = self.maze_spec.goal_xy.copy()
        self._reach = FirstReach(ANT_GOAL_RADIUS)


    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsDict, dict[str, Any]]:
        GoalEnv.reset(self, seed=seed)
        options = options or {}
        if options.get("goal_xy") is not None:
            self.goal = self.maze_spec.free_xy(options["goal_xy"], "goal_xy")
        else:
            self.goal = self.maze_spec.goal_xy + d4rl_goal_offset(self.np_random)
        if options.get("start_xy") is not None:
            start = self.maze_spec.free_xy(options["start_xy"], "start_xy")
        else:
            start = self.maze_spec.cell_to_xy(self.maze_spec.start_cell)
        self.reset_pos = start
        self.update_target_site_pos()

        ant = self.ant_env
        ant.reset(seed=seed)
        qpos = ant.init_qpos.copy()
        qpos[:2] = start
        qpos = qpos + self.np_random.uniform(-START_QPOS_NOISE, START_QPOS_NOISE, size=ant.model.nq)
        qvel = ant.init_qvel + self.np_random.normal(0.0, START_QVEL_STD, size=ant.model.nv)
        ant.set_state(qpos, qvel)

        obs = self._get_obs(ant._get_obs())
        return obs, self._reach.start(obs["achieved_goal"], self.goal)

    def step(self, action: np.ndarray) -> tuple[ObsDict, float, bool, bool, dict[str, Any]]:
        ant_obs, _, _, _, _ = self.ant_env.step(np.asarray(action, dtype=np.float64))
        obs = self._get_obs(ant_obs)
        info = self._reach.step(obs["achieved_goal"], self.goal)
        return obs, float(info["success"]), info["success"], False, info

    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """Sparse D4RL reward: 1.0 within 0.5 of the goal, else 0.0; batched over leading dims."""
        distance = np.linalg.norm(np.asarray(achieved_goal) - desired_goal, axis=-1)
        return (distance <= ANT_GOAL_RADIUS).astype(np.float64)

    def compute_terminated(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """D4RL's evaluation ends the episode at the goal; batched over leading dims."""
        return self.compute_reward(achieved_goal, desired_goal, info) > 0

    def render(self) -> np.ndarray | None:
        """Top-down RGB frame (render_size, render_size, 3) uint8 in ``rgb_array`` mode."""
        if self.render_mode != "rgb_array":
            return None
        from envs.render import render_frames

        return render_frames(self.maze_spec, self.ant_env.data.qpos[:2].copy(), self.goal, self.render_size)
