"""The video world model: a conv-wrapped causal transformer on frames, its methods and rollouts."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from dfplan.denoisers import DenoiserConfig, build_denoiser
from dfplan.model import DiffusionForcing, ModelConfig
from dfplan.sampler import SamplerConfig, sample
from dfplan.tokens import TokenLayout
from dfplan.training import TrainConfig, train
from dfplan.video.data import VideoClips, VideoWindows, frames_to_tokens, tokens_to_frames
from dfplan.video.presets import METHODS, VideoData, VideoPreset
from dfplan.video.rollout import RolloutConfig, method_rollout, rollout
from tests.test_video_metrics import clips as maze_clips

SIZE, ACTIONS = 16, 4
TINY = VideoPreset(name="tiny", data=VideoData(frame_size=SIZE, frame_skip=2, clip_frames=40), horizon=6,
                   denoiser=DenoiserConfig(backbone="video", width=32, depth=2, heads=2, channels=8),
                   noise=ModelConfig(layout=TokenLayout(1, 1)).noise,
                   train=TrainConfig(steps=40, batch_size=8, lr=2e-3, warmup_steps=5, ema_decay=0.9, log_every=1,
                                     checkpoint_every=40, device="cpu"))


def denoiser(causal=True):
    torch.manual_seed(0)
    config = DenoiserConfig(backbone="video", width=32, depth=2, heads=2, channels=8, frame_size=SIZE, causal=causal)
    return build_denoiser(config, 3 * SIZE * SIZE, 3 * SIZE * SIZE, ACTIONS, 100).eval()


def inputs(batch=2, length=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, length, 3 * SIZE * SIZE, generator=g) * 2 - 1, torch.randint(0, 101, (batch, length), generator=g),
            torch.rand(batch, 3 * SIZE * SIZE, generator=g) * 2 - 1, torch.randn(batch, length, ACTIONS, generator=g))


def test_the_video_backbone_maps_frames_to_frames():
    x, k, cond, actions = inputs()
    with torch.no_grad():
        out = denoiser()(x, k, cond, actions)
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="768 features"):
        build_denoiser(DenoiserConfig(backbone="video", width=32, heads=2, frame_size=SIZE), 700, 0, 0, 100)
    with pytest.raises(ValueError, match="multiple of 8"):
        DenoiserConfig(backbone="video", frame_size=20)
    with pytest.raises(ValueError, match="causal"):
        DenoiserConfig(backbone="rnn", causal=False)


@pytest.mark.parametrize("t", [0, 2])
def test_a_later_frame_never_changes_an_earlier_output_of_the_causal_model(t):
    model = denoiser()
    x, k, cond, actions = inputs()
    x2, k2, a2 = x.clone(), k.clone(), actions.clone()
    x2[:, t + 1 :] = -x2[:, t + 1 :]
    k2[:, t + 1 :] = 100 - k2[:, t + 1 :]
    a2[:, t + 1 :] += 1
    with torch.no_grad():
        before, after = model(x, k, cond, actions), model(x2, k2, cond, a2)
    torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_the_full_sequence_model_sees_the_whole_window_and_caches_nothing():
    model = denoiser(causal=False)
    x, k, cond, actions = inputs()
    x2 = x.clone()
    x2[:, -1] = -x2[:, -1]
    with torch.no_grad():
        assert not torch.allclose(model(x2, k, cond, actions)[:, 0], model(x, k, cond, actions)[:, 0])
    with pytest.raises(ValueError, match="non-causal"):
        model.encode(x[:, :2], k[:, :2], cond, actions[:, :2])


def test_a_cached_past_gives_the_same_frames_as_recomputing():
    model = denoiser()
    x, k, cond, actions = inputs(length=6)
    with torch.no_grad():
        full = model(x, k, cond, actions)
        cache = model.encode(x[:, :4], k[:, :4], cond, actions[:, :4])
        cached = model(x[:, 4:], k[:, 4:], cond, actions[:, 4:], cache=cache)
    torch.testing.assert_close(cached, full[:, 4:], atol=1e-5, rtol=1e-5)


def test_known_tokens_are_kept_exactly_by_the_sampler():
    model = DiffusionForcing(TINY.model_config("full_sequence", ACTIONS)).eval()
    _, _, cond, actions = inputs(length=6)
    known = torch.rand(2, 6, 3 * SIZE * SIZE) * 2 - 1
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[:, :2] = True
    out = sample(model, cond, 6, SamplerConfig(num_steps=5, schedule="full_sequence"), token_cond=actions,
                 known=known, known_mask=mask, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[:, :2], known[:, :2])
    with pytest.raises(ValueError, match="known_mask"):
        sample(model, cond, 6, SamplerConfig(num_steps=5), token_cond=actions, known=known)


def small_maze_clips() -> VideoClips:
    """The metric tests' U-Maze clips at half resolution (every other pixel), with 4 action features."""
    video, _, _ = maze_clips()
    return dataclasses.replace(video, frames=np.ascontiguousarray(video.frames[:, :, ::2, ::2]),
                               actions=video.actions[..., :ACTIONS].copy(), background=video.background[::2, ::2].copy(),
                               pixel_xy=video.pixel_xy[::2, ::2].copy())


