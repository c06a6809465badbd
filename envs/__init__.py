"""The D4RL maze suites: Maze2D / Multi2D on Gymnasium-Robotics PointMaze, AntMaze on its AntMaze.

``envs.make("maze2d-large-v1")`` or ``envs.make("antmaze-large-diverse-v2")`` builds an env;
the twelve ids are also registered with Gymnasium as ``dfplan/<id>``
(``gymnasium.make("dfplan/multi2d-umaze-v1")``). Maze metadata (layouts, frames, goals,
reference scores) is in :mod:`envs.mazes` and :mod:`envs.antmazes`; importing this package
does not load MuJoCo.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.antmazes import ANTMAZE_ENV_SPECS, ANTMAZE_IDS, AntMazeEnvSpec, get_antmaze_spec
from envs.mazes import ENV_IDS, ENV_SPECS, MAZES, MazeSpec, SuiteEnvSpec, get_env_spec
from envs.scoring import normalized_score

__all__ = [
    "ANTMAZE_ENV_SPECS",
    "ANTMAZE_IDS",
    "ENV_IDS",
    "ENV_SPECS",
    "MAZES",
    "AntMazeEnvSpec",
    "MazeSpec",
    "SuiteEnvSpec",
    "get_antmaze_spec",
    "get_env_spec",
    "get_suite_spec",
    "is_antmaze",
    "make",
    "normalized_score",
    "register_envs",
]


def register_envs() -> None:
    """Register the six Maze2D / Multi2D and the six AntMaze envs with Gymnasium (idempotent)."""
    entry_points = [(spec, "envs.maze_env:Maze2DEnv") for spec in ENV_SPECS.values()]
    entry_points += [(spec, "envs.antmaze_env:AntMazeD4RLEnv") for spec in ANTMAZE_ENV_SPECS.values()]
    for spec, entry_point in entry_points:
        if spec.gym_id not in gymnasium.registry:
            gymnasium.register(
                id=spec.gym_id,
                entry_point=entry_point,
                max_episode_steps=spec.maze.episode_steps,
                kwargs={"env_id": spec.env_id},
            )


def make(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """Make a suite env (``maze2d-umaze-v1``, ``antmaze-umaze-v2``, or either with ``dfplan/``),
    TimeLimit included.

    Extra keyword arguments go to :func:`gymnasium.make` (e.g. ``render_mode``).

    Raises:
        ValueError: for an unknown id, listing the valid ones.
    """
    return gymnasium.make(get_suite_spec(env_id).gym_id, **kwargs)


def get_suite_spec(env_id: str) -> SuiteEnvSpec | AntMazeEnvSpec:
    """The spec of any suite env id, Maze2D / Multi2D or AntMaze (``ValueError`` for an unknown one)."""
    key = env_id.removeprefix("dfplan/")
    return get_antmaze_spec(key) if key.startswith("antmaze-") else get_env_spec(key)


def is_antmaze(env_id: str) -> bool:
    """Whether ``env_id`` names an AntMaze env (its agents act with 8 torques on a 29-number state)."""
    return env_id.removeprefix("dfplan/").startswith("antmaze-")


register_envs()
