"""Scoring video world models on held-out clips: position error and validity vs rollout length.

For every held-out clip the model is given its first ``context_frames`` frames and the
clip's actions, rolls out ``frames`` frames, and each generated frame is read
(:mod:`dfplan.video.metrics`) and compared with the true agent position under the same
actions. Rows land in ``results/video/results.json`` (one per label and env); the Markdown
table and the plot are generated from that file, never edited by hand.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfplan.checkpoint import atomic_write
from dfplan.files import read_json_rows, upsert_json_rows
from dfplan.model import DiffusionForcing
from dfplan.video.data import VideoClips, frames_to_tokens, tokens_to_frames
from dfplan.video.metrics import read_frames, score
from dfplan.video.rollout import RolloutConfig, rollout

RESULTS_DIR = Path("results/video")
BINS = ((1, 16), (17, 50), (51, 100), (101, 200))
"""Frame ranges (1 = first generated frame) summarized in the table."""


def generate_clips(model: DiffusionForcing, clips: VideoClips, frames: int, n_clips: int, config: RolloutConfig,
                   seed: int = 0, batch_size: int = 32) -> np.ndarray:
    """Roll out ``frames`` frames after the first ``context_frames`` of held-out clips ``0..n_clips-1``.

    Returns uint8 frames ``(n_clips, frames, S, S, 3)``.
    """
    given = config.context_frames
    if given + frames > clips.clip_frames:
        raise ValueError(f"clips hold {clips.clip_frames} frames: too short for {given} context + {frames} generated")
    if not 1 <= n_clips <= len(clips.frames):
        raise ValueError(f"n_clips must be in [1, {len(clips.frames)}], got {n_clips}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    out = []
    for first in range(0, n_clips, batch_size):
        part = slice(first, min(first + batch_size, n_clips))
        context = frames_to_tokens(clips.frames[part, :given]).to(device)
        actions = torch.from_numpy(clips.actions[part, : given + frames]).to(device)
        out.append(tokens_to_frames(rollout(model, context, actions, frames, config, generator), clips.frame_size))
    return np.concatenate(out)


def score_video(clips: VideoClips, generated: np.ndarray, context_frames: int) -> dict[str, np.ndarray]:
    """Per-frame scores of generated clips ``(N, F, S, S, 3)`` against clips ``0..N-1``."""
    n, frames = generated.shape[:2]
    reading = read_frames(generated, clips.background, clips.agent_rgb, clips.pixel_xy)
    return score(reading, clips.positions[:n, context_frames : context_frames + frames])


def copy_last_frame(clips: VideoClips, frames: int, n_clips: int, context_frames: int) -> dict[str, np.ndarray]:
    """Reference scores of a model that repeats the last given frame (the agent never moves)."""
    still = clips.frames[:n_clips, context_frames - 1 : context_frames].repeat(frames, axis=1)
    return score_video(clips, still, context_frames)


def summarize(scores: dict[str, list[float | None]]) -> dict[str, float | None]:
    """Means of the per-frame scores over :data:`BINS` (within the frames rolled out)."""
    out: dict[str, float | None] = {}
    frames = len(scores["position_error"])
    for first, last in BINS:
        if first > frames:
            continue
        span = slice(first - 1, min(last, frames))
        for key in ("position_error", "validity"):
            values = np.array([np.nan if v is None else v for v in scores[key][span]], dtype=np.float64)
            out[f"{key}_{first}-{min(last, frames)}"] = None if np.all(np.isnan(values)) else round(float(np.nanmean(values)), 4)
    return out


def make_row(label: str, scores: dict[str, np.ndarray], **fields: Any) -> dict[str, Any]:
    """A results row: ``fields``, per-frame curves rounded to 4 digits (NaN -> None) and their summary."""
    curves = {key: [None if math.isnan(v) else round(float(v), 4) for v in values] for key, values in scores.items()}
    return {"label": label, **fields, **curves, "summary": summarize(curves)}


def load_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a video results file (a missing file is empty); ``ValueError`` naming the file otherwise."""
    return read_json_rows(path, ("env", "label"), "video results file")


