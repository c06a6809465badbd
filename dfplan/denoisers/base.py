"""The one interface every causal backbone implements, and its configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

BACKBONES = ("rnn", "transformer", "video")


@dataclass(frozen=True)
class DenoiserConfig:
    """Backbone architecture (the data dimensions are filled in from the token layout)."""

    backbone: str = "transformer"  # rnn | transformer | video (conv frame encoder/decoder around the transformer)
    width: int = 128  # hidden width of every layer
    depth: int = 3  # transformer blocks, or residual blocks in each of the rnn's two MLPs
    heads: int = 4  # attention heads (transformer only)
    latent: int = 256  # GRU latent size z_t (rnn only)
    dropout: float = 0.0  # dropout inside residual / attention blocks
    causal: bool = True  # attention sees only the past (False: full-sequence baseline; transformer/video only)
    frame_size: int = 32  # video only: tokens are frame_size x frame_size RGB frames (a multiple of 8)
    channels: int = 32  # video only: conv channels of the frame encoder/decoder

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; valid: {', '.join(BACKBONES)}")
        if self.width < 1 or self.depth < 0 or self.latent < 1 or self.heads < 1:
            raise ValueError("width, latent and heads must be >= 1 and depth >= 0")
        if self.backbone != "rnn" and self.width % (2 * self.heads):
            raise ValueError(f"width {self.width} must be divisible by 2·heads ({2 * self.heads}) for rotary attention")
        if self.backbone == "rnn" and not self.causal:
            raise ValueError("the rnn backbone is causal by construction; causal=False needs transformer or video")
        if self.backbone == "video" and (self.frame_size < 8 or self.frame_size % 8 or self.channels < 1):
            raise ValueError(f"video needs frame_size a positive multiple of 8 and channels >= 1, "
                             f"got {self.frame_size} and {self.channels}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class Cache:
    """What a backbone remembers of a clean (or lightly noised) past.

    rnn: ``tensors = [z]`` the latent ``(B, latent)`` after the past;
    transformer: ``tensors = [k_0, v_0, k_1, v_1, ...]`` per layer ``(B, heads, L, head_dim)``,
    ``length`` = number of cached positions (the conditioning token included).
    """

    tensors: list[Tensor]
    length: int

    def map(self, fn: Callable[[Tensor], Tensor]) -> Cache:
        """Apply ``fn`` to every cached tensor along the batch dim (e.g. repeat for MCG)."""
        return Cache([fn(t) for t in self.tensors], self.length)


class Denoiser(nn.Module):
    """Causal denoiser: the output at token ``t`` depends only on tokens ``<= t``
    (a transformer or video backbone built with ``causal=False`` attends to the whole window).

    ``forward(x (B, T, D) noisy tokens, k (B, T) integer levels, cond (B, C) | None,
    token_cond (B, T, Ct) | None, cache) -> (B, T, D)`` prediction (x0, epsilon or v as
    configured in the noise schedule; the network does not know which).
    ``encode(...)`` runs the same inputs and returns the :class:`Cache` after them, so a
    clean past is processed once and reused for every row of a scheduling matrix.
    """

    def __init__(self, token_dim: int, cond_dim: int, token_cond_dim: int, levels: int) -> None:
        super().__init__()
        self.token_dim, self.cond_dim, self.token_cond_dim, self.levels = token_dim, cond_dim, token_cond_dim, levels

    def check_inputs(self, x: Tensor, k: Tensor, cond: Tensor | None, token_cond: Tensor | None, cache: Cache | None) -> None:
        """Shape checks with messages a user can act on."""
        if x.dim() != 3 or x.shape[-1] != self.token_dim:
            raise ValueError(f"x must be (B, T, {self.token_dim}), got {tuple(x.shape)}")
        if k.shape != x.shape[:2]:
            raise ValueError(f"k must be (B, T) = {tuple(x.shape[:2])}, got {tuple(k.shape)}")
        if cache is None and self.cond_dim and (cond is None or cond.shape != (x.shape[0], self.cond_dim)):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"cond must be (B, {self.cond_dim}) = ({x.shape[0]}, {self.cond_dim}), got {got}")
        if self.token_cond_dim and (token_cond is None or token_cond.shape != (*x.shape[:2], self.token_cond_dim)):
            got = None if token_cond is None else tuple(token_cond.shape)
            raise ValueError(f"token_cond must be (B, T, {self.token_cond_dim}), got {got}")

    def encode(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
               cache: Cache | None = None) -> Cache:
        raise NotImplementedError
