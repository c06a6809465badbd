"""The suite's hooks for ``python -m dfplan`` (entry point group ``dfplan.plugins``).

dfplan imports no simulator or benchmark code; its ``train --env``, ``eval`` and ``plan``
commands reach the maze suite through these functions, found via the installed entry
point ``maze2d``. Each returns ``None`` for an env id it does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.datasets import maze_trajectories
from benchmarks.evaluate import evaluate
from benchmarks.results import DEFAULT_RESULTS_PATH, upsert_rows
from dfplan.files import atomic_write
from envs.mazes import ENV_SPECS


def _known(env_id: str) -> bool:
    return env_id.removeprefix("dfplan/") in ENV_SPECS


def load_dataset(env_id: str, create: bool = True):
    """Trajectories of ``env_id``'s dataset (generated first when missing and ``create``)."""
    return maze_trajectories(env_id, create=create)


def make_env(env_id: str):
    """The suite env, or None."""
    if not _known(env_id):
        return None
    import envs

    return envs.make(env_id)


def evaluate_agent(env_id: str, agent: Any, episodes: int, seed: int, *, agent_name: str, variant: str,
                   command: str, batch_size: int, results: str | Path | None = DEFAULT_RESULTS_PATH,
                   train_wall_s: float | None = None, train_seeds: list[int] | None = None,
                   device: str = "cpu", extra: dict | None = None,
                   max_episode_steps: int | None = None) -> dict | None:
    """Evaluate on the suite protocol (episodes cut at ``max_episode_steps`` when given) and upsert
    the row into ``results`` (None: don't write)."""
    if not _known(env_id):
        return None
    evaluation = evaluate(agent, env_id, episodes, seed, agent_name=agent_name, variant=variant,
                          train_seeds=train_seeds, train_wall_s=train_wall_s, device=device, command=command,
                          batch_size=batch_size, extra=extra, max_episode_steps=max_episode_steps)
    if results is not None:
        upsert_rows([evaluation.row], Path(results))
    return evaluation.row.to_dict() if hasattr(evaluation.row, "to_dict") else vars(evaluation.row)


def train_agent(env_id: str, agent: str, preset: str, seed: int, out: str | Path | None, device: str) -> Path | None:
    """Train baseline ``agent`` (see :data:`benchmarks.registry.BASELINES`) for ``env_id``'s maze.

    ``out`` defaults to ``runs/<agent>-<training env>-<preset>-seed<seed>``; an unfinished run
    there is resumed. Returns the finished model file.
    """
    if not _known(env_id):
        return None
    from benchmarks.registry import get_baseline

    baseline = get_baseline(agent)
    training_env = baseline.training_env(env_id.removeprefix("dfplan/"))
    out = Path(out) if out else Path("runs") / f"{agent}-{training_env}-{preset}-seed{seed}"
    return baseline.train(training_env, preset, seed, out, device)


def ship_agent(env_id: str, agent: str, run: str | Path) -> Path | None:
    """Copy baseline ``agent``'s finished model in ``run`` to the shipped models; returns their folder."""
    if not _known(env_id):
        return None
    from benchmarks.registry import ship_baseline

    return ship_baseline(agent, run)


def load_agent(env_id: str, agent: str, checkpoint: str | Path, device: str, **options: Any) -> Any:
    """Baseline ``agent`` loaded from ``checkpoint`` (a model file or run folder; ``shipped`` for the
    shipped model of ``env_id``'s maze), with load ``options``."""
    if not _known(env_id):
        return None
    from benchmarks.registry import get_baseline, shipped_baseline_dir

    baseline = get_baseline(agent)
    if str(checkpoint) == "shipped":
        checkpoint = shipped_baseline_dir(agent, baseline.training_env(env_id.removeprefix("dfplan/")))
    return baseline.load(checkpoint, device, **options)


def render_plan(env_id: str, path: str | Path, start: np.ndarray, goal: np.ndarray | None, plan: np.ndarray,
                trajectory: np.ndarray | None = None, title: str | None = None) -> Path | None:
    """A PNG of the maze with the start, goal, planned path and (optionally) the executed one."""
    if not _known(env_id):
        return None
    from envs.render import render_png

    return render_png(env_id, path, agent_xy=start[:2], goal_xy=None if goal is None else goal[:2],
                      trajectory=trajectory, plan=plan, title=title)


def render_gif(env_id: str, path: str | Path, positions: np.ndarray, goal: np.ndarray | None, fps: int = 20) -> Path | None:
    """An episode GIF from positions ``(T, 2)`` with the suite's small frame renderer."""
    if not _known(env_id):
        return None
    from matplotlib import animation
    from matplotlib.figure import Figure

    from envs.render import render_frames

    frames = render_frames(env_id, positions[::2], goals=goal, size=96)
    fig = Figure(figsize=(3, 3))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    image = ax.imshow(frames[0])
    anim = animation.FuncAnimation(fig, lambda i: [image.set_data(frames[i])], frames=len(frames))
    return atomic_write(path, lambda tmp: anim.save(tmp, writer=animation.PillowWriter(fps=fps)))


def video_dataset(env_id: str, split: str = "train", frame_size: int = 32, frame_skip: int = 10,
                  clip_frames: int = 256) -> dict[str, np.ndarray] | None:
    """Rendered clips of the env's dataset for ``python -m dfplan.video`` (see :mod:`envs.video_data`), or None."""
    if not _known(env_id):
        return None
    from envs.video_data import video_dataset as render_clips

    return render_clips(env_id, split, frame_size, frame_skip, clip_frames)
