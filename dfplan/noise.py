"""Noise schedule: betas, forward diffusion, prediction conversions and a per-token DDIM step.

All noise math lives here; the denoisers know nothing of it (STYLE.md).

Conventions
-----------
* Noise *levels* ``k`` are integers in ``{0, 1, ..., K}``. Level 0 is the clean token,
  level ``K`` is (almost) pure noise: ``alpha_bar[0] = 1`` and
  ``alpha_bar[k] = prod_{i=1..k} (1 - beta_i)`` (DDPM, Ho et al. 2020, eq. 4).
* Every function takes levels per token, shape ``(B, T)``, so each token can sit at its
  own level (Diffusion Forcing, Chen et al. 2024, Sec. 3.2).
* Sampling runs over a smaller number of DDIM *steps* ``S`` (default 50). A scheduling
  matrix is written in steps ``s in {0..S}``; :meth:`NoiseSchedule.level_from_step`
  maps step ``s`` to level ``round(s * K / S)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

BETA_SCHEDULES = ("linear", "cosine", "sigmoid")
PREDICTIONS = ("x0", "epsilon", "v")
LOSS_WEIGHTINGS = ("constant", "min_snr")


@dataclass(frozen=True)
class NoiseConfig:
    """Diffusion process settings (training-time; sampling settings live in SamplerConfig)."""

    levels: int = 1000  # K: number of training noise levels
    beta_schedule: str = "linear"  # linear | cosine | sigmoid
    prediction: str = "x0"  # what the network outputs: x0 | epsilon | v
    loss_weighting: str = "constant"  # constant | min_snr
    min_snr_gamma: float = 5.0  # clip value for min-SNR weighting (Hang et al. 2023)

    def __post_init__(self) -> None:
        _check_choice("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
        _check_choice("prediction", self.prediction, PREDICTIONS)
        _check_choice("loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)
        if self.levels < 2:
            raise ValueError(f"levels must be >= 2, got {self.levels}")
        if self.min_snr_gamma <= 0:
            raise ValueError(f"min_snr_gamma must be > 0, got {self.min_snr_gamma}")


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(choices)}")


def make_betas(schedule: str, levels: int) -> Tensor:
    """Betas ``(K,)`` in float64 for the named schedule.

    * ``linear``: 1e-4 .. 2e-2 scaled to K (Ho et al. 2020).
    * ``cosine``: from ``alpha_bar(t) = cos²((t/K + s)/(1 + s)·π/2)``, s = 0.008,
      betas clipped at 0.999 (Nichol & Dhariwal 2021, eq. 17).
    * ``sigmoid``: alpha_bar follows a sigmoid from ``start=-3`` to ``end=3`` (Jabri et al. 2022).
    """
    _check_choice("beta_schedule", schedule, BETA_SCHEDULES)
    if schedule == "linear":
        scale = 1000.0 / levels
        return torch.linspace(scale * 1e-4, scale * 2e-2, levels, dtype=torch.float64)
    t = torch.linspace(0, 1, levels + 1, dtype=torch.float64)
    if schedule == "cosine":
        s = 0.008
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    else:
        start, end, tau = -3.0, 3.0, 1.0
        v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
        v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
        f = (-torch.sigmoid((t * (end - start) + start) / tau) + v_end) / (v_end - v_start)
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(0.0, 0.999)


class NoiseSchedule:
    """The forward process and its conversions for per-token noise levels.

    Holds ``alpha_bar`` of shape ``(K+1,)`` (index 0 = clean). Tensors are cast to the
    dtype/device of the inputs on use, so one schedule serves CPU and GPU.
    """

    def __init__(self, config: NoiseConfig | None = None) -> None:
        self.config = config or NoiseConfig()
        betas = make_betas(self.config.beta_schedule, self.config.levels)
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])  # (K+1,)
        self.alpha_bar = torch.cumprod(1 - self.betas, dim=0)  # (K+1,), alpha_bar[0] = 1

    @property
    def levels(self) -> int:
        return self.config.levels

    # ------------------------------------------------------------------ lookups
    def _ab(self, k: Tensor, like: Tensor) -> Tensor:
        """``alpha_bar[k]`` broadcast to ``like``'s trailing feature dims: (B, T) -> (B, T, 1...)."""
        if k.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"noise levels must be an integer tensor, got {k.dtype}")
        if k.numel() and (int(k.min()) < 0 or int(k.max()) > self.levels):
            raise ValueError(f"noise levels must lie in [0, {self.levels}], got {k.min()}..{k.max()}")
        ab = self.alpha_bar.to(like.device)[k.long()].to(like.dtype)
        return ab.reshape(*k.shape, *([1] * (like.dim() - k.dim())))

    def snr(self, k: Tensor) -> Tensor:
        """Signal-to-noise ratio ``alpha_bar / (1 - alpha_bar)`` per level (inf at k=0)."""
        ab = self.alpha_bar.to(k.device)[k.long()]
        return ab / (1 - ab)

    def level_from_step(self, steps: Tensor, num_steps: int) -> Tensor:
        """Map DDIM sampling steps ``s in {0..S}`` to training levels ``round(s·K/S)``."""
        if num_steps < 1 or num_steps > self.levels:
            raise ValueError(f"num_steps must be in [1, {self.levels}], got {num_steps}")
        steps = torch.as_tensor(steps)
        if steps.numel() and (int(steps.min()) < 0 or int(steps.max()) > num_steps):
            raise ValueError(f"sampling steps must lie in [0, {num_steps}]")
        return torch.round(steps.double() * self.levels / num_steps).long()

    # ------------------------------------------------------------------ forward process
    def q_sample(self, x0: Tensor, k: Tensor, noise: Tensor) -> Tensor:
        """Forward diffusion ``x_k = sqrt(ab_k)·x0 + sqrt(1-ab_k)·eps`` (DDPM eq. 4), per token."""
        ab = self._ab(k, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    # ------------------------------------------------------------------ conversions
    def to_x0(self, x: Tensor, k: Tensor, model_out: Tensor) -> Tensor:
        """Clean-token estimate from the network output, whatever ``prediction`` it makes."""
        pred = self.config.prediction
        if pred == "x0":
            return model_out
        ab = self._ab(k, x)
        if pred == "epsilon":
            return (x - (1 - ab).sqrt() * model_out) / ab.sqrt()
        return ab.sqrt() * x - (1 - ab).sqrt() * model_out  # v (Salimans & Ho 2022)

    def to_epsilon(self, x: Tensor, k: Tensor, model_out: Tensor) -> Tensor:
        """Noise estimate from the network output. Tokens at level 0 get zero noise."""
        pred = self.config.prediction
        ab = self._ab(k, x)
        if pred == "epsilon":
            eps = model_out
        elif pred == "x0":
            eps = (x - ab.sqrt() * model_out) / (1 - ab).sqrt().clamp_min(1e-12)
        else:
            eps = (1 - ab).sqrt() * x + ab.sqrt() * model_out
        return torch.where(ab >= 1, torch.zeros_like(eps), eps)

    def epsilon_to_x0(self, x: Tensor, k: Tensor, eps: Tensor) -> Tensor:
        """``x0 = (x - sqrt(1-ab)·eps) / sqrt(ab)``."""
        ab = self._ab(k, x)
        return (x - (1 - ab).sqrt() * eps) / ab.sqrt()

    def target(self, x0: Tensor, k: Tensor, noise: Tensor) -> Tensor:
        """The regression target for the configured prediction type."""
        pred = self.config.prediction
        if pred == "x0":
            return x0
        if pred == "epsilon":
            return noise
        ab = self._ab(k, x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def loss_weight(self, k: Tensor) -> Tensor:
        """Per-token loss weight ``(B, T)``: constant 1, or min-SNR-γ (Hang et al. 2023, eq. 8).

        Min-SNR weights are expressed for the configured prediction type so that every
        objective is weighted as ``min(SNR, γ)`` in x0 space.
        """
        if self.config.loss_weighting == "constant":
            return torch.ones(k.shape, device=k.device)
        snr = self.snr(k).float()
        clipped = torch.minimum(snr, torch.full_like(snr, self.config.min_snr_gamma))
        pred = self.config.prediction
        if pred == "x0":
            weight = clipped
        elif pred == "epsilon":
            weight = clipped / snr
        else:
            weight = clipped / (snr + 1)
        return torch.where(torch.isfinite(weight), weight, torch.ones_like(weight))

    # ------------------------------------------------------------------ sampling
    def step(
        self,
        x: Tensor,
        model_out: Tensor,
        k_from: Tensor,
        k_to: Tensor,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        eps: Tensor | None = None,
    ) -> Tensor:
        """One stateless DDIM step moving every token from its own level to its own next level.

        ``x, model_out``: ``(B, T, D)``; ``k_from, k_to``: ``(B, T)`` integer levels with
        ``k_to <= k_from``. Implements DDIM (Song et al. 2021, eq. 12) per token::

            x_to = sqrt(ab_to)·x0 + sqrt(1 - ab_to - σ²)·eps + σ·w,
            σ    = eta · sqrt((1-ab_to)/(1-ab_from)) · sqrt(1 - ab_from/ab_to)

        Tokens with ``k_to == k_from`` are returned unchanged; tokens reaching level 0 become
        the clean estimate. ``eps`` optionally overrides the noise estimate (guidance), in
        which case ``x0`` is re-derived from it so the two stay consistent.
        """
        if x.shape != model_out.shape:
            raise ValueError(f"x {tuple(x.shape)} and model_out {tuple(model_out.shape)} differ")
        if k_from.shape != x.shape[:2] or k_to.shape != x.shape[:2]:
            raise ValueError(
                f"k_from {tuple(k_from.shape)} / k_to {tuple(k_to.shape)} must be (B, T) = {tuple(x.shape[:2])}"
            )
        if bool((k_to > k_from).any()):
            raise ValueError("k_to must be <= k_from for every token (denoising only)")
        if eps is None:
            x0 = self.to_x0(x, k_from, model_out)
            eps = self.to_epsilon(x, k_from, model_out)
        else:
            x0 = self.epsilon_to_x0(x, k_from, eps)
        ab_from, ab_to = self._ab(k_from, x), self._ab(k_to, x)
        sigma = eta * ((1 - ab_to) / (1 - ab_from).clamp_min(1e-12) * (1 - ab_from / ab_to)).clamp_min(0).sqrt()
        direction = (1 - ab_to - sigma**2).clamp_min(0).sqrt()
        x_to = ab_to.sqrt() * x0 + direction * eps
        if eta > 0:
            w = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x_to = x_to + sigma * w
        unchanged = (k_to == k_from).reshape(*k_to.shape, *([1] * (x.dim() - 2)))
        return torch.where(unchanged, x, x_to)
