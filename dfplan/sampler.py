"""Diffusion Forcing sampling over a scheduling matrix, with guidance and MCG (Algorithm 2).

The sampler walks the matrix row by row. In each row every token moves from its own
level ``K[m, t]`` to ``K[m+1, t]`` in one stateless DDIM step; the causal denoiser sees
the whole row at once (a single forward pass for the transformer).

Guidance (classifier-guidance form, Dhariwal & Nichol 2021, eq. 14 rewritten for a
cost ``c``): the cost is evaluated on the *predicted clean plan* in raw units, its
gradient is taken w.r.t. the *noisy* tokens of the current row, so a cost on late tokens
steers earlier ones through the causal model, and the noise estimate becomes
``eps + scale · sqrt(1 - alpha_bar_k) · ∇_x c``.

Monte Carlo Guidance (Sec. 3.4): tokens still at pure noise are the uncertain future.
With ``mcg_samples = N`` the row is evaluated on N copies whose future tokens are
independent fresh noise draws (copy 0 is the actual sample); the cost is averaged over
the N futures before differentiating, so the guidance on every token is the expected
gradient over sampled futures.

Known tokens (replacement conditioning, as Diffuser imposes start and goal): tokens
marked in ``known_mask`` are overwritten after every row by the given raw values
forward-diffused to the row's level, so a model that cannot cache a past (a
non-causal, full-sequence one) is conditioned on frames inside its window. The guidance cost
reads them at their imposed values (no gradient through the model's prediction of them). In a
causal model a known token conditions the tokens after it, never those before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dfplan import scheduling
from dfplan.denoisers import Cache
from dfplan.model import DiffusionForcing

Cost = Callable[[Tensor], Tensor]
"""A differentiable cost on raw predicted clean tokens ``(B, T, D) -> (B,)``; lower is better."""


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling-time settings: change freely without retraining."""

    num_steps: int = 50  # DDIM sampling steps S (the matrix is written in these units)
    schedule: str = "pyramid"  # full_sequence | autoregressive | pyramid | trapezoid
    uncertainty: float = 1.0  # pyramid/trapezoid: extra steps of noise per token further out
    eta: float = 0.0  # DDIM stochasticity (0 = deterministic DDIM, 1 = DDPM-like)
    guidance_scale: float = 1.0  # strength of cost guidance when a cost is given (0 = unguided); the one default — a shipped planner stores its own
    mcg_samples: int = 1  # Monte Carlo Guidance: sampled futures averaged per guidance step
    stabilization_level: int = 0  # noise level (0..K) at which context tokens are fed

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if self.schedule not in scheduling.SCHEDULES:
            raise ValueError(f"unknown scheduling matrix {self.schedule!r}; valid: {', '.join(scheduling.SCHEDULES)}")
        if self.mcg_samples < 1:
            raise ValueError(f"mcg_samples must be >= 1, got {self.mcg_samples}")
        if self.guidance_scale < 0 or self.eta < 0 or self.stabilization_level < 0:
            raise ValueError("guidance_scale, eta and stabilization_level must be >= 0")


def _repeat(t: Tensor | None, n: int) -> Tensor | None:
    return t if t is None or n == 1 else t.repeat(n, *([1] * (t.dim() - 1)))


def _check_finite(name: str, t: Tensor | None) -> None:
    if t is not None and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf")


@torch.no_grad()
def encode_context(model: DiffusionForcing, cond: Tensor, context: Tensor | None,
                   context_token_cond: Tensor | None, stabilization_level: int,
                   generator: torch.Generator | None) -> Cache | None:
    """Run the past once: raw context tokens ``(B, Tc, D)`` fed at ``stabilization_level``."""
    if context is None:
        return None
    _check_finite("context", context)
    if stabilization_level > model.schedule.levels:
        raise ValueError(f"stabilization_level must be <= {model.schedule.levels}")
    ctx = model.normalizer.normalize(context)
    k_ctx = torch.full(ctx.shape[:2], stabilization_level, dtype=torch.long, device=ctx.device)
    noise = torch.randn(ctx.shape, generator=generator, device=ctx.device, dtype=ctx.dtype)
    ctx = model.schedule.q_sample(ctx, k_ctx, noise)
    return model.denoiser.encode(ctx, k_ctx, model.normalizer.normalize_obs(cond), context_token_cond)


