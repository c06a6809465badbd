"""Video clips as arrays, cached on disk, and the training windows cut from them.

Clips are ``.npz`` arrays that the suite which knows the env renders (for the maze suite,
``python -m benchmarks video-clips``, :mod:`envs.video_data`) into the cache, so ``dfplan``
renders nothing itself and a machine without the simulator trains from a cached ``.npz``. Frames are uint8 ``(S, S, 3)`` images; as model
tokens they are flattened in ``(H, W, RGB)`` order and mapped to ``[-1, 1]``
(:func:`frames_to_tokens`), which is the model's raw unit (normalization ``none``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dfplan.checkpoint import atomic_write
from dfplan.data import Window

DEFAULT_CACHE = Path("runs/video_data")


def frames_to_tokens(frames: np.ndarray | Tensor) -> Tensor:
    """uint8 frames ``(..., S, S, 3)`` -> float tokens ``(..., 3·S²)`` in ``[-1, 1]``."""
    frames = torch.as_tensor(frames)
    if frames.dtype != torch.uint8 or frames.dim() < 3 or frames.shape[-1] != 3 or frames.shape[-2] != frames.shape[-3]:
        raise ValueError(f"frames must be uint8 (..., S, S, 3), got {frames.dtype} {tuple(frames.shape)}")
    return frames.flatten(-3).float() / 127.5 - 1.0


def tokens_to_frames(tokens: Tensor, frame_size: int) -> np.ndarray:
    """Float tokens ``(..., 3·S²)`` -> uint8 frames ``(..., S, S, 3)`` (clipped to the pixel range)."""
    if tokens.shape[-1] != 3 * frame_size**2:
        raise ValueError(f"tokens of {frame_size}x{frame_size} frames have {3 * frame_size**2} features, "
                         f"got {tokens.shape[-1]}")
    pixels = ((tokens.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.reshape(*tokens.shape[:-1], frame_size, frame_size, 3).numpy()


@dataclass(frozen=True)
class VideoClips:
    """``N`` clips of ``T`` frames with their actions and true agent positions."""

    frames: np.ndarray  # (N, T, S, S, 3) uint8
    actions: np.ndarray  # (N, T, A) float32: the actions that led to each frame from the one before
    positions: np.ndarray  # (N, T, 2) float32: true agent position shown in each frame
    background: np.ndarray  # (S, S, 3) uint8: the scene without the agent
    agent_rgb: np.ndarray  # (3,) uint8: colour of the agent blob
    pixel_xy: np.ndarray  # (S, S, 2) float32: position (env units) of every pixel centre

    def __post_init__(self) -> None:
        f = self.frames
        if f.dtype != np.uint8 or f.ndim != 5 or f.shape[-1] != 3 or f.shape[2] != f.shape[3] or len(f) == 0:
            raise ValueError(f"frames must be uint8 (N >= 1, T, S, S, 3), got {f.dtype} {f.shape}")
        n, t, s = f.shape[:3]
        checks = {"actions": (self.actions.ndim == 3 and self.actions.shape[:2] == (n, t)),
                  "positions": self.positions.shape == (n, t, 2),
                  "background": self.background.shape == (s, s, 3) and self.background.dtype == np.uint8,
                  "agent_rgb": self.agent_rgb.shape == (3,),
                  "pixel_xy": self.pixel_xy.shape == (s, s, 2)}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"clip arrays do not match frames {f.shape}: {', '.join(bad)}")
        if not (np.all(np.isfinite(self.actions)) and np.all(np.isfinite(self.positions))):
            raise ValueError("actions and positions must be finite")

    @property
    def frame_size(self) -> int:
        return self.frames.shape[2]

    @property
    def clip_frames(self) -> int:
        return self.frames.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[2]

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> VideoClips:
        missing = [f.name for f in fields(cls) if f.name not in arrays]
        if missing:
            raise ValueError(f"video arrays lack {', '.join(missing)}")
        return cls(frames=np.asarray(arrays["frames"], np.uint8), actions=np.asarray(arrays["actions"], np.float32),
                   positions=np.asarray(arrays["positions"], np.float32),
                   background=np.asarray(arrays["background"], np.uint8),
                   agent_rgb=np.asarray(arrays["agent_rgb"], np.uint8),
                   pixel_xy=np.asarray(arrays["pixel_xy"], np.float32))

    def save(self, path: str | os.PathLike) -> Path:
        """Write a compressed ``.npz`` atomically (temp file + rename)."""
        arrays = {field.name: getattr(self, field.name) for field in fields(self)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a path
                np.savez_compressed(f, **arrays)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VideoClips:
        """Read an ``.npz`` written by :meth:`save`; clear errors when missing or malformed."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"video clips not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (ValueError, OSError) as err:
            raise ValueError(f"{path} is not a video clips .npz: {err}") from err
        return cls.from_arrays(arrays)


