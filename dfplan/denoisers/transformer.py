"""Causal transformer denoiser (Chen et al. 2024, Appendix B.1).

Every token carries its own noise-level embedding, so one forward pass denoises every
token of a scheduling-matrix row at once. The conditioning vector (first observation)
is a token at position 0. Attention is causal with rotary position embeddings, so a
KV cache of the clean past gives exactly the outputs of recomputing it, and a sliding
window of the last N tokens looks the same wherever it sits in time. With
``causal=False`` every token attends to the whole window (the full-sequence diffusion
baseline); such a model has no cache, since its past would see the future.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dfplan.denoisers.base import Cache, Denoiser, DenoiserConfig
from dfplan.denoisers.layers import LevelEmbedding

Rotation = tuple[Tensor, Tensor]
"""``(cos, sin)`` of the rotary angles, each ``(L, hs/2)``: computed once per forward pass."""


def rotation(positions: Tensor, head_size: int, dtype: torch.dtype) -> Rotation:
    """Rotary angles (Su et al. 2021) for ``positions (L,)`` and heads of ``head_size``."""
    half = head_size // 2
    freqs = 10_000.0 ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freqs[None, :]  # (L, hs/2)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotary(x: Tensor, rot: Rotation) -> Tensor:
    """Rotary position embedding on ``x (B, H, L, hs)`` with the angles of :func:`rotation`."""
    cos, sin = rot
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def attention_mask(length: int, past_len: int, causal: bool, device: torch.device) -> Tensor:
    """Which keys each of ``length`` new queries sees, ``(length, past_len + length)``: all of them, or,
    when ``causal``, query ``i`` (absolute position ``past_len + i``) sees keys ``0 .. past_len + i``.
    Built once per forward pass and shared by every block."""
    allowed = torch.ones(length, past_len + length, dtype=torch.bool, device=device)
    return allowed.tril(past_len) if causal else allowed


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, causal: bool = True) -> None:
        super().__init__()
        self.heads, self.dropout, self.causal = heads, dropout, causal
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor, rot: Rotation, past: tuple[Tensor, Tensor] | None,
                allowed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=-1)
        shape = (batch, length, self.heads, width // self.heads)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))  # (B, H, L, hs)
        q, k = rotary(q, rot), rotary(k, rot)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=drop)  # (B, H, L, hs)
        y = y.transpose(1, 2).reshape(batch, length, width)
        return self.proj(y), k, v


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, causal: bool = True) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, dropout, causal)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout))

    def forward(self, x: Tensor, rot: Rotation, past: tuple[Tensor, Tensor] | None,
                allowed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        attended, k, v = self.attn(self.norm1(x), rot, past, allowed)
        x = x + attended
        return x + self.mlp(self.norm2(x)), k, v


class TransformerDenoiser(Denoiser):
    def __init__(self, config: DenoiserConfig, token_dim: int, cond_dim: int, token_cond_dim: int, levels: int) -> None:
        super().__init__(token_dim, cond_dim, token_cond_dim, levels)
        w = config.width
        self.level_embed = LevelEmbedding(w, levels)
        self.token_in = nn.Linear(token_dim, w)
        self.token_cond_in = nn.Linear(token_cond_dim, w) if token_cond_dim else None
        self.cond_in = nn.Linear(max(cond_dim, 1), w)
        self.causal, self.heads = config.causal, config.heads
        self.blocks = nn.ModuleList([Block(w, config.heads, config.dropout, config.causal) for _ in range(config.depth)])
        self.norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, token_dim)

    def _run(self, x: Tensor, k: Tensor, cond: Tensor | None, token_cond: Tensor | None,
             cache: Cache | None) -> tuple[Tensor, Cache]:
        self.check_inputs(x, k, cond, token_cond, cache)
        h = self.token_in(x) + self.level_embed(k)  # (B, T, W)
        if self.token_cond_in is not None:
            h = h + self.token_cond_in(token_cond)
        offset = 0
        if cache is None:  # prepend the conditioning token at position 0
            c = cond if self.cond_dim else torch.zeros(x.shape[0], 1, device=x.device, dtype=x.dtype)
            h = torch.cat([self.cond_in(c).unsqueeze(1), h], dim=1)  # (B, 1+T, W)
        else:
            offset = cache.length
        length = h.shape[1]
        rot = rotation(torch.arange(offset, offset + length, device=x.device), h.shape[-1] // self.heads, h.dtype)
        allowed = attention_mask(length, offset, self.causal, x.device)
        new_tensors: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            past = None if cache is None else (cache.tensors[2 * i], cache.tensors[2 * i + 1])
            h, keys, values = block(h, rot, past, allowed)
            new_tensors += [keys, values]
        if cache is None:
            h = h[:, 1:]
        return h, Cache(new_tensors, offset + length)

    def forward(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
                cache: Cache | None = None) -> Tensor:
        h, _ = self._run(x, k, cond, token_cond, cache)
        return self.head(self.norm(h))  # (B, T, D)

    def encode(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
               cache: Cache | None = None) -> Cache:
        if not self.blocks:
            raise ValueError("a transformer with depth 0 has nothing to cache")
        if not self.causal:
            raise ValueError("a non-causal (full-sequence) transformer cannot cache a past, which would have to see "
                             "the future; pass the past as known tokens of the window (sampler `known`) instead")
        return self._run(x, k, cond, token_cond, cache)[1]