def sample(
    model: DiffusionForcing,
    cond: Tensor,
    horizon: int,
    config: SamplerConfig | None = None,
    *,
    cost: Cost | None = None,
    context: Tensor | None = None,
    token_cond: Tensor | None = None,
    context_token_cond: Tensor | None = None,
    matrix: np.ndarray | None = None,
    known: Tensor | None = None,
    known_mask: Tensor | None = None,
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
    on_row: Callable[[int, Tensor, Tensor], None] | None = None,
) -> Tensor:
    """Sample ``horizon`` tokens after the conditioning (and optional context).

    ``cond (B, O)``: raw observation before the first token (before the context, if any).
    ``context (B, Tc, D)``: raw clean past tokens (fed at ``stabilization_level``).
    ``token_cond (B, horizon, Ct)``: clean per-token conditioning, if the model has any.
    ``matrix``: a user scheduling matrix ``(M+1, horizon)`` in DDIM steps, overriding
    ``config.schedule``. ``known (B, horizon, D)`` raw tokens imposed where
    ``known_mask (B, horizon)`` is true (replacement conditioning). ``init (B, horizon, D)``:
    raw tokens a warm-start ``matrix`` (:func:`dfplan.scheduling.warm_start`) starts from —
    each token is noised to its level in the matrix's first row (tokens at ``S`` start
    from pure noise). ``on_row(m, x0, k_to)`` (when given) sees every row ``m`` of the matrix: the
    raw clean-token prediction ``x0 (B, horizon, D)`` that row stepped with and the levels
    ``k_to (B, horizon)`` it left the tokens at — how far the plan still moves, row by row.
    Returns raw tokens ``(B, horizon, D)``.
    """
    config = config or SamplerConfig()
    if cond.dim() != 2 or cond.shape[1] != model.layout.obs_dim:
        raise ValueError(f"cond must be (B, {model.layout.obs_dim}), got {tuple(cond.shape)}")
    _check_finite("cond", cond)
    steps = config.num_steps
    if matrix is None:
        matrix = scheduling.build(config.schedule, horizon, steps, config.uncertainty)
    else:
        matrix = scheduling.from_array(matrix, horizon, steps, warm=init is not None)
    schedule, device = model.schedule, cond.device
    levels = schedule.level_from_step(torch.from_numpy(matrix), steps).to(device)  # (M+1, T)
    batch, dim = cond.shape[0], model.layout.token_dim
    guided = cost is not None and config.guidance_scale > 0

    cache = encode_context(model, cond, context, context_token_cond, config.stabilization_level, generator)
    c = model.normalizer.normalize_obs(cond)
    x = torch.randn((batch, horizon, dim), generator=generator, device=device)
    if init is not None:
        if init.shape != (batch, horizon, dim):
            raise ValueError(f"init must be (B, horizon, D) = {(batch, horizon, dim)}, got {tuple(init.shape)}")
        _check_finite("init", init)
        start = levels[0].expand(batch, horizon)
        warm = (start < schedule.levels)[..., None]
        x = torch.where(warm, schedule.q_sample(model.normalizer.normalize(init), start, x), x)
    rows = RowInputs.build(c, token_cond, cache, config.mcg_samples if guided else 1)
    if known is not None or known_mask is not None:
        known = _check_known(model, known, known_mask, (batch, horizon, dim))
        x = _impose_known(model, x, known, known_mask, levels[0].expand(batch, horizon), generator)
        if guided:  # the cost reads known tokens as imposed, not as the model predicts them from noise
            cost = _with_known(cost, model.normalizer.unnormalize(known), known_mask)

    for m in range(len(levels) - 1):
        k_from = levels[m].expand(batch, horizon)
        k_to = levels[m + 1].expand(batch, horizon)
        if torch.equal(k_from, k_to):
            continue
        x = denoise_row(model, x, k_from, k_to, rows, cost if guided else None, config.guidance_scale, config.eta,
                        generator, on_x0=None if on_row is None else
                        (lambda x0, m=m, k=k_to: on_row(m, model.normalizer.unnormalize(x0), k)))
        if known is not None:
            x = _impose_known(model, x, known, known_mask, k_to, generator)
    return model.normalizer.unnormalize(x)


@dataclass(frozen=True)
class RowInputs:
    """What every row of one sampling run conditions on: the normalized observation ``c (B, O)``,
    the per-token conditioning and the context cache, and their copies for ``mcg`` futures."""

    c: Tensor
    token_cond: Tensor | None
    cache: Cache | None
    mcg: int = 1
    c_n: Tensor | None = None
    token_cond_n: Tensor | None = None
    cache_n: Cache | None = None

    @classmethod
    def build(cls, c: Tensor, token_cond: Tensor | None, cache: Cache | None, mcg: int = 1) -> RowInputs:
        return cls(c, token_cond, cache, mcg, _repeat(c, mcg), _repeat(token_cond, mcg),
                   cache.map(lambda t: _repeat(t, mcg)) if cache is not None else None)

    def repeat(self, n: int) -> RowInputs:
        """The same inputs for ``n`` plans per batch row (row ``b`` becomes rows ``b·n .. b·n + n − 1``)."""
        def rep(t):
            return None if t is None else t.repeat_interleave(n, dim=0)
        return RowInputs.build(rep(self.c), rep(self.token_cond),
                               self.cache.map(rep) if self.cache is not None else None, self.mcg)


