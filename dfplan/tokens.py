"""Token layout: environment steps ``[a_t, r_t, o_{t+1}]`` stacked ``frame_stack`` at a time.

One *step* is the vector ``[a_t (A), r_t (1, optional), o_{t+1} (O)]``; one *token* is
``frame_stack`` consecutive steps concatenated, so a token has
``D = frame_stack · (A + R + O)`` features (Chen et al. 2024, Sec. 3.4: tokens
``x_t = [a_t, r_t, o_{t+1}]``; the paper stacks 10 steps per token on mazes).
The first observation ``o_0`` is not a token: it conditions the model.

``delta_dims = n`` stores the first ``n`` observation entries of every step as the step's
*displacement* ``o_{t+1}[:n] − o_t[:n]`` (the first step's from the conditioning observation):
a position in a large world (an AntMaze maze spans 20–30 units, an ant moves ~0.05 a step) is
then normalized by the spread of a step, not of the world, the plan starts where the agent is by
construction, and a planned jump shows as an outlier step. Raw tokens hold the displacements;
:meth:`TokenLayout.absolute` turns them back into positions from a start observation, and
:meth:`TokenLayout.to_tokens` builds them from positions given that start.
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
    delta_dims: int = 0  # the first delta_dims observation entries are stored as per-step displacements (0 = positions as they are)

    def __post_init__(self) -> None:
        for name in ("obs_dim", "frame_stack"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.action_dim < 0:
            raise ValueError(f"action_dim must be >= 0, got {self.action_dim}")
        if not 0 <= self.delta_dims <= self.obs_dim:
            raise ValueError(f"delta_dims must be in [0, obs_dim={self.obs_dim}], got {self.delta_dims}")

    @property
    def step_dim(self) -> int:
        """Features per environment step: ``A + R + O``."""
        return self.action_dim + int(self.use_reward) + self.obs_dim

    @property
    def token_dim(self) -> int:
        """Features per token: ``frame_stack · step_dim``."""
        return self.frame_stack * self.step_dim

    def to_tokens(self, actions: Tensor, rewards: Tensor | None, next_obs: Tensor, start: Tensor | None = None) -> Tensor:
        """Pack steps into tokens.

        ``actions (B, N, A)``, ``rewards (B, N)`` (ignored when ``use_reward`` is off),
        ``next_obs (B, N, O)`` with ``N`` a multiple of ``frame_stack`` -> ``(B, N/fs, D)``.
        ``start (B, O)``: the observation before the first step, needed (only) with ``delta_dims``.
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
        parts.append(self._displaced(next_obs, start))
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
        """Next observations ``o_{t+1}`` as ``(B, T·fs, O)``, as stored (with ``delta_dims``, their first
        entries are displacements: :meth:`absolute` first for positions)."""
        return self.to_steps(tokens)[..., self.action_dim + int(self.use_reward) :]

    def absolute(self, tokens: Tensor, start: Tensor) -> Tensor:
        """Tokens ``(B, T, D)`` with the ``delta_dims`` displacements summed into positions from
        ``start (B, O)`` (the observation before the first token); the tokens themselves without ``delta_dims``."""
        if not self.delta_dims:
            return tokens
        n, offset = self.delta_dims, self.action_dim + int(self.use_reward)
        if start.shape[-1] != self.obs_dim or start.shape[:-1] != tokens.shape[:-2]:
            raise ValueError(f"start must be (B, {self.obs_dim}) for tokens {tuple(tokens.shape)}, got {tuple(start.shape)}")
        steps = self.to_steps(tokens)
        positions = start[..., None, :n] + steps[..., offset : offset + n].cumsum(-2)
        steps = torch.cat([steps[..., :offset], positions, steps[..., offset + n :]], dim=-1)
        return steps.reshape(tokens.shape)

    def _displaced(self, next_obs: Tensor, start: Tensor | None) -> Tensor:
        """``next_obs (B, N, O)`` with the first ``delta_dims`` entries as per-step displacements from ``start (B, O)``."""
        if not self.delta_dims:
            return next_obs
        if start is None or start.shape != (*next_obs.shape[:-2], self.obs_dim):
            raise ValueError(f"delta_dims={self.delta_dims}: to_tokens needs start (B, {self.obs_dim}), the observation "
                             f"before the first step; got {None if start is None else tuple(start.shape)}")
        n = self.delta_dims
        previous = torch.cat([start[..., None, :n], next_obs[..., :-1, :n]], dim=-2)
        return torch.cat([next_obs[..., :n] - previous, next_obs[..., n:]], dim=-1)
