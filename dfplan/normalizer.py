"""Per-feature normalization fit on data and saved inside the model.

Statistics are kept per *step* feature ``[a, r, o]`` and applied to every step of a
token, so everything outside the model is in raw units (STYLE.md; the normalizer is an
``nn.Module`` with buffers, saved with the weights like diffusion_policy's). A layout with
``delta_dims`` stores displacements in its tokens: their statistics are those of the data's
per-step displacements, and the conditioning observation (positions as they are) gets its own
``cond_loc`` / ``cond_scale``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from dfplan.data import Trajectories
from dfplan.tokens import TokenLayout

NORMALIZATIONS = ("gaussian", "minmax", "none")


class Normalizer(nn.Module):
    """Affine map ``(raw - loc) / scale`` per step feature.

    ``gaussian``: loc = mean, scale = std (zero mean, unit variance);
    ``minmax``: loc = centre, scale = half range (to [-1, 1], as Diffuser);
    ``none``: loc = 0, scale = 1, for data already in model units (video frames in [-1, 1]).
    Features with no spread get scale 1.
    """

    def __init__(self, layout: TokenLayout, mode: str = "gaussian") -> None:
        super().__init__()
        if mode not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {mode!r}; valid: {', '.join(NORMALIZATIONS)}")
        self.layout, self.mode = layout, mode
        self.register_buffer("step_loc", torch.zeros(layout.step_dim))
        self.register_buffer("step_scale", torch.ones(layout.step_dim))
        if layout.delta_dims:
            self.register_buffer("cond_loc", torch.zeros(layout.obs_dim))
            self.register_buffer("cond_scale", torch.ones(layout.obs_dim))

    @torch.no_grad()
    def fit(self, data: Trajectories) -> Normalizer:
        """Fit on all actions, rewards and observations of ``data``; returns ``self``."""
        if self.mode == "none":
            return self
        layout = self.layout
        columns = [data.actions]
        if layout.use_reward:
            columns.append(data.rewards[:, None])
        obs_loc, obs_scale = self._stats(data.observations)
        if layout.delta_dims:
            self.cond_loc.copy_(torch.from_numpy(obs_loc).float())
            self.cond_scale.copy_(torch.from_numpy(obs_scale).float())
            n = layout.delta_dims
            delta_loc, delta_scale = self._stats(_displacements(data, n))
            obs_loc = np.concatenate([delta_loc, obs_loc[n:]])
            obs_scale = np.concatenate([delta_scale, obs_scale[n:]])
        locs, scales = map(list, zip(*(self._stats(values) for values in columns), strict=True))
        self.step_loc.copy_(torch.from_numpy(np.concatenate([*locs, obs_loc])).float())
        self.step_scale.copy_(torch.from_numpy(np.concatenate([*scales, obs_scale])).float())
        return self

    def _stats(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loc, scale)`` per column of ``values (N, F)`` in this normalizer's mode."""
        values = values.astype(np.float64)
        if self.mode == "gaussian":
            loc, scale = values.mean(0), values.std(0)
        else:
            lo, hi = values.min(0), values.max(0)
            loc, scale = (hi + lo) / 2, (hi - lo) / 2
        return loc, np.where(scale > 1e-6, scale, 1.0)

    def _obs_slice(self) -> slice:
        start = self.layout.action_dim + int(self.layout.use_reward)
        return slice(start, start + self.layout.obs_dim)

    def _tokenwise(self, x: Tensor) -> tuple[Tensor, Tensor]:
        fs = self.layout.frame_stack
        return self.step_loc.repeat(fs), self.step_scale.repeat(fs)

    def normalize(self, tokens: Tensor) -> Tensor:
        """Raw tokens ``(..., D)`` -> normalized tokens."""
        loc, scale = self._tokenwise(tokens)
        return (tokens - loc) / scale

    def unnormalize(self, tokens: Tensor) -> Tensor:
        """Normalized tokens ``(..., D)`` -> raw tokens."""
        loc, scale = self._tokenwise(tokens)
        return tokens * scale + loc

    def obs_stats(self) -> tuple[Tensor, Tensor]:
        """``(loc, scale)`` of the observations ``(O,)`` as the model is conditioned on them (positions as
        they are, also with ``delta_dims``): the data's mean and std (gaussian)."""
        if self.layout.delta_dims:
            return self.cond_loc, self.cond_scale
        s = self._obs_slice()
        return self.step_loc[s], self.step_scale[s]

    def normalize_obs(self, obs: Tensor) -> Tensor:
        """Raw (conditioning) observations ``(..., O)`` -> normalized."""
        loc, scale = self.obs_stats()
        return (obs - loc) / scale

    def unnormalize_obs(self, obs: Tensor) -> Tensor:
        """Normalized (conditioning) observations ``(..., O)`` -> raw."""
        loc, scale = self.obs_stats()
        return obs * scale + loc


def _displacements(data: Trajectories, n: int) -> np.ndarray:
    """Per-step displacements ``o_{t+1}[:n] − o_t[:n]`` within every episode of ``data``, ``(steps, n)``."""
    obs = data.observations[:, :n]
    last = np.cumsum(data.episode_lengths.astype(np.int64) + 1) - 1  # each episode's final observation
    inside = np.ones(len(obs) - 1, bool)
    inside[last[:-1]] = False  # no step from one episode's end to the next one's start
    return (obs[1:] - obs[:-1])[inside]
