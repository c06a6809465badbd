"""Reading generated maze frames: agent position and frame validity.

Every pixel is assigned the nearest colour of a palette made of the scene's own colours
(those of the empty ``background``) plus the agent's. The agent is the set of pixels
nearest the agent colour; its position is the mean of their pixel-centre positions. A
frame is *valid* when the agent forms exactly one 4-connected blob and every other pixel
keeps the class of the empty scene there (walls stay walls, floor stays floor). Scores
compare decoded positions with the true positions under the same actions, per frame of
the rollout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def count_blobs(mask: np.ndarray) -> np.ndarray:
    """Number of 4-connected components of each boolean image ``(N, H, W)`` -> ``(N,)``.

    Labels start as pixel indices and every pixel repeatedly takes the smallest label of
    its masked 4-neighbours until nothing changes; a component is then one surviving label.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (N, H, W), got {mask.shape}")
    n, h, w = mask.shape
    none = h * w
    labels = np.where(mask, np.arange(h * w).reshape(1, h, w), none)
    while True:
        padded = np.pad(labels, ((0, 0), (1, 1), (1, 1)), constant_values=none)
        neighbours = np.minimum.reduce([padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1],
                                        padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]])
        updated = np.where(mask, neighbours, none)
        if np.array_equal(updated, labels):
            break
        labels = updated
    roots = mask & (labels == np.arange(h * w).reshape(1, h, w))
    return roots.reshape(n, -1).sum(1)


@dataclass(frozen=True)
class FrameReading:
    """What was read from frames ``(...)``: agent ``positions (..., 2)`` (NaN where no agent
    pixel), ``valid (...)`` and ``detected (...)`` (at least one agent pixel)."""

    positions: np.ndarray
    valid: np.ndarray
    detected: np.ndarray


def read_frames(frames: np.ndarray, background: np.ndarray, agent_rgb: np.ndarray, pixel_xy: np.ndarray) -> FrameReading:
    """Decode uint8 frames ``(..., S, S, 3)`` of a scene whose empty image is ``background (S, S, 3)``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.shape[-3:] != background.shape:
        raise ValueError(f"frames must be uint8 (..., {', '.join(map(str, background.shape))}), "
                         f"got {frames.dtype} {frames.shape}")
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *background.shape).astype(np.float32)  # (N, S, S, 3)
    scene = np.unique(background.reshape(-1, 3), axis=0)
    palette = np.concatenate([scene, np.asarray(agent_rgb, np.uint8)[None]]).astype(np.float32)  # (P, 3), agent last
    distance = np.linalg.norm(flat[..., None, :] - palette, axis=-1)  # (N, S, S, P)
    label = distance.argmin(-1)  # (N, S, S)
    agent = label == len(palette) - 1
    expected = np.linalg.norm(background[..., None, :].astype(np.float32) - palette, axis=-1).argmin(-1)  # (S, S)
    scene_kept = np.all(agent | (label == expected), axis=(1, 2))
    count = agent.sum((1, 2))
    detected = count > 0
    xy = np.einsum("nij,ijc->nc", agent.astype(np.float64), np.asarray(pixel_xy, np.float64))
    positions = np.where(detected[:, None], xy / np.maximum(count, 1)[:, None], np.nan)
    valid = scene_kept & (count_blobs(agent) == 1)
    return FrameReading(positions.reshape(*lead, 2), valid.reshape(lead), detected.reshape(lead))


def score(reading: FrameReading, true_positions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame scores of ``B`` rollouts of ``F`` frames against ``true_positions (B, F, 2)``.

    Returns ``position_error (F,)``: mean distance (env units) over the rollouts whose frame
    shows an agent (NaN if none does); ``validity (F,)`` and ``detected (F,)``: fractions.
    """
    if reading.positions.shape != true_positions.shape or true_positions.ndim != 3:
        raise ValueError(f"true positions {true_positions.shape} must match the frames read {reading.positions.shape}")
    error = np.linalg.norm(reading.positions - true_positions, axis=-1)  # (B, F), NaN where undetected
    shown = reading.detected.sum(0)
    mean_error = np.where(shown > 0, np.nansum(error, 0) / np.maximum(shown, 1), np.nan)
    return {"position_error": mean_error, "validity": reading.valid.mean(0), "detected": reading.detected.mean(0)}
