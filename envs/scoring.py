"""D4RL-normalized scores and per-episode metrics for the Maze2D / Multi2D and AntMaze suites.

``normalized_score = 100 · (return − ref_min) / (ref_max − ref_min)`` with D4RL's sparse-v1
reference returns (DESIGN.md section 5); multi2d envs use their maze's constants; AntMaze's
are 0 and 1, so its score is 100 × success.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.antmazes import get_antmaze_spec
from envs.mazes import MazeSpec, get_env_spec


class FirstReach:
    """An episode's success info as both suites report it: ``success`` (within ``radius`` of the goal
    now) and ``first_reach_step`` (the first step it was, -1 before; the reset's observation is step 0)."""

    def __init__(self, radius: float) -> None:
        self.radius = float(radius)
        self.steps, self.first_step = 0, -1

    def start(self, achieved: np.ndarray, goal: np.ndarray) -> dict[str, bool | int]:
        """A new episode's info for its first observation."""
        self.steps, self.first_step = 0, -1
        return self._info(achieved, goal)

    def step(self, achieved: np.ndarray, goal: np.ndarray) -> dict[str, bool | int]:
        """The info after one more env step."""
        self.steps += 1
        return self._info(achieved, goal)

    def _info(self, achieved: np.ndarray, goal: np.ndarray) -> dict[str, bool | int]:
        success = bool(np.linalg.norm(np.asarray(achieved) - goal) <= self.radius)
        if success and self.first_step < 0:
            self.first_step = self.steps
        return {"success": success, "first_reach_step": self.first_step}


def suite_maze(env_id: str) -> MazeSpec:
    """The maze of a Maze2D / Multi2D or AntMaze env id (``ValueError`` for an unknown one)."""
    key = env_id.removeprefix("dfplan/")
    return get_antmaze_spec(key).maze if key.startswith("antmaze-") else get_env_spec(key).maze


def normalized_score(env_id: str, episode_return: float | np.ndarray) -> float | np.ndarray:
    """D4RL-normalized score ×100 of undiscounted episode return(s) (scalar or any-shape array).

    Raises:
        ValueError: for an unknown env id.
    """
    maze = suite_maze(env_id)
    scale = 100.0 / (maze.ref_max_score - maze.ref_min_score)
    if np.ndim(episode_return) == 0:
        return float((float(episode_return) - maze.ref_min_score) * scale)
    return (np.asarray(episode_return, dtype=np.float64) - maze.ref_min_score) * scale


@dataclass(frozen=True)
class EpisodeMetrics:
    """What one evaluation episode measured."""

    episode_return: float
    """Undiscounted sum of rewards (Maze2D: steps spent within 0.5 of the goal; AntMaze: 1 on arrival)."""
    score: float
    """D4RL-normalized return ×100."""
    success: bool
    """Whether the agent was within 0.5 of the goal at any step (start included)."""
    first_reach_step: int
    """Env steps taken when first within 0.5 of the goal (0 = started there); -1 if never."""
    length: int
    """Number of env steps in the episode."""


def episode_metrics(
    env_id: str, rewards: Sequence[float] | np.ndarray, first_reach_step: int
) -> EpisodeMetrics:
    """Metrics of one episode from its rewards ``(T,)`` and the env's last ``info["first_reach_step"]``."""
    rewards = np.asarray(rewards, dtype=np.float64)
    episode_return = float(rewards.sum())
    return EpisodeMetrics(
        episode_return=episode_return,
        score=float(normalized_score(env_id, episode_return)),
        success=first_reach_step >= 0,
        first_reach_step=int(first_reach_step),
        length=len(rewards),
    )