def denoise_row(model: DiffusionForcing, x: Tensor, k_from: Tensor, k_to: Tensor, rows: RowInputs,
                cost: Cost | None, guidance_scale: float | Tensor, eta: float,
                generator: torch.Generator | None, on_x0: Callable[[Tensor], None] | None = None) -> Tensor:
    """One row of the scheduling matrix: every token of normalized ``x (B, T, D)`` from its level
    ``k_from (B, T)`` to ``k_to``, guided by ``cost`` (None: unguided) at ``guidance_scale`` — a
    float, or one scale per batch row ``(B,)`` (the search's branches). ``on_x0`` (when given)
    receives the row's normalized clean-token prediction."""
    schedule = model.schedule
    if cost is None:
        with torch.no_grad():
            out = model.denoiser(x, k_from, rows.c, rows.token_cond, rows.cache)
        if on_x0 is not None:
            on_x0(_row_x0(schedule, x, k_from, out))
        return schedule.step(x, out, k_from, k_to, eta, generator)
    out, grad = _guided_prediction(model, x, k_from, rows.c_n, rows.token_cond_n, rows.cache_n, cost, rows.mcg,
                                   generator)
    if on_x0 is not None:
        on_x0(_row_x0(schedule, x, k_from, out.detach()))
    eps = schedule.to_epsilon(x, k_from, out)
    sigma = (1 - schedule.alpha_bar.to(x.device)[k_from]).sqrt().to(x.dtype)[..., None]
    scale = torch.as_tensor(guidance_scale, dtype=x.dtype, device=x.device)
    scale = scale.reshape(-1, 1, 1) if scale.dim() else scale
    return schedule.step(x, out, k_from, k_to, eta, generator, eps=eps + scale * sigma * grad)


def _row_x0(schedule, x: Tensor, k: Tensor, out: Tensor) -> Tensor:
    """A row's clean-token estimate: the network's for noisy tokens, the token itself where already clean."""
    return torch.where((k == 0)[..., None], x, schedule.to_x0(x, k, out))


def _check_known(model: DiffusionForcing, known: Tensor | None, known_mask: Tensor | None,
                 shape: tuple[int, int, int]) -> Tensor:
    """Validate replacement inputs; returns ``known`` normalized."""
    if known is None or tuple(known.shape) != shape:
        raise ValueError(f"known must be (B, horizon, D) = {shape}, got {None if known is None else tuple(known.shape)}")
    if known_mask is None or tuple(known_mask.shape) != shape[:2] or known_mask.dtype != torch.bool:
        got = None if known_mask is None else (tuple(known_mask.shape), known_mask.dtype)
        raise ValueError(f"known_mask must be a bool tensor (B, horizon) = {shape[:2]}, got {got}")
    _check_finite("known", known)
    return model.normalizer.normalize(known)


def _with_known(cost: Cost, known: Tensor, known_mask: Tensor) -> Cost:
    """``cost`` of the plan with raw ``known`` tokens in place where ``known_mask``: they count at their
    imposed values and carry no gradient, so they steer no other token through the model's
    (noisy) predictions of them."""
    return lambda x0: cost(torch.where(known_mask[..., None], known, x0))


def _impose_known(model: DiffusionForcing, x: Tensor, known: Tensor, known_mask: Tensor, k: Tensor,
                  generator: torch.Generator | None) -> Tensor:
    """Normalized ``known`` tokens forward-diffused to their level ``k (B, T)`` replace ``x`` where masked."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return torch.where(known_mask[..., None], model.schedule.q_sample(known, k, noise), x)


def _guided_prediction(model: DiffusionForcing, x: Tensor, k: Tensor, cond: Tensor, token_cond: Tensor | None,
                       cache: Cache | None, cost: Cost, samples: int,
                       generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Model output for ``x`` and the MCG-averaged cost gradient w.r.t. ``x`` (both ``(B, T, D)``)."""
    batch = x.shape[0]
    copies = x.detach().unsqueeze(0).repeat(samples, 1, 1, 1)  # (N, B, T, D)
    if samples > 1:
        future = (k == model.schedule.levels)[None, ..., None]  # pure-noise tokens: the uncertain future
        fresh = torch.randn(copies[1:].shape, generator=generator, device=x.device, dtype=x.dtype)
        copies[1:] = torch.where(future, fresh, copies[1:])
    copies.requires_grad_(True)
    flat = copies.reshape(samples * batch, *x.shape[1:])
    k_flat = k.repeat(samples, 1)
    with torch.enable_grad():
        out = model.denoiser(flat, k_flat, cond, token_cond, cache)
        x0 = model.normalizer.unnormalize(model.schedule.to_x0(flat, k_flat, out))
        costs = torch.stack([cost(x0_copy) for x0_copy in x0.reshape(samples, batch, *x.shape[1:])])  # (N, B)
        if costs.shape != (samples, batch):
            raise ValueError(f"cost must return shape (B,) = ({batch},), got {tuple(costs.shape[1:])}")
        (grad,) = torch.autograd.grad(costs.mean(0).sum(), copies)
    return out.reshape(samples, batch, *x.shape[1:])[0].detach(), grad.sum(0)
