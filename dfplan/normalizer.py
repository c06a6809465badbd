"""Per-feature normalization fit on data and saved inside the model.

Statistics are kept per *step* feature ``[a, r, o]`` and applied to every step of a
token, so everything outside the model is in raw units (STYLE.md; the normalizer is an
``nn.Module`` with buffers, saved with the weights like diffusion_policy's).
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

    @torch.no_grad()
    def fit(self, data: Trajectories) -> Normalizer:
        """Fit on all actions, rewards and observations of ``data``; returns ``self``."""
        if self.mode == "none":
            return self
        layout = self.layout
        columns = [data.actions]
        if layout.use_reward:
            columns.append(data.rewards[:, None])
        columns.append(data.observations)
        locs, scales = [], []
        for values in columns:
            values = values.astype(np.float64)
            if self.mode == "gaussian":
                loc, scale = values.mean(0), values.std(0)
            else:
                lo, hi = values.min(0), values.max(0)
                loc, scale = (hi + lo) / 2, (hi - lo) / 2
            locs.append(loc)
            scales.append(np.where(scale > 1e-6, scale, 1.0))
        self.step_loc.copy_(torch.from_numpy(np.concatenate(locs)).float())
        self.step_scale.copy_(torch.from_numpy(np.concatenate(scales)).float())
        return self

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
        """``(loc, scale)`` of the observation features ``(O,)``: the data's mean and std (gaussian)."""
        s = self._obs_slice()
        return self.step_loc[s], self.step_scale[s]

    def normalize_obs(self, obs: Tensor) -> Tensor:
        """Raw observations ``(..., O)`` -> normalized."""
        s = self._obs_slice()
        return (obs - self.step_loc[s]) / self.step_scale[s]

    def unnormalize_obs(self, obs: Tensor) -> Tensor:
        """Normalized observations ``(..., O)`` -> raw."""
        s = self._obs_slice()
        return obs * self.step_scale[s] + self.step_loc[s]
