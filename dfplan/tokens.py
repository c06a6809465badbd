"""Token layout: environment steps ``[a_t, r_t, o_{t+1}]`` stacked ``frame_stack`` at a time.

One *step* is the vector ``[a_t (A), r_t (1, optional), o_{t+1} (O)]``; one *token* is
``frame_stack`` consecutive steps concatenated, so a token has
``D = frame_stack · (A + R + O)`` features (Chen et al. 2024, Sec. 3.4: tokens
``x_t = [a_t, r_t, o_{t+1}]``; the paper stacks 10 steps per token on mazes).
The first observation ``o_0`` is not a token: it conditions the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TokenLayout:
    """How raw environment arrays map to token features."""

    obs_dim: int  # O: observation size
    action_dim: int  # A: action size (0: observation-only tokens, e.g. video frames whose actions are token_cond)
    use_reward: bool = True  # include the reward channel r_t in each step
    frame_stack: int = 1  # environment steps per token

    def __post_init__(self) -> None:
        for name in ("obs_dim", "frame_stack"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.action_dim < 0:
            raise ValueError(f"action_dim must be >= 0, got {self.action_dim}")

    @property
    def step_dim(self) -> int:
        """Features per environment step: ``A + R + O``."""
        return self.action_dim + int(self.use_reward) + self.obs_dim

    @property
    def token_dim(self) -> int:
        """Features per token: ``frame_stack · step_dim``."""
        return self.frame_stack * self.step_dim

    def to_tokens(self, actions: Tensor, rewards: Tensor | None, next_obs: Tensor) -> Tensor:
        """Pack steps into tokens.

        ``actions (B, N, A)``, ``rewards (B, N)`` (ignored when ``use_reward`` is off),
        ``next_obs (B, N, O)`` with ``N`` a multiple of ``frame_stack`` -> ``(B, N/fs, D)``.
        """
        batch, steps = actions.shape[:2]
        if steps % self.frame_stack:
            raise ValueError(f"{steps} steps is not a multiple of frame_stack={self.frame_stack}")
        if actions.shape[-1] != self.action_dim or next_obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"expected actions (..., {self.action_dim}) and observations (..., {self.obs_dim}), "
                f"got {tuple(actions.shape)} and {tuple(next_obs.shape)}"
            )
        parts = [actions]
        if self.use_reward:
            if rewards is None:
                raise ValueError("this layout has a reward channel: pass rewards")
            parts.append(rewards.reshape(batch, steps, 1))
        parts.append(next_obs)
        stepwise = torch.cat(parts, dim=-1)  # (B, N, step_dim)
        return stepwise.reshape(batch, steps // self.frame_stack, self.token_dim)

    def to_steps(self, tokens: Tensor) -> Tensor:
        """``(B, T, D) -> (B, T·fs, step_dim)``."""
        if tokens.shape[-1] != self.token_dim:
            raise ValueError(f"tokens have {tokens.shape[-1]} features, layout expects {self.token_dim}")
        return tokens.reshape(*tokens.shape[:-2], tokens.shape[-2] * self.frame_stack, self.step_dim)

    def actions(self, tokens: Tensor) -> Tensor:
        """Actions ``(B, T·fs, A)`` from tokens ``(B, T, D)``."""
        return self.to_steps(tokens)[..., : self.action_dim]

    def rewards(self, tokens: Tensor) -> Tensor | None:
        """Rewards ``(B, T·fs)``, or ``None`` without a reward channel."""
        if not self.use_reward:
            return None
        return self.to_steps(tokens)[..., self.action_dim]

    def observations(self, tokens: Tensor) -> Tensor:
        """Next observations ``o_{t+1}`` as ``(B, T·fs, O)``."""
        return self.to_steps(tokens)[..., self.action_dim + int(self.use_reward) :]
