"""Training noise patterns: which noise level each token of a training window gets.

Diffusion Forcing and its two baselines differ only here (Chen et al. 2024, Sec. 3 and
Fig. 2), so they train the same network on the same data through the same loss:

* ``independent`` — Diffusion Forcing, Algorithm 1: ``k_t ~ U{0..K}`` independently for
  every token; tokens drawn at level 0 are clean context and are not scored.
* ``teacher_forcing`` — next-token diffusion on a clean past: per window one position
  ``t ~ U{0..T-1}``; tokens before it at level 0, token ``t`` at ``k ~ U{1..K}``, tokens
  after it at ``K`` (a causal model never sees them); only token ``t`` is scored.
* ``full_sequence`` — standard video diffusion: one ``k ~ U{1..K}`` for the whole window,
  every token scored (paired with a non-causal backbone for the classic baseline).
"""

from __future__ import annotations

import torch
from torch import Tensor

NOISE_PATTERNS = ("independent", "teacher_forcing", "full_sequence")


def check_pattern(pattern: str) -> None:
    """Raise ``ValueError`` listing the valid patterns for an unknown name."""
    if pattern not in NOISE_PATTERNS:
        raise ValueError(f"unknown noise pattern {pattern!r}; valid: {', '.join(NOISE_PATTERNS)}")


def draw_levels(pattern: str, batch: int, length: int, levels: int, *, device: torch.device | str = "cpu",
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Training levels ``k (B, T)`` (int64 in ``0..K``) and which tokens are scored ``(B, T)`` bool."""
    check_pattern(pattern)
    if pattern == "independent":
        k = torch.randint(0, levels + 1, (batch, length), generator=generator, device=device)
        return k, k > 0
    one = torch.randint(1, levels + 1, (batch, 1), generator=generator, device=device)  # (B, 1)
    if pattern == "full_sequence":
        return one.expand(batch, length).contiguous(), torch.ones(batch, length, dtype=torch.bool, device=device)
    target = torch.randint(0, length, (batch, 1), generator=generator, device=device)  # (B, 1)
    position = torch.arange(length, device=device)[None, :]  # (1, T)
    k = torch.where(position < target, 0, torch.where(position == target, one, levels))
    return k, position == target
