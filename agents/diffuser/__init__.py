"""Diffuser (Janner et al. 2022), the maze2d setting, as a baseline agent for the Maze2D suite."""

from agents.diffuser.agent import ACTION_MODES, DiffuserAgent
from agents.diffuser.diffusion import DiffuserConfig, TrajectoryDiffusion
from agents.diffuser.training import (
    PRESETS,
    DiffuserTrainConfig,
    MazeBudget,
    WindowDataset,
    finished_model,
    load_model,
    segment_bounds,
    train,
    window_starts,
)
from agents.diffuser.unet import TemporalUNet, UNetConfig

__all__ = [
    "ACTION_MODES",
    "PRESETS",
    "DiffuserAgent",
    "DiffuserConfig",
    "DiffuserTrainConfig",
    "MazeBudget",
    "TemporalUNet",
    "TrajectoryDiffusion",
    "UNetConfig",
    "WindowDataset",
    "finished_model",
    "load_model",
    "segment_bounds",
    "train",
    "window_starts",
]
