"""Video world-model presets and the three training methods as config values.

A *method* is only a training noise pattern plus the attention mask of the same network
(Chen et al. 2024, Sec. 4.1 baselines):

* ``df`` — Diffusion Forcing: independent per-frame noise levels, causal attention;
* ``teacher_forcing`` — next-frame diffusion on a clean past, causal attention;
* ``full_sequence`` — one noise level per clip, non-causal attention.

``quick`` is sized for this project's 2 CPU cores: 0.87M parameters, measured at 0.24 s per
training step (32 windows of 16 frames, one thread, with other jobs sharing the cores; 0.21 s
for the bare model step), so its 8,000 steps take about 32 minutes. ``full`` (5.7M
parameters, 4x the batch, 7.5x the steps) is meant for a GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dfplan.denoisers import DenoiserConfig
from dfplan.model import ModelConfig
from dfplan.noise import NoiseConfig
from dfplan.tokens import TokenLayout
from dfplan.training import TrainConfig

METHODS = {"df": "independent", "teacher_forcing": "teacher_forcing", "full_sequence": "full_sequence"}
"""Method name -> training noise pattern (:mod:`dfplan.noise_patterns`)."""


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


@dataclass(frozen=True)
class VideoData:
    """How clips are cut from an env's dataset (stored in the checkpoint's meta)."""

    frame_size: int = 32  # frame side in pixels (a multiple of 8)
    frame_skip: int = 10  # env steps per frame; their actions, concatenated, condition the frame
    clip_frames: int = 256  # frames per stored clip; evaluation rolls out inside one held-out clip

    def __post_init__(self) -> None:
        if self.frame_size < 8 or self.frame_size % 8 or self.frame_skip < 1 or self.clip_frames < 2:
            raise ValueError("need frame_size a positive multiple of 8, frame_skip >= 1 and clip_frames >= 2")


@dataclass(frozen=True)
class VideoPreset:
    """Data, architecture and optimisation of a video world model, minus the method."""

    name: str
    data: VideoData
    horizon: int  # training window in frames
    denoiser: DenoiserConfig
    noise: NoiseConfig
    train: TrainConfig

    def model_config(self, method: str, action_dim: int) -> ModelConfig:
        """The model for ``method``: ``full_sequence`` attends to the whole window."""
        check_method(method)
        layout = TokenLayout(obs_dim=3 * self.data.frame_size**2, action_dim=0, use_reward=False)
        denoiser = dataclasses.replace(self.denoiser, frame_size=self.data.frame_size,
                                       causal=method != "full_sequence")
        return ModelConfig(layout=layout, horizon=self.horizon, noise=self.noise, denoiser=denoiser,
                           normalization="none", token_cond_dim=action_dim)

    def train_config(self, method: str) -> TrainConfig:
        check_method(method)
        return dataclasses.replace(self.train, noise_pattern=METHODS[method])


PRESETS: dict[str, VideoPreset] = {
    "quick": VideoPreset(
        name="quick",
        data=VideoData(frame_size=32, frame_skip=10, clip_frames=256),
        horizon=16,
        denoiser=DenoiserConfig(backbone="video", width=128, depth=3, heads=4, channels=32),
        noise=NoiseConfig(levels=1000, beta_schedule="linear", prediction="x0"),
        train=TrainConfig(steps=8_000, batch_size=32, lr=5e-4, warmup_steps=300, ema_decay=0.999,
                          checkpoint_every=500, log_every=50),
    ),
    "full": VideoPreset(
        name="full",
        data=VideoData(frame_size=32, frame_skip=10, clip_frames=256),
        horizon=16,
        denoiser=DenoiserConfig(backbone="video", width=256, depth=6, heads=8, channels=64),
        noise=NoiseConfig(levels=1000, beta_schedule="linear", prediction="x0"),
        train=TrainConfig(steps=60_000, batch_size=128, lr=3e-4, warmup_steps=1_000, ema_decay=0.9995,
                          checkpoint_every=5_000, log_every=100),
    ),
}


def get_preset(name: str) -> VideoPreset:
    """A preset by name; an unknown name raises ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown video preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]
