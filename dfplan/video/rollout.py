"""Long video rollouts with a sliding window (Chen et al. 2024, Sec. 4.1 and Algorithm 2).

From ``context_frames`` given frames and one action per frame, frames are generated
``chunk`` at a time. Each window holds the conditioning frame (position 0), up to
``horizon - chunk`` of the latest frames as context, and the ``chunk`` new frames, so a
rollout of any length never shows the model a window longer than it was trained on. The
context enters the model in one of two ways, chosen by the model:

* causal models (``df``, ``teacher_forcing``): through the KV cache, fed at the sampler's
  ``stabilization_level`` — Diffusion Forcing's stabilization: the model is told its past
  is slightly noisy, so its own small errors are not taken as ground truth
  (teacher forcing uses level 0: a clean past, as it was trained). The default level,
  100 of K = 1000, was picked on U-Maze with a briefly trained model (2,000 steps of 8
  windows): in 200-frame rollouts of 16 held-out clips 98-99 % of frames stayed valid
  at levels 50-200 against 94-96 % at 20, and in 100-frame rollouts of 8 clips 89-96 %
  at level 0;
* non-causal models (``full_sequence``): as known tokens of the window, imposed at the
  current noise level after every row (replacement).

Within a window the new frames follow the sampler's scheduling matrix (``pyramid``,
``full_sequence``, ``autoregressive``, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dfplan.model import DiffusionForcing
from dfplan.sampler import SamplerConfig, sample
from dfplan.video.presets import check_method


@dataclass(frozen=True)
class RolloutConfig:
    """How a long video is generated (change freely without retraining)."""

    context_frames: int = 4  # ground-truth frames given first (the first one is the conditioning frame)
    chunk: int = 1  # frames generated per window; the window's context is the last horizon - chunk frames
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(num_steps=20, schedule="pyramid",
                                                                         stabilization_level=100))

    def __post_init__(self) -> None:
        if self.context_frames < 1 or self.chunk < 1:
            raise ValueError(f"context_frames and chunk must be >= 1, got {self.context_frames} and {self.chunk}")


def method_rollout(method: str, horizon: int) -> RolloutConfig:
    """Each method's own way to roll out: DF and teacher forcing one frame at a time on a
    stabilized / clean past; full-sequence diffusion whole windows after the given context."""
    check_method(method)
    base = RolloutConfig()
    if method == "teacher_forcing":
        return dataclasses.replace(base, sampler=dataclasses.replace(base.sampler, stabilization_level=0))
    if method == "full_sequence":
        chunk = max(1, horizon - (base.context_frames - 1))
        return dataclasses.replace(base, chunk=chunk, sampler=dataclasses.replace(base.sampler, schedule="full_sequence"))
    return base


@torch.no_grad()
def rollout(model: DiffusionForcing, context: Tensor, actions: Tensor, frames: int, config: RolloutConfig,
            generator: torch.Generator | None = None) -> Tensor:
    """Generate ``frames`` frames after ``context``.

    ``context (B, C, D)``: the given frames as tokens (``C >= 1``; frame 0 conditions the
    first window). ``actions (B, C + frames, A)``: the action leading to each frame (those of
    the context frames condition the context). Returns the generated tokens ``(B, frames, D)``.
    """
    horizon = model.config.horizon
    if context.dim() != 3 or context.shape[-1] != model.layout.token_dim or context.shape[1] < 1:
        raise ValueError(f"context must be (B, C >= 1, {model.layout.token_dim}), got {tuple(context.shape)}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    batch, given = context.shape[:2]
    if actions.shape != (batch, given + frames, model.config.token_cond_dim):
        raise ValueError(f"actions must be (B, C + frames, A) = ({batch}, {given + frames}, "
                         f"{model.config.token_cond_dim}), got {tuple(actions.shape)}")
    if config.chunk > horizon:
        raise ValueError(f"chunk {config.chunk} is longer than the model's training window ({horizon} frames)")
    causal = model.config.denoiser.causal
    video = list(context.unbind(1))  # frames so far, each (B, D)
    while len(video) < given + frames:
        new = min(config.chunk, given + frames - len(video))
        start = len(video)
        past = min(start - 1, horizon - new)  # context frames in this window
        cond = video[start - past - 1]
        past_frames = torch.stack(video[start - past : start], 1) if past else None  # (B, past, D)
        past_actions = actions[:, start - past : start]
        new_actions = actions[:, start : start + new]
        if causal:
            out = sample(model, cond, new, config.sampler, context=past_frames, token_cond=new_actions,
                         context_token_cond=past_actions if past else None, generator=generator)
        else:
            known = torch.zeros(batch, past + new, model.layout.token_dim, device=context.device)
            mask = torch.zeros(batch, past + new, dtype=torch.bool, device=context.device)
            if past:
                known[:, :past], mask[:, :past] = past_frames, True
            out = sample(model, cond, past + new, config.sampler, token_cond=actions[:, start - past : start + new],
                         known=known, known_mask=mask, generator=generator)[:, past:]
        video.extend(out.clamp(-1, 1).unbind(1))
    return torch.stack(video[given:], 1)
