"""Resumable Stable-Baselines3 training runs: a run folder, its checkpoints and its identity.

A run folder ``out`` holds, while training, ``checkpoint.json`` (an atomic pointer: steps done,
wall seconds so far, the run's identity) naming the live ``checkpoint-<steps>/`` folder with
``model.zip`` and ``replay_buffer.pkl``; a new folder only becomes live when the pointer is
replaced, so an interruption at any moment leaves the previous checkpoint usable. Used by
SAC + HER (:mod:`agents.sac_her`) and the AntMaze walker's trainer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from dfplan.checkpoint import CheckpointError, atomic_write

MODEL_FILE = "model.zip"
"""An SB3 model in a checkpoint folder (and the finished model of a SAC + HER run)."""
CHECKPOINT_POINTER = "checkpoint.json"
"""The run folder's pointer to its live checkpoint folder (written atomically)."""
IDENTITY_KEYS = ("env", "seed", "train_config")
"""What must match for a run folder to be resumed or reused."""


def check_same_run(path: Path, saved: dict[str, Any], run: dict[str, Any],
                   config_defaults: dict[str, Any] | None = None) -> None:
    """Refuse to reuse or resume a run folder trained for another env, seed or config.

    ``config_defaults``: the config's defaults, standing in for settings a run saved before they
    existed (a run is the same if it ran with what is now the default).
    """
    if config_defaults is not None and isinstance(saved.get("train_config"), dict):
        saved = {**saved, "train_config": {**config_defaults, **saved["train_config"]}}
    differ = [key for key in IDENTITY_KEYS if saved.get(key) != run.get(key)]
    if differ:
        raise ValueError(f"{path} belongs to another run ({', '.join(differ)} differ: saved "
                         f"{ {k: saved.get(k) for k in differ} }); use another out_dir")


def read_pointer(out: Path) -> dict[str, Any] | None:
    """The live checkpoint's pointer, or None before the first checkpoint.

    Raises:
        CheckpointError: a corrupt pointer, or one naming a folder without its files.
    """
    path = out / CHECKPOINT_POINTER
    if not path.is_file():
        return None
    try:
        pointer = json.loads(path.read_text())
        folder = out / pointer["folder"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is corrupt; delete it to restart the run: {err}") from err
    if not (folder / MODEL_FILE).is_file() or not (folder / "replay_buffer.pkl").is_file():
        raise CheckpointError(f"{path} names {folder}, which lacks its model or replay buffer")
    return pointer


def save_checkpoint(out: Path, model, state: dict[str, Any], steps: int) -> None:
    """Model + replay buffer into a fresh folder, then the pointer to it (the atomic step)."""
    folder = out / f"checkpoint-{steps}"
    if folder.exists():
        shutil.rmtree(folder)  # left by an interrupted save; never the live one (its steps are fewer)
    folder.mkdir()
    model.save(folder / MODEL_FILE)
    model.save_replay_buffer(folder / "replay_buffer.pkl")
    text = json.dumps({**state, "folder": folder.name}, indent=2, sort_keys=True)
    atomic_write(out / CHECKPOINT_POINTER, lambda tmp: tmp.write_text(text))
    remove_checkpoints(out, keep=folder.name)


def remove_checkpoints(out: Path, keep: str | None = None) -> None:
    """Delete checkpoint folders but ``keep``; with ``keep=None`` also the pointer (a finished run)."""
    for folder in out.glob("checkpoint-*"):
        if folder.is_dir() and folder.name != keep:
            shutil.rmtree(folder)
    if keep is None:
        (out / CHECKPOINT_POINTER).unlink(missing_ok=True)


def recent_success_rate(model) -> float | None:
    """Mean success of SB3's last (up to 100) finished training episodes, or None before any."""
    successes = list(model.ep_success_buffer)
    return round(float(np.mean(successes)), 3) if successes else None


def versions() -> dict[str, str]:
    """The library versions a run was trained with."""
    import stable_baselines3
    import torch

    return {"stable_baselines3": str(stable_baselines3.__version__), "torch": str(torch.__version__),
            "gymnasium": str(gymnasium.__version__)}
