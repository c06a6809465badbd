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

from typing import Any, Protocol, runtime_checkable

import numpy as np

from dfplan.policy import EpisodicAgent, LatencyRecorder, Observation, ObservationBatch, as_batch

__all__ = ["Agent", "EpisodicAgent", "LatencyRecorder", "Observation", "ObservationBatch", "as_batch"]


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
