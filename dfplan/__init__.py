"""dfplan: Diffusion Forcing for planning and control.

The package imports lazily: ``import dfplan`` loads nothing heavy; names below resolve
on first use. Never imports gymnasium, minari or mujoco.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "DFPlanner": "dfplan.planner",
    "PlannerConfig": "dfplan.planner",
    "Plan": "dfplan.planner",
    "DiffusionForcing": "dfplan.model",
    "ModelConfig": "dfplan.model",
    "TokenLayout": "dfplan.tokens",
    "NoiseConfig": "dfplan.noise",
    "NoiseSchedule": "dfplan.noise",
    "DenoiserConfig": "dfplan.denoisers",
    "SamplerConfig": "dfplan.sampler",
    "sample": "dfplan.sampler",
    "TrainConfig": "dfplan.training",
    "train": "dfplan.training",
    "Trajectories": "dfplan.data",
    "load_checkpoint": "dfplan.checkpoint",
    "save_checkpoint": "dfplan.checkpoint",
    "CheckpointError": "dfplan.checkpoint",
    "scheduling": "dfplan.scheduling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dfplan' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    return module if name == "scheduling" else getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
