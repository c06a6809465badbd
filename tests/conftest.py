"""Shared fixtures: one tiny Diffusion Forcing model trained once per test session."""

from __future__ import annotations

import pytest
import torch

from dfplan.cli import demo_model_config
from dfplan.synthetic import LinearGaussianWalk
from dfplan.training import TrainConfig, train

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def walk() -> LinearGaussianWalk:
    return LinearGaussianWalk()


@pytest.fixture(scope="session")
def trained_walk_model(walk, tmp_path_factory):
    """The demo's transformer, trained for 1500 steps (~30-45 s on 2 CPU cores)."""
    data = walk.generate(episodes=256, length=32, seed=0)
    config = TrainConfig(steps=1500, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=0.99,
                         log_every=500, checkpoint_every=1500, device="cpu")
    return train(demo_model_config(), config, data, tmp_path_factory.mktemp("walk"), progress=False)