@pytest.fixture(scope="module")
def maze_video():
    return small_maze_clips()


@pytest.fixture(scope="module")
def trained(maze_video, tmp_path_factory):
    """One tiny model per method, 40 steps on the maze clips."""
    models = {}
    for method in METHODS:
        folder = tmp_path_factory.mktemp(method)
        models[method] = (train(TINY.model_config(method, ACTIONS), TINY.train_config(method),
                                VideoWindows(maze_video, TINY.horizon), folder, progress=False), folder)
    return models


@pytest.mark.parametrize("method", list(METHODS))
def test_a_tiny_training_run_lowers_the_loss(trained, method):
    losses = [json.loads(line)["loss"] for line in (trained[method][1] / "metrics.jsonl").read_text().splitlines()]
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:4])
    assert trained[method][0].config.denoiser.causal == (method != "full_sequence")


@pytest.mark.parametrize("method", list(METHODS))
def test_rollouts_far_past_the_training_window_give_valid_frames(trained, maze_video, method):
    model = trained[method][0]
    config = method_rollout(method, model.config.horizon)
    config = RolloutConfig(context_frames=config.context_frames, chunk=config.chunk,
                           sampler=SamplerConfig(num_steps=4, schedule=config.sampler.schedule,
                                                 stabilization_level=config.sampler.stabilization_level))
    frames = 3 * model.config.horizon + 1
    context = frames_to_tokens(maze_video.frames[:2, :4])
    actions = torch.from_numpy(maze_video.actions[:2, : 4 + frames])
    out = rollout(model, context, actions, frames, config, torch.Generator().manual_seed(0))
    assert out.shape == (2, frames, 3 * SIZE * SIZE) and out.min() >= -1 and out.max() <= 1
    video = tokens_to_frames(out, SIZE)
    assert video.shape == (2, frames, SIZE, SIZE, 3) and video.dtype == np.uint8
    with pytest.raises(ValueError, match="actions"):
        rollout(model, context, actions[:, :-1], frames, config)


@pytest.mark.parametrize("schedule", ["pyramid", "full_sequence"])
def test_df_fills_the_training_window_with_any_schedule(trained, maze_video, schedule):
    model = trained["df"][0]
    config = RolloutConfig(context_frames=2, chunk=5, sampler=SamplerConfig(num_steps=4, schedule=schedule))
    context = frames_to_tokens(maze_video.frames[:1, :2])
    out = rollout(model, context, torch.from_numpy(maze_video.actions[:1, :7]), 5, config)
    assert out.shape == (1, 5, 3 * SIZE * SIZE)


def test_window_sources_train_only_unnormalized_models(maze_video, tmp_path):
    config = TINY.model_config("df", ACTIONS)
    with pytest.raises(ValueError, match="normalization 'none'"):
        train(dataclasses.replace(config, normalization="gaussian"), TINY.train_config("df"),
              VideoWindows(maze_video, TINY.horizon), tmp_path, progress=False)
