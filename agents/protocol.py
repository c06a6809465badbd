"""The one protocol every dfplan agent meets, and the observation plumbing they share.

An agent has three methods (DESIGN.md section 4):

- ``reset(seed=None)``: start a new episode (for every env of a batch), optionally reseeding;
- ``act(obs) -> action``: raw observation in, raw action out; ``obs`` is one observation or a
  batch from a Gymnasium vector env;
- ``predict(obs, state=None, episode_start=None, deterministic=True) -> (action, state)``:
  Stable-Baselines3's policy signature, so ``evaluate_policy`` works unchanged.

Observations are PointMaze dicts (``observation`` (4,) or (B, 4) = x, y, vx, vy;
``desired_goal`` (2,) or (B, 2)) or flat arrays (4,) / (B, 4) without a goal. Actions come
back as float32 (2,) for one observation and (B, 2) for a batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

Observation = dict[str, np.ndarray] | np.ndarray
"""A PointMaze dict observation or a flat array, single or batched."""


@runtime_checkable
class Agent(Protocol):
    """What the benchmark runner needs from an agent."""

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode for every env (reseed when ``seed`` is given)."""
        ...

    def act(self, obs: Observation) -> np.ndarray:
        """Action(s) for one observation (→ (A,)) or a batch (→ (B, A)), raw units."""
        ...

    def predict(
        self,
        obs: Observation,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3-style ``(action, state)``; ``episode_start`` (B,) bool resets those envs first."""
        ...


@dataclass(frozen=True)
class ObservationBatch:
    """An observation normalized to a batch (raw units, float64)."""

    states: np.ndarray
    """(B, D): x, y, vx, vy for PointMaze."""
    goals: np.ndarray | None
    """(B, 2) desired goals, or None when the observation carried none (flat arrays)."""
    batched: bool
    """Whether the caller passed a batch (so the action keeps its batch axis)."""


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"observation {name!r} contains NaN or inf")


def as_batch(obs: Observation, state_dim: int = 4) -> ObservationBatch:
    """Validate a single or batched observation and return it as a batch.

    Raises:
        TypeError: for an ``(obs, info)`` tuple (the return value of ``env.reset()``) or any
            other non-dict, non-array input.
        ValueError: for missing keys, wrong shapes, or NaN/inf values.
    """
    if isinstance(obs, tuple):
        hint = (
            " — it looks like the (obs, info) pair returned by env.reset(); pass obs only"
            if len(obs) == 2
            else ""
        )
        raise TypeError(
            f"expected an observation (dict or array), got a tuple of length {len(obs)}{hint}"
        )
    if isinstance(obs, dict):
        if "observation" not in obs:
            raise ValueError(f"dict observation needs an 'observation' key, got keys {sorted(obs)}")
        states = np.asarray(obs["observation"], dtype=np.float64)
        goals = (
            None
            if obs.get("desired_goal") is None
            else np.asarray(obs["desired_goal"], dtype=np.float64)
        )
    elif isinstance(obs, np.ndarray | list):
        states, goals = np.asarray(obs, dtype=np.float64), None
    else:
        raise TypeError(f"expected an observation (dict or array), got {type(obs).__name__}")
    if states.ndim not in (1, 2) or states.shape[-1] != state_dim:
        raise ValueError(
            f"observation must have shape ({state_dim},) or (B, {state_dim}), got {states.shape}"
        )
    batched = states.ndim == 2
    states = np.atleast_2d(states)
    _check_finite("observation", states)
    if goals is not None:
        goals = np.atleast_2d(goals)
        if goals.shape != (len(states), 2):
            raise ValueError(
                f"desired_goal must have shape (2,) or ({len(states)}, 2), got {goals.shape}"
            )
        _check_finite("desired_goal", goals)
    return ObservationBatch(states, goals, batched)


class EpisodicAgent(ABC):
    """Base for agents with per-env episode state: implements ``predict`` on top of ``act``.

    Subclasses implement :meth:`act` and :meth:`reset_env` (forget env ``index``'s episode).
    """

    @abstractmethod
    def reset(self, seed: int | None = None) -> None: ...

    @abstractmethod
    def act(self, obs: Observation) -> np.ndarray: ...

    @abstractmethod
    def reset_env(self, index: int) -> None:
        """Forget the episode state of env ``index`` of a batch (its episode just started)."""

    def predict(
        self,
        obs: Observation,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """Stable-Baselines3's ``predict``: ``(action, state)``; ``state`` is passed through.

        ``episode_start`` (B,) bool marks envs whose episode just began; they are reset
        before acting. ``deterministic`` is accepted for compatibility (agents here are
        deterministic given their seed).
        """
        if isinstance(obs, tuple):
            as_batch(obs)  # raises the (obs, info) error
        if episode_start is not None:
            for index in np.flatnonzero(np.asarray(episode_start, dtype=bool).reshape(-1)):
                self.reset_env(int(index))
        return self.act(obs), state
