"""The ant's goal-reaching task on open floor: what the AntMaze low-level walker is trained on.

The recipe of Minari's AntMaze re-creation (``GoalReachAnt``): the ant body state plus the
vector to a nearby goal as input, reward for progress towards the goal, a bonus on arrival
within ``reach_radius`` (0.2), and a new goal then, so one episode walks to several goals from
whatever heading the ant has. The ant is Gymnasium's (``ant.xml``, the body AntMaze uses), with
its healthy-z termination and control / contact costs.

Observation (29,) float64: the 27 numbers of AntMaze's ``observation`` (torso z and orientation,
joint angles, velocities; no (x, y)) and the goal minus the torso's (x, y). Action (8,) in [-1, 1].
Reward per step: ``progress_scale`` × the speed towards the goal (units/s; at most
``progress_cap`` when set, so speed beyond it earns nothing) + ``healthy_reward``
− control (``ctrl_cost_weight`` · ‖a‖²) and contact costs, + ``reach_bonus`` at each arrival. The
episode ends where Gymnasium's ant ends it (torso height out of its healthy range) and, with
``upright_min`` set, when the torso's up axis tilts below it (:func:`envs.antmazes.torso_up`; 0: on
its side): Gymnasium's ant lying on its back is still "healthy" and earns ``healthy_reward``.
``info``: ``reached`` (arrivals so far), ``is_success`` (an arrival this step) and ``flipped``
(the torso's up axis pointing below the horizon).

Importing this module loads MuJoCo; ``import envs`` does not.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv

from envs.antmazes import ANT_BODY_DIM, torso_up

WALKER_INPUT_DIM = ANT_BODY_DIM + 2
"""The walker's input: the body state and the vector to its goal."""


class AntReachEnv(gymnasium.Env):
    """Walk the ant to goals drawn ``goal_min``–``goal_max`` away in a uniformly random direction."""

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium API)

    def __init__(self, goal_min: float = 1.0, goal_max: float = 5.0, reach_radius: float = 0.2,
                 reach_bonus: float = 10.0, healthy_reward: float = 1.0, progress_scale: float = 1.0,
                 ctrl_cost_weight: float = 0.5, upright_min: float | None = None,
                 progress_cap: float | None = None) -> None:
        if not 0 < goal_min <= goal_max:
            raise ValueError(f"need 0 < goal_min <= goal_max, got {goal_min}, {goal_max}")
        if reach_radius <= 0:
            raise ValueError(f"reach_radius must be positive, got {reach_radius}")
        if upright_min is not None and not -1.0 <= upright_min < 1.0:
            raise ValueError(f"upright_min must be in [-1, 1) or None, got {upright_min}")
        if progress_cap is not None and not progress_cap > 0:
            raise ValueError(f"progress_cap must be positive or None, got {progress_cap}")
        self.upright_min, self.progress_cap = upright_min, progress_cap
        self.goal_min, self.goal_max = float(goal_min), float(goal_max)
        self.reach_radius, self.reach_bonus = float(reach_radius), float(reach_bonus)
        self.healthy_reward, self.progress_scale = float(healthy_reward), float(progress_scale)
        self.ant = AntEnv(exclude_current_positions_from_observation=False, include_cfrc_ext_in_observation=False,
                          reset_noise_scale=0.1, ctrl_cost_weight=ctrl_cost_weight)
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (WALKER_INPUT_DIM,), np.float64)
        self.action_space = self.ant.action_space
        self.goal = np.zeros(2)
        self.reached = 0

    def _new_goal(self, xy: np.ndarray) -> np.ndarray:
        angle = self.np_random.uniform(0.0, 2 * np.pi)
        radius = self.np_random.uniform(self.goal_min, self.goal_max)
        return xy + radius * np.array([np.cos(angle), np.sin(angle)])

    def _observe(self, ant_obs: np.ndarray) -> np.ndarray:
        return np.concatenate([ant_obs[2:], self.goal - ant_obs[:2]])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        ant_obs, _ = self.ant.reset(seed=None if seed is None else int(self.np_random.integers(2**31)))
        self.goal = self._new_goal(ant_obs[:2])
        self.reached = 0
        return self._observe(ant_obs), {"reached": 0, "is_success": False, "flipped": False}

    def step(self, action: np.ndarray):
        before = np.linalg.norm(self.goal - self.ant.data.qpos[:2])
        ant_obs, _, terminated, _, ant_info = self.ant.step(np.asarray(action, dtype=np.float64))
        distance = np.linalg.norm(self.goal - ant_obs[:2])
        speed = (before - distance) / self.ant.dt
        if self.progress_cap is not None:
            speed = min(speed, self.progress_cap)
        reward = (self.progress_scale * speed + self.healthy_reward
                  + ant_info["reward_ctrl"] + ant_info["reward_contact"])
        up = float(torso_up(ant_obs[2:]))
        if self.upright_min is not None and up < self.upright_min:
            terminated = True
        arrived = bool(distance <= self.reach_radius)
        if arrived:
            reward += self.reach_bonus
            self.reached += 1
            self.goal = self._new_goal(ant_obs[:2])
        return self._observe(ant_obs), float(reward), bool(terminated), False, {
            "reached": self.reached, "is_success": arrived, "flipped": up < 0.0}