def clips_path(cache_dir: str | os.PathLike, env_id: str, split: str, frame_size: int, frame_skip: int,
               clip_frames: int) -> Path:
    """Where the cache keeps the clips of ``env_id``'s ``split`` cut with these settings."""
    name = f"{env_id.replace('/', '_')}-{split}-s{frame_size}-k{frame_skip}-t{clip_frames}.npz"
    return Path(cache_dir) / name


def fetch_clips(env_id: str, split: str, frame_size: int, frame_skip: int, clip_frames: int,
                cache_dir: str | os.PathLike = DEFAULT_CACHE) -> VideoClips:
    """The env's clips from the cache (``FileNotFoundError`` saying how to render them when absent).

    dfplan renders nothing itself: the suite that knows the env writes the clips there
    (the maze suite: ``python -m benchmarks video-clips --env ENV --split SPLIT``).
    """
    path = clips_path(cache_dir, env_id, split, frame_size, frame_skip, clip_frames)
    if not path.is_file():
        raise FileNotFoundError(
            f"no {split} clips of {env_id} in {Path(cache_dir)} ({path.name}); render them with the suite that knows "
            f"the env, e.g. python -m benchmarks video-clips --env {env_id} --split {split} --frame-size {frame_size} "
            f"--frame-skip {frame_skip} --clip-frames {clip_frames}, or pass a clips .npz")
    return VideoClips.load(path)


class VideoWindows:
    """Training windows of ``horizon`` frames (a :class:`dfplan.data.WindowSource`).

    A window starting at frame ``s`` of a clip has the conditioning frame ``s`` (``cond``,
    the observation before the first token), tokens = frames ``s+1 .. s+horizon`` and
    ``token_cond`` = the actions that led to each of them.
    """

    def __init__(self, clips: VideoClips, horizon: int) -> None:
        if horizon < 1 or horizon + 1 > clips.clip_frames:
            raise ValueError(f"horizon must be in [1, {clips.clip_frames - 1}] for clips of {clips.clip_frames} "
                             f"frames, got {horizon}")
        self.clips, self.horizon = clips, horizon

    @property
    def num_steps(self) -> int:
        """Frames in the clips."""
        return int(np.prod(self.clips.frames.shape[:2]))

    def sample(self, batch_size: int, generator: torch.Generator) -> Window:
        clip = torch.randint(len(self.clips.frames), (batch_size,), generator=generator).numpy()
        start = torch.randint(self.clips.clip_frames - self.horizon, (batch_size,), generator=generator).numpy()
        index = start[:, None] + np.arange(self.horizon + 1)[None, :]  # (B, 1 + T)
        frames = frames_to_tokens(self.clips.frames[clip[:, None], index])  # (B, 1 + T, 3·S²)
        actions = torch.from_numpy(self.clips.actions[clip[:, None], index[:, 1:]])  # (B, T, A)
        return Window(tokens=frames[:, 1:], cond=frames[:, 0], mask=torch.ones(batch_size, self.horizon, dtype=torch.bool),
                      token_cond=actions)
