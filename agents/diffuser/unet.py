"""Diffuser's temporal U-Net (Janner et al. 2022, Sec. 3.2 and Appendix C; maze2d: no attention).

A 1-D U-Net over the planning horizon: trajectories ``(B, H, D)`` are convolved along time
with channels ``D -> dim·dim_mults``. Each resolution has two residual temporal blocks
(two ``Conv1d(kernel 5) + GroupNorm(8) + Mish`` blocks, the diffusion-time embedding added
between them, a 1×1 residual conv when channels change) and a stride-2 downsample except at
the last level; two middle blocks; an up path that mirrors it with skip concatenation and
``ConvTranspose1d`` upsampling; then a final conv block and a 1×1 conv back to ``D``.

As in Diffuser, the up path has one level fewer than the down path, so the full-resolution
skip is not used and ``H`` must be divisible by ``2 ** (len(dim_mults) - 1)`` (4 for the
maze2d setting). The network knows nothing of noise: it maps a noisy trajectory and its
noise level to an output of the same shape (STYLE.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class UNetConfig:
    """Temporal U-Net architecture (Diffuser's maze2d values by default)."""

    dim: int = 32  # base channel count; also the diffusion-time embedding size
    dim_mults: tuple[int, ...] = (1, 4, 8)  # channel multiplier per resolution (32/128/256)
    kernel_size: int = 5  # temporal convolution kernel
    groups: int = 8  # GroupNorm groups

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim_mults", tuple(self.dim_mults))  # plain data may hold a list
        if self.dim < 2 or self.dim % 2 or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError("need an even dim >= 2 and an odd kernel_size >= 1")
        if len(self.dim_mults) < 1 or any(m < 1 for m in self.dim_mults):
            raise ValueError(f"dim_mults must be positive, got {self.dim_mults}")
        if any((self.dim * m) % self.groups for m in self.dim_mults):
            raise ValueError(f"every channel count dim·mult must be divisible by groups={self.groups}")

    @property
    def horizon_multiple(self) -> int:
        """``H`` must be a multiple of this (one halving per downsampling level)."""
        return 2 ** (len(self.dim_mults) - 1)


class SinusoidalEmbedding(nn.Module):
    """Transformer sinusoids of a scalar per batch element: ``(B,) -> (B, dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.register_buffer(
            "frequencies", torch.exp(-math.log(10_000) * torch.arange(half) / (half - 1)), persistent=False
        )

    def forward(self, t: Tensor) -> Tensor:
        angles = t.float()[:, None] * self.frequencies[None]  # (B, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, dim)


class ConvBlock(nn.Sequential):
    """``Conv1d(kernel k, same padding) -> GroupNorm -> Mish`` on ``(B, C, H)``."""

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int, groups: int) -> None:
        super().__init__(
            nn.Conv1d(channels_in, channels_out, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(groups, channels_out),
            nn.Mish(),
        )


class ResidualTemporalBlock(nn.Module):
    """Two conv blocks with the time embedding added over the horizon in between, plus a residual.

    ``x (B, C_in, H)``, ``time (B, E)`` -> ``(B, C_out, H)``.
    """

    def __init__(self, channels_in: int, channels_out: int, embed_dim: int, config: UNetConfig) -> None:
        super().__init__()
        self.first = ConvBlock(channels_in, channels_out, config.kernel_size, config.groups)
        self.second = ConvBlock(channels_out, channels_out, config.kernel_size, config.groups)
        self.time = nn.Sequential(nn.Mish(), nn.Linear(embed_dim, channels_out))
        self.residual = nn.Conv1d(channels_in, channels_out, 1) if channels_in != channels_out else nn.Identity()

    def forward(self, x: Tensor, time: Tensor) -> Tensor:
        out = self.first(x) + self.time(time)[:, :, None]  # (B, C_out, H)
        return self.second(out) + self.residual(x)


class TemporalUNet(nn.Module):
    """Denoiser ``(x (B, H, D), levels (B,)) -> (B, H, D)`` for trajectories of ``D`` features per step.

    ``levels`` are integer (or float) diffusion levels, embedded sinusoidally then by
    ``Linear(dim, 4·dim) -> Mish -> Linear(4·dim, dim)``.
    """

    def __init__(self, transition_dim: int, config: UNetConfig | None = None) -> None:
        super().__init__()
        config = config or UNetConfig()
        if transition_dim < 1:
            raise ValueError(f"transition_dim must be >= 1, got {transition_dim}")
        self.config, self.transition_dim = config, transition_dim
        dim = config.dim
        channels = [transition_dim, *(dim * m for m in config.dim_mults)]
        pairs = list(pairwise(channels))  # (C_in, C_out) per resolution
        self.time_mlp = nn.Sequential(
            SinusoidalEmbedding(dim), nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim)
        )
        self.downs = nn.ModuleList()
        for level, (c_in, c_out) in enumerate(pairs):
            last = level == len(pairs) - 1
            self.downs.append(nn.ModuleList([
                ResidualTemporalBlock(c_in, c_out, dim, config),
                ResidualTemporalBlock(c_out, c_out, dim, config),
                nn.Identity() if last else nn.Conv1d(c_out, c_out, 3, stride=2, padding=1),
            ]))
        middle = channels[-1]
        self.middle = nn.ModuleList([
            ResidualTemporalBlock(middle, middle, dim, config),
            ResidualTemporalBlock(middle, middle, dim, config),
        ])
        self.ups = nn.ModuleList()
        for c_in, c_out in reversed(pairs[1:]):
            self.ups.append(nn.ModuleList([
                ResidualTemporalBlock(2 * c_out, c_in, dim, config),
                ResidualTemporalBlock(c_in, c_in, dim, config),
                nn.ConvTranspose1d(c_in, c_in, 4, stride=2, padding=1),
            ]))
        self.final = nn.Sequential(
            ConvBlock(dim, dim, config.kernel_size, config.groups), nn.Conv1d(dim, transition_dim, 1)
        )

    def forward(self, x: Tensor, levels: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.transition_dim:
            raise ValueError(f"expected trajectories (B, H, {self.transition_dim}), got {tuple(x.shape)}")
        multiple = self.config.horizon_multiple
        if x.shape[1] % multiple:
            raise ValueError(f"horizon {x.shape[1]} is not divisible by {multiple} (the U-Net halves it "
                             f"{len(self.config.dim_mults) - 1} times); use a multiple of {multiple}")
        if levels.shape != x.shape[:1]:
            raise ValueError(f"levels must have shape ({x.shape[0]},), got {tuple(levels.shape)}")
        time = self.time_mlp(levels)  # (B, dim)
        h = x.transpose(1, 2)  # (B, D, H)
        skips = []
        for first, second, downsample in self.downs:
            h = second(first(h, time), time)
            skips.append(h)
            h = downsample(h)
        for block in self.middle:
            h = block(h, time)
        for first, second, upsample in self.ups:
            h = torch.cat([h, skips.pop()], dim=1)  # (B, 2·C, H')
            h = upsample(second(first(h, time), time))
        return self.final(h).transpose(1, 2)  # (B, H, D)
