"""Video clips of a maze dataset for the video world model (``python -m dfplan.video``).

The dataset's continuous stream is cut into frames, one every ``frame_skip`` env steps, drawn
by :func:`envs.render.render_frames` (walls and the agent disc; no goal marker: the collector's
goal moves on arrival and is not what the frames are about). Frame ``j`` of a stretch of
the stream shows the state after step ``(j + 1)·frame_skip``; its *action* is the
``frame_skip`` actions that led to it from the previous frame, concatenated
(``(2·frame_skip,)``), so motion is visible from frame to frame and fully explained by the
frame's action. Consecutive frames form clips of ``clip_frames``; the last
``test_fraction`` of the stream is held out (``split="test"``) for evaluation.
"""

from __future__ import annotations

import numpy as np

from envs.data import load_arrays
from envs.mazes import MazeSpec, get_env_spec
from envs.render import AGENT_RGB, frame_geometry, render_frames

SPLITS = ("train", "test")


def stream_clips(maze: MazeSpec | str, positions: np.ndarray, actions: np.ndarray, frame_size: int,
                 frame_skip: int, clip_frames: int) -> dict[str, np.ndarray]:
    """Clips of one continuous stretch: ``positions (L+1, >=2)`` before each step and after the
    last, ``actions (L, A)``.

    Returns ``frames (N, T, S, S, 3)`` uint8, ``actions (N, T, frame_skip·A)`` float32 and the
    true agent ``positions (N, T, 2)`` float32 (``T = clip_frames``; a stretch too short for
    one clip gives ``N = 0``).
    """
    if frame_skip < 1 or clip_frames < 1 or frame_size < 1:
        raise ValueError("frame_skip, clip_frames and frame_size must be >= 1")
    if len(positions) != len(actions) + 1:
        raise ValueError(f"need one more position than actions, got {len(positions)} and {len(actions)}")
    n_clips = len(actions) // frame_skip // clip_frames
    n_frames = n_clips * clip_frames
    state = (np.arange(n_frames) + 1) * frame_skip  # frame j shows the state after step (j + 1)·frame_skip
    xy = np.asarray(positions, np.float64)[state, :2]
    frames = np.empty((n_frames, frame_size, frame_size, 3), np.uint8)
    for start in range(0, n_frames, clip_frames):  # a clip at a time keeps the renderer's memory small
        frames[start : start + clip_frames] = render_frames(maze, xy[start : start + clip_frames], size=frame_size)
    frame_actions = np.asarray(actions[: n_frames * frame_skip], np.float32).reshape(n_frames, -1)
    return {
        "frames": frames.reshape(n_clips, clip_frames, frame_size, frame_size, 3),
        "actions": frame_actions.reshape(n_clips, clip_frames, -1),
        "positions": xy.astype(np.float32).reshape(n_clips, clip_frames, 2),
    }


def video_dataset(env_id: str, split: str = "train", frame_size: int = 32, frame_skip: int = 10,
                  clip_frames: int = 256, test_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Clips of ``env_id``'s locally generated dataset (no download).

    ``split``: ``train`` (the first ``1 - test_fraction`` of the stream) or ``test`` (the rest).
    Returns the arrays of :func:`stream_clips` plus what a metric needs to read frames:
    ``background (S, S, 3)`` uint8 (the empty maze), ``agent_rgb (3,)`` uint8 and
    ``pixel_xy (S, S, 2)`` float32, the maze position of every pixel centre.

    Raises:
        FileNotFoundError: the dataset is not generated yet (the message says how).
        ValueError: unknown split, or a split too short for one clip.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    maze = get_env_spec(env_id).maze
    arrays = load_arrays(env_id)
    boundary = round(len(arrays) * (1 - test_fraction))
    first, last = (0, boundary) if split == "train" else (boundary, len(arrays))
    continuous = np.all(np.isclose(arrays.next_observations[:-1], arrays.observations[1:], atol=1e-6), axis=1)
    breaks = np.flatnonzero(~continuous[first : last - 1]) + first + 1  # first step of each new stretch
    parts = []
    for a, b in zip([first, *breaks], [*breaks, last], strict=True):
        positions = np.concatenate([arrays.observations[a:b, :2], arrays.next_observations[b - 1 : b, :2]])
        parts.append(stream_clips(maze, positions, arrays.actions[a:b], frame_size, frame_skip, clip_frames))
    clips = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    if len(clips["frames"]) == 0:
        raise ValueError(f"the {split} split of {env_id} ({last - first} steps) is too short for one clip of "
                         f"{clip_frames} frames x {frame_skip} steps")
    pixel_xy, background = frame_geometry(maze, frame_size)
    return {**clips, "background": background, "agent_rgb": np.array(AGENT_RGB, np.uint8),
            "pixel_xy": pixel_xy.astype(np.float32)}
