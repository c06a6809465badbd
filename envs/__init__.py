"""The D4RL Maze2D / Multi2D benchmark suite on Gymnasium-Robotics PointMaze.

``envs.make("maze2d-large-v1")`` builds an env; the six ids are also registered with
Gymnasium as ``dfplan/<id>`` (``gymnasium.make("dfplan/multi2d-umaze-v1")``). Maze metadata
(layouts, frames, goals, reference scores) is in :mod:`envs.mazes`; importing this package
does not load MuJoCo.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.mazes import ENV_IDS, ENV_SPECS, MAZES, MazeSpec, SuiteEnvSpec, get_env_spec
from envs.scoring import normalized_score

__all__ = [
    "ENV_IDS",
    "ENV_SPECS",
    "MAZES",
    "MazeSpec",
    "SuiteEnvSpec",
    "get_env_spec",
    "make",
    "normalized_score",
    "register_envs",
]


def register_envs() -> None:
    """Register the six suite envs with Gymnasium (idempotent)."""
    for spec in ENV_SPECS.values():
        if spec.gym_id not in gymnasium.registry:
            gymnasium.register(
                id=spec.gym_id,
                entry_point="envs.maze_env:Maze2DEnv",
                max_episode_steps=spec.maze.episode_steps,
                kwargs={"env_id": spec.env_id},
            )


def make(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """Make a suite env (``maze2d-umaze-v1`` or ``dfplan/maze2d-umaze-v1``), TimeLimit included.

    Extra keyword arguments go to :func:`gymnasium.make` (e.g. ``render_mode``).

    Raises:
        ValueError: for an unknown id, listing the valid ones.
    """
    spec = get_env_spec(env_id)
    return gymnasium.make(spec.gym_id, **kwargs)


register_envs()
