"""Video denoiser: a per-frame conv encoder and decoder around the causal transformer.

Tokens are RGB frames flattened in ``(H, W, RGB)`` order, ``D = 3·S²`` for frames of side
``S = frame_size``. Each noisy frame is encoded on its own into a vector (and feature maps
at ``S/4`` and ``S/8``); the transformer of :mod:`dfplan.denoisers.transformer` runs over
time on those vectors with the noise-level embedding, the per-frame condition (actions)
and the conditioning frame at position 0; each output vector is decoded back into a
frame, with U-Net skips from the same frame's encoder maps and from its noisy pixels,
gated by that vector (so the decoder learns how far to trust the noisy input at each level). No layer mixes frames
except the transformer, so the model is exactly as causal as its transformer, and
``DiffusionForcing``, the sampler and the scheduling matrices work on it unchanged.
"""

from __future__ import annotations

import dataclasses
import math

import torch.nn.functional as F
from torch import Tensor, nn

from dfplan.denoisers.base import Cache, Denoiser, DenoiserConfig
from dfplan.denoisers.transformer import TransformerDenoiser

PATCH = 4
"""Side of the pixel blocks folded into channels before the first convolution (space-to-depth)."""


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 8), channels)


class FrameEncoder(nn.Module):
    """Pixel blocks ``(N, 48, S/4, S/4)`` -> a vector ``(N, width)`` and maps at ``S/4`` and ``S/8``.

    Frames arrive folded into channels in 4x4 pixel blocks, so every convolution runs on
    small maps (cheap on a CPU; a frame of a maze is simple); the first layer embeds each
    block on its own, as a vision transformer's patch embedding.
    """

    def __init__(self, size: int, channels: int, width: int) -> None:
        super().__init__()
        c = channels
        self.fine = nn.Sequential(nn.Conv2d(3 * PATCH**2, c, 1), _norm(c), nn.SiLU())
        self.coarse = nn.Sequential(nn.Conv2d(c, c, 2, stride=2), _norm(c), nn.SiLU())
        self.to_vector = nn.Linear(c * (size // 8) ** 2, width)

    def forward(self, frames: Tensor) -> tuple[Tensor, list[Tensor]]:
        fine = self.fine(frames)  # (N, c, S/4, S/4)
        coarse = self.coarse(fine)  # (N, c, S/8, S/8)
        return self.to_vector(coarse.flatten(1)), [fine, coarse]


def _zero_linear(width: int, out: int) -> nn.Linear:
    """A linear layer that starts at zero (its modulation starts as the identity)."""
    layer = nn.Linear(width, out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class UpStage(nn.Module):
    """``x + (1 + gate(v))·skip``, normalized and FiLM-modulated by ``v``, SiLU, then ``up``."""

    def __init__(self, channels: int, width: int, up: nn.Module) -> None:
        super().__init__()
        self.film = _zero_linear(width, 3 * channels)
        self.norm = _norm(channels)
        self.up = up

    def forward(self, x: Tensor, skip: Tensor, vector: Tensor) -> Tensor:
        gate, scale, shift = self.film(vector)[..., None, None].chunk(3, dim=1)  # each (N, c, 1, 1)
        x = self.norm(x + (1 + gate) * skip) * (1 + scale) + shift
        return self.up(F.silu(x))


class FrameDecoder(nn.Module):
    """A vector ``(N, width)``, the encoder's maps and the input blocks -> pixel blocks ``(N, 48, S/4, S/4)``.

    The output adds the noisy input scaled per channel by the vector (which knows the
    noise level): a learned skip, so near-clean frames need no reconstruction through
    the bottleneck.
    """

    def __init__(self, size: int, channels: int, width: int) -> None:
        super().__init__()
        c, self.side = channels, size // 8
        self.from_vector = nn.Linear(width, c * self.side**2)
        self.coarse = UpStage(c, width, nn.ConvTranspose2d(c, c, 2, stride=2))
        self.fine = UpStage(c, width, nn.Conv2d(c, 3 * PATCH**2, 3, padding=1))
        self.input_gate = _zero_linear(width, 3 * PATCH**2)

    def forward(self, vector: Tensor, maps: list[Tensor], blocks: Tensor) -> Tensor:
        fine, coarse = maps
        x = self.from_vector(vector).view(len(vector), -1, self.side, self.side)  # (N, c, S/8, S/8)
        x = self.coarse(x, coarse, vector)  # (N, c, S/4, S/4)
        return self.fine(x, fine, vector) + self.input_gate(vector)[..., None, None] * blocks  # (N, 48, S/4, S/4)


class VideoDenoiser(Denoiser):
    """Frames in, frames out: ``(B, T, 3·S²)`` noisy frames -> ``(B, T, 3·S²)`` prediction."""

    def __init__(self, config: DenoiserConfig, token_dim: int, cond_dim: int, token_cond_dim: int, levels: int) -> None:
        super().__init__(token_dim, cond_dim, token_cond_dim, levels)
        size, w = config.frame_size, config.width
        if token_dim != 3 * size * size:
            raise ValueError(f"video tokens of {size}x{size} RGB frames have {3 * size * size} features, got {token_dim}")
        if cond_dim not in (0, token_dim):
            raise ValueError(f"the video conditioning is a frame ({token_dim} features) or nothing, got {cond_dim}")
        self.size = size
        self.encoder = FrameEncoder(size, config.channels, w)
        self.decoder = FrameDecoder(size, config.channels, w)
        inner = dataclasses.replace(config, backbone="transformer")
        self.temporal = TransformerDenoiser(inner, w, w if cond_dim else 0, token_cond_dim, levels)

    def _images(self, x: Tensor) -> Tensor:
        """Flat frames ``(..., S·S·3)`` -> 4x4 pixel blocks folded into channels ``(N, 48, S/4, S/4)``."""
        n = self.size // PATCH
        blocks = x.reshape(-1, n, PATCH, n, PATCH, 3).permute(0, 2, 4, 5, 1, 3)  # (N, 4, 4, 3, S/4, S/4)
        return blocks.reshape(-1, 3 * PATCH**2, n, n)

    def _frames(self, blocks: Tensor) -> Tensor:
        """Inverse of :meth:`_images`: ``(N, 48, S/4, S/4)`` -> flat frames ``(N, S·S·3)``."""
        n = self.size // PATCH
        return blocks.reshape(-1, PATCH, PATCH, 3, n, n).permute(0, 4, 1, 5, 2, 3).reshape(len(blocks), -1)

    def _encode_cond(self, cond: Tensor | None) -> Tensor | None:
        return self.encoder(self._images(cond))[0] if self.cond_dim and cond is not None else None

    def forward(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
                cache: Cache | None = None) -> Tensor:
        self.check_inputs(x, k, cond, token_cond, cache)
        batch, length = x.shape[:2]
        blocks = self._images(x)  # (B·T, 48, S/4, S/4)
        vectors, maps = self.encoder(blocks)  # (B·T, W), per-frame maps
        h = self.temporal(vectors.view(batch, length, -1), k, self._encode_cond(cond), token_cond, cache)  # (B, T, W)
        blocks = self.decoder(h.reshape(batch * length, -1), maps, blocks)  # (B·T, 48, S/4, S/4)
        return self._frames(blocks).view(batch, length, self.token_dim)

    def encode(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
               cache: Cache | None = None) -> Cache:
        self.check_inputs(x, k, cond, token_cond, cache)
        vectors = self.encoder(self._images(x))[0].view(*x.shape[:2], -1)
        return self.temporal.encode(vectors, k, self._encode_cond(cond), token_cond, cache)
