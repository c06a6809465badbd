"""Named training presets: ``quick`` (2 CPU cores, at most 45 minutes) and ``full`` (one GPU).

A preset fixes the model and optimisation settings; the data dimensions come from the
dataset. Planning settings are not part of a preset: they live in the planner's config
and can be changed at load time without retraining.

Both presets follow the paper's maze setup (Chen et al. 2024, Appendix D): tokens of
``frame_stack = 10`` steps of ``[a_t, o_{t+1}]`` (no reward channel), x0 prediction,
linear betas. ``quick`` is the causal transformer measured on this project's 2-core
machine (DESIGN.md section 9: ~0.66M parameters, 20-minute U-Maze planners reach the
goal in 90-100 % of episodes); ``full`` is wider, deeper and trained 10x longer.
"""

from __future__ import annotations

from dataclasses import dataclass

from dfplan.denoisers import DenoiserConfig
from dfplan.model import ModelConfig
from dfplan.noise import NoiseConfig
from dfplan.tokens import TokenLayout
from dfplan.training import TrainConfig


@dataclass(frozen=True)
class Preset:
    """Model architecture and optimisation, minus the data dimensions."""

    name: str
    frame_stack: int
    horizon: int
    denoiser: DenoiserConfig
    noise: NoiseConfig
    train: TrainConfig

    def model_config(self, obs_dim: int, action_dim: int) -> ModelConfig:
        layout = TokenLayout(obs_dim=obs_dim, action_dim=action_dim, use_reward=False, frame_stack=self.frame_stack)
        return ModelConfig(layout=layout, horizon=self.horizon, noise=self.noise, denoiser=self.denoiser)


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        name="quick",
        frame_stack=10,
        horizon=24,
        denoiser=DenoiserConfig(backbone="transformer", width=128, depth=3, heads=4),
        noise=NoiseConfig(levels=1000, beta_schedule="linear", prediction="x0"),
        train=TrainConfig(steps=16_000, batch_size=64, lr=5e-4, warmup_steps=500, ema_decay=0.999,
                          checkpoint_every=500, log_every=50),
    ),
    "full": Preset(
        name="full",
        frame_stack=10,
        horizon=32,
        denoiser=DenoiserConfig(backbone="transformer", width=256, depth=6, heads=8),
        noise=NoiseConfig(levels=1000, beta_schedule="linear", prediction="x0"),
        train=TrainConfig(steps=100_000, batch_size=256, lr=3e-4, warmup_steps=2_000, ema_decay=0.9995,
                          checkpoint_every=5_000, log_every=100),
    ),
}


def get_preset(name: str) -> Preset:
    """A preset by name; an unknown name raises ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]
