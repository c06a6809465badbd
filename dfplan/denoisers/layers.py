"""Building blocks shared by the backbones: noise-level embedding and residual MLPs."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LevelEmbedding(nn.Module):
    """Integer noise level ``k (B, T)`` -> ``(B, T, width)``: sinusoidal features then an MLP."""

    def __init__(self, width: int, levels: int, frequencies: int = 64) -> None:
        super().__init__()
        self.levels = levels
        self.register_buffer(
            "freqs", torch.exp(-math.log(10_000.0) * torch.arange(frequencies) / frequencies), persistent=False
        )
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, k: Tensor) -> Tensor:
        # scale levels to [0, 1000] so the embedding does not depend on K
        phase = (k.float() * (1000.0 / self.levels))[..., None] * self.freqs  # (B, T, F)
        return self.mlp(torch.cat([phase.sin(), phase.cos()], dim=-1))  # (B, T, W)


class ResidualBlock(nn.Module):
    """``x + MLP(LayerNorm(x))`` with a 4x hidden layer."""

    def __init__(self, width: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * width, width)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class ResidualMLP(nn.Module):
    """``in_dim -> width`` projection followed by ``blocks`` residual blocks and a LayerNorm."""

    def __init__(self, in_dim: int, width: int, blocks: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width, dropout) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.blocks(self.proj(x)))
