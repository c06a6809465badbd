"""Diffuser's trajectory diffusion (Janner et al. 2022, Sec. 3–4, maze2d setting).

A trajectory is ``H`` steps of ``[a_t, o_t]`` (actions first, then observations), each
feature scaled to [-1, 1] by its dataset min/max (a limits normalizer saved with the
weights, so a loaded model needs no dataset). The U-Net predicts the clean trajectory
``x0`` (``predict_epsilon=False``) under a cosine beta schedule; the loss is the (weighted)
MSE on ``x0``. Start and goal are imposed by *inpainting*: the observation channels of
step 0 and step ``H-1`` are overwritten with the given values on the noisy input, on the
prediction and after every denoising step (Sec. 4.2, "goal-conditioned RL as inpainting").
Sampling is DDPM ancestral sampling over all ``K`` levels with the predicted ``x0`` clipped
to [-1, 1]; one ancestral step is the project's per-token DDIM step from level ``k`` to
``k-1`` with ``eta = 1`` (:meth:`dfplan.noise.NoiseSchedule.step`), every token at the same
level. All noise math is :mod:`dfplan.noise`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from agents.diffuser.unet import TemporalUNet, UNetConfig
from dfplan.data import Trajectories
from dfplan.noise import NoiseConfig, NoiseSchedule
from dfplan.normalizer import Normalizer
from dfplan.tokens import TokenLayout


@dataclass(frozen=True)
class DiffuserConfig:
    """What a trained Diffuser model is: data dimensions, horizon, diffusion levels, U-Net."""

    horizon: int = 128  # H: planned env steps (Diffuser maze2d: 128 / 256 / 384 for U / M / L)
    diffusion_steps: int = 64  # K: diffusion levels, all used when sampling (64 / 256 / 256)
    obs_dim: int = 4  # O: x, y, vx, vy
    action_dim: int = 2  # A: force in x, y
    action_weight: float = 1.0  # loss weight of the first action (Diffuser maze2d: 1)
    clip_denoised: bool = True  # clip the predicted x0 to [-1, 1] while sampling
    unet: UNetConfig = field(default_factory=UNetConfig)  # temporal U-Net architecture

    def __post_init__(self) -> None:
        if self.obs_dim < 2 or self.action_dim < 1:
            raise ValueError("need obs_dim >= 2 (the goal is a position) and action_dim >= 1")
        if self.horizon < 2 or self.horizon % self.unet.horizon_multiple:
            raise ValueError(f"horizon must be >= 2 and divisible by {self.unet.horizon_multiple} "
                             f"(the U-Net's downsampling), got {self.horizon}")
        if self.diffusion_steps < 2:
            raise ValueError(f"diffusion_steps must be >= 2, got {self.diffusion_steps}")
        if self.action_weight <= 0:
            raise ValueError(f"action_weight must be > 0, got {self.action_weight}")

    @property
    def transition_dim(self) -> int:
        """Features per step: ``A + O``."""
        return self.action_dim + self.obs_dim


class TrajectoryDiffusion(nn.Module):
    """U-Net, limits normalizer and cosine noise schedule for ``[a, o]`` trajectories.

    Normalized-unit methods: :meth:`loss`, :meth:`condition`, :meth:`sample`.
    Raw-unit methods: :meth:`fit_normalizer`, :meth:`plan`.
    """

    def __init__(self, config: DiffuserConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DiffuserConfig()
        self.unet = TemporalUNet(config.transition_dim, config.unet)
        layout = TokenLayout(obs_dim=config.obs_dim, action_dim=config.action_dim, use_reward=False)
        self.normalizer = Normalizer(layout, mode="minmax")  # step features [a, o], like the trajectory
        self.schedule = NoiseSchedule(
            NoiseConfig(levels=config.diffusion_steps, beta_schedule="cosine", prediction="x0")
        )
        weights = torch.ones(config.horizon, config.transition_dim)
        weights[0, : config.action_dim] = config.action_weight
        self.register_buffer("loss_weights", weights, persistent=False)  # (H, D)

    @torch.no_grad()
    def fit_normalizer(self, observations: np.ndarray, actions: np.ndarray) -> TrajectoryDiffusion:
        """Fit the per-feature min/max on raw ``observations (N, O)`` and ``actions (N, A)``."""
        if observations.ndim != 2 or actions.ndim != 2 or len(observations) != len(actions) or not len(actions):
            raise ValueError(f"expected observations (N, O) and actions (N, A) with N > 0, "
                             f"got {observations.shape} and {actions.shape}")
        data = Trajectories(
            observations=np.concatenate([observations, observations[-1:]]).astype(np.float32),
            actions=actions.astype(np.float32),
            rewards=np.zeros(len(actions), np.float32),
            episode_lengths=np.array([len(actions)]),
        )
        self.normalizer.fit(data)
        return self

    # ------------------------------------------------------------------ normalized units
    def condition(self, x: Tensor, start: Tensor, goal: Tensor) -> Tensor:
        """Inpainting: ``x (B, H, D)`` with the observation channels of step 0 set to ``start (B, O)``
        and of step ``H-1`` to ``goal (B, O)`` (normalized); returns a new tensor."""
        dims = self.config.action_dim
        conditioned = x.clone()
        conditioned[:, 0, dims:] = start
        conditioned[:, -1, dims:] = goal
        return conditioned

    def loss(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Weighted MSE between the (conditioned) x0 prediction and normalized windows ``x0 (B, H, D)``.

        A level ``k ~ U{1..K}`` per window; the window's own first and last observations
        condition it (Diffuser's ``GoalDataset``).
        """
        batch, horizon, dims = x0.shape
        if (horizon, dims) != (self.config.horizon, self.config.transition_dim):
            raise ValueError(f"expected windows (B, {self.config.horizon}, {self.config.transition_dim}), "
                             f"got {tuple(x0.shape)}")
        levels = torch.randint(1, self.schedule.levels + 1, (batch,), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        start, goal = x0[:, 0, self.config.action_dim :], x0[:, -1, self.config.action_dim :]
        noisy = self.schedule.q_sample(x0, levels[:, None].expand(batch, horizon), noise)
        prediction = self.condition(self.unet(self.condition(noisy, start, goal), levels), start, goal)
        return ((prediction - x0) ** 2 * self.loss_weights).mean()

    @torch.no_grad()
    def x0_errors(self, x0: Tensor, level: int, generator: torch.Generator | None = None) -> tuple[float, float]:
        """Mean squared x0 error at diffusion ``level`` on normalized windows ``x0 (B, H, D)``:
        ``(model, identity)``, the model's (conditioned) prediction against returning the noisy
        input itself. A trained model beats the identity at every level."""
        batch, horizon, _ = x0.shape
        if not 1 <= level <= self.schedule.levels:
            raise ValueError(f"level must be in [1, {self.schedule.levels}], got {level}")
        levels = torch.full((batch,), level, dtype=torch.long, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        start, goal = x0[:, 0, self.config.action_dim :], x0[:, -1, self.config.action_dim :]
        noisy = self.condition(self.schedule.q_sample(x0, levels[:, None].expand(batch, horizon), noise), start, goal)
        prediction = self.condition(self.unet(noisy, levels), start, goal)
        return float(((prediction - x0) ** 2).mean()), float(((noisy - x0) ** 2).mean())

    @torch.no_grad()
    def sample(self, start: Tensor, goal: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """DDPM ancestral sampling from ``K`` to 0 with inpainting; ``start, goal (B, O)`` and the
        returned trajectories ``(B, H, D)`` are normalized."""
        batch, horizon = start.shape[0], self.config.horizon
        shape = (batch, horizon, self.config.transition_dim)
        x = self.condition(torch.randn(shape, generator=generator, device=start.device), start, goal)
        for level in range(self.schedule.levels, 0, -1):
            levels = torch.full((batch,), level, dtype=torch.long, device=start.device)
            x0 = self.unet(x, levels)
            if self.config.clip_denoised:
                x0 = x0.clamp(-1.0, 1.0)
            k_from = levels[:, None].expand(batch, horizon)
            x = self.schedule.step(x, x0, k_from, k_from - 1, eta=1.0, generator=generator)
            x = self.condition(x, start, goal)
        return x

    # ------------------------------------------------------------------ raw units
    @torch.no_grad()
    def plan(self, start: Tensor, goal_xy: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Sample plans from raw ``start (B, O)`` observations to raw goal positions ``goal_xy (B, 2)``
        (reached at step ``H-1`` with zero velocity); returns raw trajectories ``(B, H, A + O)``."""
        if start.dim() != 2 or start.shape[1] != self.config.obs_dim:
            raise ValueError(f"start must be (B, {self.config.obs_dim}), got {tuple(start.shape)}")
        if goal_xy.shape != (start.shape[0], 2):
            raise ValueError(f"goal_xy must be ({start.shape[0]}, 2), got {tuple(goal_xy.shape)}")
        goal = torch.zeros_like(start)
        goal[:, :2] = goal_xy
        normalizer = self.normalizer
        trajectories = self.sample(normalizer.normalize_obs(start), normalizer.normalize_obs(goal), generator)
        return normalizer.unnormalize(trajectories)
