"""The Diffusion Forcing model: token layout + normalizer + causal denoiser + noise schedule.

``forward`` is the training objective of Algorithm 1 (Chen et al. 2024): every token of
every window gets its own, independent, uniformly drawn noise level ``k_t``; the network
denoises them all at once through its causal backbone. The teacher-forcing and
full-sequence baselines are other noise patterns of the same loss
(:mod:`dfplan.noise_patterns`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from dfplan.denoisers import DenoiserConfig, build_denoiser
from dfplan.noise import NoiseConfig, NoiseSchedule
from dfplan.noise_patterns import draw_levels
from dfplan.normalizer import Normalizer
from dfplan.tokens import TokenLayout


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (stored in every checkpoint)."""

    layout: TokenLayout  # what a token holds (dimensions, reward channel, frame_stack)
    horizon: int = 16  # training window length in tokens
    noise: NoiseConfig = field(default_factory=NoiseConfig)  # diffusion process
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)  # backbone architecture
    normalization: str = "gaussian"  # gaussian | minmax | none (data already in model units)
    token_cond_dim: int = 0  # extra clean per-token conditioning (e.g. actions of a world model); 0 = none

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1 token, got {self.horizon}")
        if self.token_cond_dim < 0:
            raise ValueError(f"token_cond_dim must be >= 0, got {self.token_cond_dim}")


class DiffusionForcing(nn.Module):
    """A causal denoiser trained with per-token noise, in raw units at its boundary.

    Conditioning ``cond`` is the observation ``o_0`` before the first token (raw units).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.layout = config.layout
        self.schedule = NoiseSchedule(config.noise)
        self.normalizer = Normalizer(config.layout, config.normalization)
        self.denoiser = build_denoiser(
            config.denoiser, config.layout.token_dim, config.layout.obs_dim, config.token_cond_dim, config.noise.levels
        )

    def forward(self, tokens: Tensor, cond: Tensor, mask: Tensor | None = None,
                token_cond: Tensor | None = None, generator: torch.Generator | None = None,
                pattern: str = "independent") -> Tensor:
        """Algorithm 1 loss on raw windows: ``tokens (B, T, D)``, ``cond (B, O)``, ``mask (B, T)``,
        ``token_cond (B, T, Ct)`` (clean, not normalized).

        With the default ``pattern`` levels are ``k_t ~ U{0..K}`` independently per token;
        tokens drawn at ``k = 0`` are clean context (nothing to denoise). Padded tokens
        (``mask`` false) and tokens the pattern does not score are excluded from the loss.
        Returns the weighted mean squared error (a scalar).
        """
        x0 = self.normalizer.normalize(tokens)
        c = self.normalizer.normalize_obs(cond)
        batch, length = x0.shape[:2]
        k, scored = draw_levels(pattern, batch, length, self.schedule.levels, device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_noisy = self.schedule.q_sample(x0, k, noise)
        pred = self.denoiser(x_noisy, k, c, token_cond)
        target = self.schedule.target(x0, k, noise)
        per_token = (pred.float() - target.float()).pow(2).mean(-1)  # (B, T)
        weight = self.schedule.loss_weight(k) * scored
        if mask is not None:
            weight = weight * mask
        return (per_token * weight).sum() / weight.sum().clamp_min(1.0)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