def upsert_rows(rows: list[dict[str, Any]], path: str | os.PathLike) -> list[dict[str, Any]]:
    """Replace rows with the same ``(env, label)`` and write the file atomically; returns all rows."""
    return upsert_json_rows(rows, path, ("env", "label"), "video results file")


def _cell(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def write_table(rows: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """The Markdown table of mean position error and validity per range of rollout frames."""
    lines = ["# Video world model on held-out clips", "",
             "Generated from `results.json` by `python -m dfplan.video evaluate` (do not edit). Position error: "
             "mean distance in maze units between the agent decoded from a generated frame and the true position "
             "under the same actions (a maze cell is 1 unit). Validity: fraction of frames with exactly one agent "
             "blob and the maze unchanged.", ""]
    for env in sorted({row["env"] for row in rows}):
        env_rows = [row for row in rows if row["env"] == env]
        longest = max(row["frames"] for row in env_rows)
        bins = [(a, min(b, longest)) for a, b in BINS if a <= longest]
        header = ["label", "method", "training", "clips"]
        header += [f"error {a}-{b}" for a, b in bins] + [f"valid {a}-{b}" for a, b in bins] + ["ms / frame"]
        lines += [f"## {env}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in env_rows:
            summary = row["summary"]
            errors = [_cell(summary.get(f"position_error_{a}-{b}")) for a, b in bins]
            valid = [_cell(summary.get(f"validity_{a}-{b}")) for a, b in bins]
            ms = row.get("ms_per_frame")
            training = "–"
            if row.get("train_steps"):
                training = f"{row['train_steps']} steps"
                if row.get("train_wall_s"):
                    training += f", {row['train_wall_s'] / 60:.0f} min on {row.get('train_device') or '?'}"
            cells = [row["label"], row.get("method") or "reference", training, str(row["clips"]),
                     *errors, *valid, "–" if ms is None else f"{ms:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines)))


def write_plot(rows: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Position error and validity against rollout frame, one line per row (one panel pair per env)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    envs = sorted({row["env"] for row in rows})
    fig = Figure(figsize=(10, 3.2 * len(envs)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(envs), 2, squeeze=False)
    for (ax_error, ax_valid), env in zip(axes, envs, strict=True):
        for row in (row for row in rows if row["env"] == env):
            x = np.arange(1, row["frames"] + 1)
            error = np.array([np.nan if v is None else v for v in row["position_error"]], dtype=np.float64)
            style = {"ls": ":", "color": "gray"} if row.get("method") is None else {}
            ax_error.plot(x, error, lw=1.2, label=row["label"], **style)
            ax_valid.plot(x, row["validity"], lw=1.2, label=row["label"], **style)
            if row.get("horizon"):
                for ax in (ax_error, ax_valid):
                    ax.axvline(row["horizon"], color="k", lw=0.6, ls="--")
        ax_error.set(title=f"{env}: position error", xlabel="generated frame", ylabel="maze units")
        ax_valid.set(title=f"{env}: valid frames (dashed: training window)", xlabel="generated frame",
                     ylabel="fraction", ylim=(-0.02, 1.02))
        ax_error.legend(fontsize=7)
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def timed_generate(model: DiffusionForcing, clips: VideoClips, frames: int, n_clips: int, config: RolloutConfig,
                   seed: int, batch_size: int) -> tuple[np.ndarray, float]:
    """:func:`generate_clips` and its wall time in ms per generated frame (per clip batch)."""
    began = time.perf_counter()
    generated = generate_clips(model, clips, frames, n_clips, config, seed, batch_size)
    batches = math.ceil(n_clips / batch_size)
    return generated, (time.perf_counter() - began) * 1000 / (frames * batches)
