"""A built-in sequence distribution with a known answer: a linear-Gaussian controlled walk.

    a_t ~ N(0, sigma²),   o_{t+1} = rho · o_t + a_t,   r_t = -o_{t+1}²,   o_0 ~ N(0, stationary)

Given ``o_0`` the future is Gaussian with closed-form moments, and every token must
satisfy the dynamics exactly, so a trained model can be checked against the truth
(tests and ``python -m dfplan demo``). Scalar observation and action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfplan.data import Trajectories


@dataclass(frozen=True)
class LinearGaussianWalk:
    rho: float = 0.9  # state decay per step
    sigma: float = 0.3  # action (process-noise) standard deviation

    @property
    def stationary_std(self) -> float:
        return self.sigma / np.sqrt(1 - self.rho**2)

    def generate(self, episodes: int, length: int, seed: int = 0) -> Trajectories:
        """``episodes`` episodes of ``length`` steps each."""
        rng = np.random.default_rng(seed)
        obs = np.empty((episodes, length + 1), np.float64)
        obs[:, 0] = rng.normal(0, self.stationary_std, episodes)
        actions = rng.normal(0, self.sigma, (episodes, length))
        for t in range(length):
            obs[:, t + 1] = self.rho * obs[:, t] + actions[:, t]
        rewards = -obs[:, 1:] ** 2
        return Trajectories(
            observations=obs.reshape(-1, 1).astype(np.float32),
            actions=actions.reshape(-1, 1).astype(np.float32),
            rewards=rewards.reshape(-1).astype(np.float32),
            episode_lengths=np.full(episodes, length, np.int64),
        )

    def moments(self, o0: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of ``o_1 .. o_steps`` given ``o_0``: ``rho^t o_0`` and ``sigma·sqrt(sum rho^{2i})``."""
        t = np.arange(1, steps + 1)
        mean = self.rho**t * o0
        std = self.sigma * np.sqrt((1 - self.rho ** (2 * t)) / (1 - self.rho**2))
        return mean, std

    def check(self, o0: float, actions: np.ndarray, rewards: np.ndarray | None, observations: np.ndarray) -> dict[str, float]:
        """Compare samples ``(B, N, ...)`` given ``o0`` with the truth.

        Returns the largest per-step error of the mean and of the std (both in units of the
        true std at that step), the RMS dynamics residual ``o_{t+1} - rho·o_t - a_t`` and the
        RMS reward residual ``r_t + o_{t+1}²`` (both in units of ``sigma``).
        """
        obs = observations.reshape(observations.shape[0], -1)  # (B, N)
        act = actions.reshape(actions.shape[0], -1)
        mean, std = self.moments(o0, obs.shape[1])
        prev = np.concatenate([np.full((obs.shape[0], 1), o0), obs[:, :-1]], axis=1)
        result = {
            "mean_error": float(np.max(np.abs(obs.mean(0) - mean) / std)),
            "std_error": float(np.max(np.abs(obs.std(0) - std) / std)),
            "dynamics_rms": float(np.sqrt(np.mean((obs - self.rho * prev - act) ** 2)) / self.sigma),
        }
        if rewards is not None:
            result["reward_rms"] = float(np.sqrt(np.mean((rewards.reshape(obs.shape) + obs**2) ** 2)) / self.sigma)
        return result
