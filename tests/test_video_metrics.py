"""Reading agent positions and validity from maze frames, and the clips they come from."""

import numpy as np
import pytest
import torch

from dfplan.video.data import (
    VideoClips,
    VideoWindows,
    fetch_clips,
    frames_to_tokens,
    tokens_to_frames,
)
from dfplan.video.metrics import count_blobs, read_frames, score
from envs.render import AGENT_RGB, frame_geometry
from envs.video_data import stream_clips

SIZE = 32


def random_walk(steps=1200, seed=0):
    """Positions wandering along the U-Maze corridor (no physics needed to draw frames)."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0, 0.02, steps + 1))
    corridor = np.array([[-1, 1], [1, 1], [1, -1], [-1, -1]], np.float64)
    phase = (t % 3) * 1.0
    segment = np.minimum(phase.astype(int), 2)
    frac = (phase - segment)[:, None]
    positions = corridor[segment] * (1 - frac) + corridor[segment + 1] * frac
    return positions, rng.uniform(-1, 1, (steps, 2)).astype(np.float32)


def clips(frame_skip=10, clip_frames=40):
    positions, actions = random_walk()
    arrays = stream_clips("umaze", positions, actions, SIZE, frame_skip, clip_frames)
    pixel_xy, background = frame_geometry("umaze", SIZE)
    return VideoClips.from_arrays({**arrays, "background": background, "agent_rgb": np.array(AGENT_RGB, np.uint8),
                                   "pixel_xy": pixel_xy}), positions, actions


def read(video: VideoClips, frames: np.ndarray):
    return read_frames(frames, video.background, video.agent_rgb, video.pixel_xy)


def test_clips_show_the_state_after_each_frames_actions():
    video, positions, actions = clips(frame_skip=10, clip_frames=40)
    assert video.frames.shape == (3, 40, SIZE, SIZE, 3) and video.frames.dtype == np.uint8
    assert video.actions.shape == (3, 40, 20)
    np.testing.assert_allclose(video.positions[1, 0], positions[(40 + 1) * 10], rtol=1e-6)
    np.testing.assert_array_equal(video.actions[1, 0], actions[400:410].reshape(-1))


def test_a_ground_truth_video_scores_perfectly():
    video, _, _ = clips()
    scores = score(read(video, video.frames), video.positions)
    assert scores["validity"].min() == 1.0 and scores["detected"].min() == 1.0
    assert scores["position_error"].max() < 0.2 * 5 / SIZE  # a fifth of a pixel: only the disc's rasterization


def test_a_shuffled_video_is_valid_but_far_from_the_truth():
    video, _, _ = clips()
    shuffled = video.frames[:, np.random.default_rng(0).permutation(video.clip_frames)]
    scores = score(read(video, shuffled), video.positions)
    assert scores["validity"].min() == 1.0
    assert np.mean(scores["position_error"]) > 0.8


def test_a_noise_video_is_invalid():
    video, _, _ = clips()
    noise = np.random.default_rng(0).integers(0, 256, video.frames.shape, dtype=np.uint8)
    assert score(read(video, noise), video.positions)["validity"].max() == 0.0


def test_changed_walls_two_agents_or_no_agent_make_a_frame_invalid():
    video, _, _ = clips()
    frame = video.frames[0, 0]
    wall_gone = frame.copy()
    wall_gone[:3, :3] = video.background[SIZE // 2, SIZE // 2 + 6]  # floor colour painted over a corner wall
    two_agents = frame.copy()
    two_agents[1, 1] = video.agent_rgb
    empty = video.background.copy()
    reading = read(video, np.stack([frame, wall_gone, two_agents, empty]))
    np.testing.assert_array_equal(reading.valid, [True, False, False, False])
    np.testing.assert_array_equal(reading.detected, [True, True, True, False])
    assert np.isnan(reading.positions[3]).all()


def test_blobs_are_counted_with_four_connectivity():
    masks = np.zeros((3, 5, 5), bool)
    masks[1, 1:3, 1:3] = True
    masks[2, 0, 0] = masks[2, 1, 1] = masks[2, 4, 0:5] = True  # diagonal neighbours are separate blobs
    np.testing.assert_array_equal(count_blobs(masks), [0, 1, 3])


def test_frames_round_trip_through_tokens():
    video, _, _ = clips()
    tokens = frames_to_tokens(video.frames[0, :5])
    assert tokens.shape == (5, 3 * SIZE * SIZE) and tokens.min() >= -1 and tokens.max() <= 1
    np.testing.assert_array_equal(tokens_to_frames(tokens, SIZE), video.frames[0, :5])
    with pytest.raises(ValueError, match="uint8"):
        frames_to_tokens(video.frames[0].astype(np.float32))


def test_windows_pair_each_frame_with_the_actions_that_led_to_it():
    video, _, _ = clips()
    windows = VideoWindows(video, horizon=6)
    batch = windows.sample(4, torch.Generator().manual_seed(0))
    assert batch.tokens.shape == (4, 6, 3 * SIZE * SIZE) and batch.cond.shape == (4, 3 * SIZE * SIZE)
    assert batch.token_cond.shape == (4, 6, 20) and bool(batch.mask.all())
    frames = tokens_to_frames(torch.cat([batch.cond[:, None], batch.tokens], 1), SIZE)
    for b in range(4):  # find the window in the clips and check its actions
        clip, start = next((c, s) for c in range(len(video.frames)) for s in range(video.clip_frames - 6)
                           if np.array_equal(video.frames[c, s : s + 7], frames[b]))
        np.testing.assert_array_equal(batch.token_cond[b].numpy(), video.actions[clip, start + 1 : start + 7])
    with pytest.raises(ValueError, match="horizon"):
        VideoWindows(video, horizon=40)


def test_missing_clips_say_how_to_render_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m benchmarks video-clips --env maze2d-umaze-v1 --split test"):
        fetch_clips("maze2d-umaze-v1", "test", SIZE, 10, 40, tmp_path)


def test_the_suite_renders_clips_where_the_video_module_reads_them(tmp_path, monkeypatch):
    from benchmarks import cli

    video, _, _ = clips()
    calls = []

    def fake_render(env_id, split, frame_size, frame_skip, clip_frames):
        calls.append((env_id, split, frame_size, frame_skip, clip_frames))
        return {name: getattr(video, name) for name in ("frames", "actions", "positions", "background", "agent_rgb",
                                                         "pixel_xy")}

    monkeypatch.setattr("envs.video_data.video_dataset", fake_render)
    assert cli.main(["video-clips", "--env", "maze2d-umaze-v1", "--split", "test", "--frame-size", str(SIZE),
                     "--clip-frames", "40", "--cache", str(tmp_path)]) == 0
    assert calls == [("maze2d-umaze-v1", "test", SIZE, 10, 40)]
    assert [p.name for p in tmp_path.iterdir()] == ["maze2d-umaze-v1-test-s32-k10-t40.npz"]
    read = fetch_clips("maze2d-umaze-v1", "test", SIZE, 10, 40, tmp_path)
    np.testing.assert_array_equal(read.frames, video.frames)
