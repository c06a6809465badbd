"""Self-describing checkpoints: format version, config as plain data, weights (+EMA), normalizer.

Loading needs no dataset, env or optimizer and never unpickles code
(``torch.load(weights_only=True)``). Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dfplan.config import from_dict, to_dict
from dfplan.files import atomic_write  # re-exported: the one atomic writer
from dfplan.model import DiffusionForcing, ModelConfig

FORMAT = "dfplan.diffusion_forcing"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file exists but is corrupt, truncated or incompatible."""


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temp file in the same folder, then rename over ``path``."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def read_torch_file(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` and clear errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on foreign bytes (KeyError on a text file, ...)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{path} is not a readable {what} (corrupt or truncated?): {reason}") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a dfplan {what}")
    return data


def save_model_file(path: str | os.PathLike, fmt: str, version: int, config: Any, module: torch.nn.Module,
                    meta: dict[str, Any] | None = None, **sizes: int) -> None:
    """Write a small self-describing model (a cost-to-go, an inverse-dynamics head): its format and
    version, config as plain data, the sizes its constructor needs, weights and meta."""
    atomic_torch_save({"format": fmt, "version": version, "config": to_dict(config), **sizes,
                       "weights": {k: v.detach().cpu() for k, v in module.state_dict().items()},
                       "meta": meta or {}}, path)


def read_model_file(path: str | os.PathLike, what: str, fmt: str, version: int) -> dict[str, Any]:
    """Read a file written by :func:`save_model_file`, checking it holds ``fmt`` at ``version``."""
    data = read_torch_file(path, what)
    if data.get("format") != fmt or data.get("version") != version:
        raise CheckpointError(f"{path} is not a dfplan {what} (format {data.get('format')!r}, "
                              f"version {data.get('version')!r})")
    return data


def save_checkpoint(path: str | os.PathLike, model: DiffusionForcing,
                    ema_weights: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None) -> None:
    """Write ``model`` (its normalizer included) and optional EMA weights to ``path``."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(model.config),
        "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "ema_weights": None if ema_weights is None else {k: v.detach().cpu() for k, v in ema_weights.items()},
        "meta": meta or {},
    }
    atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    use_ema: bool = True) -> tuple[DiffusionForcing, dict[str, Any]]:
    """Rebuild the model from ``path``; returns ``(model in eval mode, meta)``.

    ``use_ema`` picks the EMA weights when the checkpoint has them.
    """
    data = read_torch_file(path)
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dfplan Diffusion Forcing checkpoint (format {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {data.get('version')}; this dfplan reads version {VERSION}")
    try:
        config = from_dict(ModelConfig, data["config"])
        model = DiffusionForcing(config)
        weights = data["ema_weights"] if use_ema and data.get("ema_weights") is not None else data["weights"]
        model.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is incompatible with this dfplan: {err}") from err
    return model.to(device).eval(), dict(data.get("meta") or {})
