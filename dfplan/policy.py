"""Observation plumbing and the SB3-style ``predict`` shared by every policy in the project.

An agent meets one small protocol (DESIGN.md section 4): ``reset(seed=None)``,
``act(obs) -> action`` and ``predict(obs, state=None, episode_start=None,
deterministic=True) -> (action, state)`` (Stable-Baselines3's signature, so
``evaluate_policy`` runs it unchanged). This module holds the parts every agent shares:
turning a single or batched observation (a goal-conditioned dict or a flat array) into a
validated batch, and :class:`EpisodicAgent`, which implements ``predict`` on top of ``act``.
It lives in ``dfplan`` so that the planner and the agents in ``agents/`` share one copy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

Observation = dict[str, np.ndarray] | np.ndarray
"""A goal-conditioned dict observation (``observation``, ``desired_goal``) or a flat array, single or batched."""


@dataclass(frozen=True)
class ObservationBatch:
    """An observation normalized to a batch (raw units, float64)."""

    states: np.ndarray
    """(B, D): the ``observation`` entry (x, y, vx, vy for PointMaze)."""
    goals: np.ndarray | None
    """(B, G) desired goals, or None when the observation carried none (flat arrays)."""
    batched: bool
    """Whether the caller passed a batch (so the action keeps its batch axis)."""


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"observation {name!r} contains NaN or inf")


def as_batch(obs: Observation, state_dim: int = 4, goal_dim: int | None = 2,
             with_position: bool = False) -> ObservationBatch:
    """Validate a single or batched observation and return it as a batch.

    ``with_position``: the state is ``achieved_goal`` followed by ``observation`` (AntMaze, whose
    ``observation`` leaves out the torso's (x, y): together D4RL's 29-number ant state); a flat
    array is then that state already.

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
        if with_position:
            if obs.get("achieved_goal") is None:
                raise ValueError(f"this agent needs the position in 'achieved_goal', got keys {sorted(obs)}")
            position = np.asarray(obs["achieved_goal"], dtype=np.float64)
            if position.shape[-1:] != (2,) or position.shape[:-1] != states.shape[:-1]:
                raise ValueError(f"achieved_goal must have shape (2,) or (B, 2) beside observation {states.shape}, "
                                 f"got {position.shape}")
            states = np.concatenate([position, states], axis=-1)
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
        if with_position and isinstance(obs, dict):
            raise ValueError(f"observation must have shape ({state_dim - 2},) or (B, {state_dim - 2}) (and "
                             f"achieved_goal (2,) or (B, 2)), got {np.shape(obs['observation'])}")
        raise ValueError(
            f"observation must have shape ({state_dim},) or (B, {state_dim}), got {states.shape}"
        )
    batched = states.ndim == 2
    if batched and len(states) == 0:
        raise ValueError(f"empty batch: observation has shape {states.shape}; pass at least one observation")
    states = np.atleast_2d(states)
    _check_finite("observation", states)
    if goals is not None:
        goals = np.atleast_2d(goals)
        if goals.ndim != 2 or len(goals) != len(states) or (goal_dim is not None and goals.shape[1] != goal_dim):
            raise ValueError(
                f"desired_goal must have shape ({goal_dim or 'G'},) or ({len(states)}, {goal_dim or 'G'}), got {goals.shape}"
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


class LatencyRecorder:
    """Wall times of a planning agent, as the benchmark reports them (batch-1 medians).

    ``act_ms``: one ``act`` call's time per env, amortized over each plan cycle (the cycle's
    total ``act`` time divided by its steps, so a replan's cost is spread over the steps it
    serves); ``replan_ms``: one replan's time per env.
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        self._times = {"act_ms": deque(maxlen=maxlen), "replan_ms": deque(maxlen=maxlen)}
        self._cycle: list[float] = []

    def act(self, ms_per_env: float, replanned: bool) -> None:
        """Record one ``act`` call; ``replanned`` starts a new plan cycle."""
        if replanned or not self._cycle:
            self._close_cycle()
        self._cycle.append(ms_per_env)

    def replan(self, ms_per_env: float) -> None:
        """Record one replan."""
        self._times["replan_ms"].append(ms_per_env)

    def medians(self) -> dict[str, float]:
        """``{"act_ms", "replan_ms"}`` medians of what was recorded (keys with no record left out)."""
        self._close_cycle()
        return {key: float(np.median(values)) for key, values in self._times.items() if values}

    def clear(self) -> None:
        """Forget everything recorded."""
        for values in self._times.values():
            values.clear()
        self._cycle = []

    def _close_cycle(self) -> None:
        if self._cycle:
            self._times["act_ms"].append(sum(self._cycle) / len(self._cycle))
        self._cycle = []
