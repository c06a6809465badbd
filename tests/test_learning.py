"""A tiny model learns a sequence distribution with a known answer (the linear-Gaussian walk)."""

import pytest
import torch

from dfplan.demo import DEMO_TOLERANCE, demo_model_config
from dfplan.model import DiffusionForcing
from dfplan.sampler import SamplerConfig, sample
from dfplan.training import TrainConfig, train

SCHEDULES = ["full_sequence", "autoregressive", "pyramid"]


def stats(model, walk, schedule, seed=0):
    cond = torch.full((512, 1), 1.0)
    x = sample(model, cond, 8, SamplerConfig(num_steps=20, schedule=schedule),
               generator=torch.Generator().manual_seed(seed))
    layout = model.layout
    return walk.check(1.0, layout.actions(x).numpy(), layout.rewards(x).numpy(), layout.observations(x).numpy())


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_trained_model_matches_the_true_moments_and_dynamics(trained_walk_model, walk, schedule):
    result = stats(trained_walk_model, walk, schedule)
    for key, tolerance in DEMO_TOLERANCE.items():
        assert result[key] < tolerance, (key, result)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_untrained_model_fails_the_same_check(walk, schedule):
    torch.manual_seed(0)
    model = DiffusionForcing(demo_model_config())
    model.normalizer.fit(walk.generate(64, 32))
    result = stats(model.eval(), walk, schedule)
    assert any(result[key] >= tolerance for key, tolerance in DEMO_TOLERANCE.items()), result


@pytest.mark.slow
def test_rnn_backbone_learns_the_walk(walk, tmp_path):
    import dataclasses

    config = demo_model_config()
    config = dataclasses.replace(config, denoiser=dataclasses.replace(config.denoiser, backbone="rnn"))
    model = train(config, TrainConfig(steps=1500, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=0.99, device="cpu"),
                  walk.generate(256, 32), tmp_path, progress=False)
    for schedule in SCHEDULES:
        result = stats(model, walk, schedule)
        assert all(result[k] < v for k, v in DEMO_TOLERANCE.items()), (schedule, result)
