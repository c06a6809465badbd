"""Headless video output with PIL: animated GIFs and PNG strips, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dfplan.checkpoint import atomic_write

SEPARATOR_RGB = (255, 255, 255)


def side_by_side(videos: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Videos ``(T, S, S, 3)`` uint8 of equal shape -> one video ``(T, S, n·S + (n-1)·gap, 3)``."""
    if not videos or any(v.shape != videos[0].shape or v.dtype != np.uint8 or v.ndim != 4 for v in videos):
        raise ValueError("side_by_side needs one or more uint8 videos (T, H, W, 3) of the same shape")
    t, h = videos[0].shape[:2]
    spacer = np.full((t, h, gap, 3), SEPARATOR_RGB, np.uint8)
    parts = [part for v in videos for part in (v, spacer)][:-1]
    return np.concatenate(parts, axis=2)


def save_gif(path: str | os.PathLike, video: np.ndarray, fps: int = 10, scale: int = 4) -> Path:
    """An animated GIF of ``video (T, H, W, 3)`` uint8, each pixel drawn ``scale`` x ``scale``."""
    if video.ndim != 4 or video.dtype != np.uint8 or len(video) == 0:
        raise ValueError(f"video must be uint8 (T >= 1, H, W, 3), got {video.dtype} {video.shape}")
    big = video.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(frame) for frame in big]
    return atomic_write(path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                         duration=int(1000 / fps), loop=0))


def save_strip(path: str | os.PathLike, rows: list[tuple[str, np.ndarray]], every: int = 10, scale: int = 3,
               label_width: int = 110) -> Path:
    """A PNG with one row per ``(label, video (T, H, W, 3))``: every ``every``-th frame, left to right,
    numbered along the top (frame 1 is the first generated frame)."""
    if not rows:
        raise ValueError("save_strip needs at least one row")
    shape = rows[0][1].shape
    if any(video.shape != shape or video.dtype != np.uint8 for _, video in rows):
        raise ValueError("all rows must be uint8 videos of the same shape")
    picks = np.arange(every - 1, shape[0], every) if shape[0] >= every else np.arange(shape[0])
    h, w, gap, top = shape[1] * scale, shape[2] * scale, 2, 14
    canvas = Image.new("RGB", (label_width + len(picks) * (w + gap), top + len(rows) * (h + gap)), SEPARATOR_RGB)
    draw = ImageDraw.Draw(canvas)
    for j, index in enumerate(picks):
        draw.text((label_width + j * (w + gap) + 2, 1), str(index + 1), fill=(0, 0, 0))
    for i, (label, video) in enumerate(rows):
        y = top + i * (h + gap)
        draw.text((4, y + h // 2 - 6), label, fill=(0, 0, 0))
        for j, index in enumerate(picks):
            frame = Image.fromarray(video[index]).resize((w, h), Image.NEAREST)
            canvas.paste(frame, (label_width + j * (w + gap), y))
    return atomic_write(path, lambda tmp: canvas.save(tmp, format="PNG"))
