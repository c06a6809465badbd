"""The random agent: uniform actions in [-1, 1]², seeded; the floor row of the results table."""

from __future__ import annotations

import numpy as np

from agents.protocol import EpisodicAgent, Observation, as_batch


class RandomAgent(EpisodicAgent):
    """Uniform random actions, reproducible from ``seed`` (reseeded by ``reset(seed)``)."""

    def __init__(self, action_dim: int = 2, seed: int | None = None, state_dim: int = 4) -> None:
        self.action_dim = action_dim
        self.state_dim = state_dim
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseed when ``seed`` is given; otherwise keep drawing from the same stream."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def reset_env(self, index: int) -> None:
        """Random actions carry no episode state."""

    def act(self, obs: Observation) -> np.ndarray:
        batch = as_batch(obs, state_dim=self.state_dim)
        actions = self.rng.uniform(-1.0, 1.0, size=(len(batch.states), self.action_dim)).astype(
            np.float32
        )
        return actions if batch.batched else actions[0]
