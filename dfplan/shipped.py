"""The shipped-model registry: names like ``maze2d-large-v1`` -> checkpoint files.

The Diffusion Forcing checkpoints and their learned cost-to-go files (``<maze>.pt``,
``<maze>.cost.pt``, a few MB) are package data in ``dfplan/checkpoints/``, so an installed
wheel loads them by name. ``$DFPLAN_CHECKPOINT_DIR`` points the registry at another folder
of the same layout (where the maze suite's ``ship`` command writes by default, too). One checkpoint
per maze serves both of its envs: ``multi2d-large-v1`` plans with ``maze2d-large-v1.pt``. AntMaze
has one checkpoint per env (each env's dataset is its own): ``antmaze-large-diverse-v2.pt``.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKPOINT_DIR_ENV = "DFPLAN_CHECKPOINT_DIR"
PACKAGE_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
SHIPPED_MAZES = ("umaze", "medium", "large")
ANTMAZE_NAMES = tuple(f"antmaze-{name}-v2" for name in ("umaze", "umaze-diverse", "medium-play", "medium-diverse",
                                                         "large-play", "large-diverse"))
"""AntMaze env ids, each resolved to its own checkpoint (``envs.ANTMAZE_IDS``; ``dfplan`` does not import ``envs``)."""


def checkpoint_dir() -> Path:
    """Where shipped checkpoints live: ``$DFPLAN_CHECKPOINT_DIR``, else the package's ``checkpoints/``."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or PACKAGE_CHECKPOINTS)


def shipped_names() -> list[str]:
    """Names :func:`resolve_checkpoint` resolves: one checkpoint per maze serves maze2d-* and multi2d-*."""
    return [f"{kind}-{maze}-v1" for kind in ("maze2d", "multi2d") for maze in SHIPPED_MAZES]


def maze_name(env_id: str) -> str:
    """The maze an env id plans in (``dfplan/multi2d-large-v1`` -> ``maze2d-large-v1``): one
    model serves a maze's maze2d and multi2d envs. The one place this rule is written."""
    return env_id.rsplit("/", 1)[-1].replace("multi2d-", "maze2d-")


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A shipped name (``maze2d-large-v1``) or a file path -> the checkpoint file."""
    text = str(name_or_path)
    if text in shipped_names() or text in ANTMAZE_NAMES:
        return checkpoint_dir() / f"{maze_name(text)}.pt"
    path = Path(text)
    if path.suffix or path.exists() or os.sep in text:
        return path
    raise ValueError(f"unknown checkpoint name {text!r}; shipped: {', '.join(shipped_names())}; AntMaze: "
                     f"{', '.join(ANTMAZE_NAMES)} (or pass a file path)")
