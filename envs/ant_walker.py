"""The AntMaze low-level walker: a small MLP that walks the ant towards a nearby point.

``AntWalker.load(path).act(body, to_goal)`` maps the ant's body state (27,) and the vector from
the torso to a waypoint (2,) to the 8 joint torques — the deterministic (mean) action of a
Stable-Baselines3 SAC actor trained on :class:`envs.ant_reach.AntReachEnv`
(``python -m benchmarks train-walker``), exported so that running it needs only torch.
Waypoints farther than the training goals (``goal_max``) are pulled in along their direction.

The file is self-describing: ``{"format": "dfplan-ant-walker", "version": 1, "layers": [...],
"state_dict": ..., "meta": {...}}`` with the training budget and the measured success rate in
``meta``. Batched: ``(B, 27)`` and ``(B, 2)`` in, ``(B, 8)`` out; single rows work too.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.antmazes import ANT_BODY_DIM

WALKER_ENV = "DFPLAN_ANT_WALKER"
"""Environment variable naming another walker file than the shipped one."""
SHIPPED_WALKER = Path(__file__).resolve().parents[1] / "results" / "checkpoints" / "antmaze" / "walker.pt"
"""The suite's shipped walker (like the baselines' models, the suite's, not in the wheel)."""
WALKER_FORMAT = "dfplan-ant-walker"
WALKER_VERSION = 1
ACTION_DIM = 8


def mlp(layers: list[int]) -> torch.nn.Sequential:
    """ReLU MLP with the given layer widths (input first, output last), no output activation."""
    modules: list[torch.nn.Module] = []
    for i, (width_in, width_out) in enumerate(itertools.pairwise(layers)):
        modules.append(torch.nn.Linear(width_in, width_out))
        if i < len(layers) - 2:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def default_walker_path() -> Path:
    """``$DFPLAN_ANT_WALKER`` if set, else the shipped walker."""
    return Path(os.environ.get(WALKER_ENV) or SHIPPED_WALKER)


@dataclass
class AntWalker:
    """The walker's network (mean action before tanh) and what its file says about it."""

    net: torch.nn.Sequential
    meta: dict[str, Any]

    @property
    def goal_max(self) -> float:
        """The farthest goal it was trained to reach; farther waypoints are pulled in to this."""
        return float(self.meta.get("goal_max", 5.0))

    @classmethod
    def load(cls, path: str | os.PathLike) -> AntWalker:
        """Load a walker file.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a walker file, another version, or corrupt.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ant walker file {path} (train one: python -m benchmarks train-walker)")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path} is not a readable ant walker file: {err}") from err
        if not isinstance(blob, dict) or blob.get("format") != WALKER_FORMAT:
            raise ValueError(f"{path} is not an ant walker file (format {blob.get('format') if isinstance(blob, dict) else None!r})")
        if blob.get("version") != WALKER_VERSION:
            raise ValueError(f"{path} has walker file version {blob.get('version')}, this code reads {WALKER_VERSION}")
        layers = [int(width) for width in blob["layers"]]
        if layers[0] != ANT_BODY_DIM + 2 or layers[-1] != ACTION_DIM:
            raise ValueError(f"{path}: layers {layers} do not map {ANT_BODY_DIM + 2} inputs to {ACTION_DIM} torques")
        net = mlp(layers)
        try:
            net.load_state_dict(blob["state_dict"])
        except RuntimeError as err:
            raise ValueError(f"{path}: weights do not fit layers {layers}: {err}") from err
        net.eval()
        return cls(net, dict(blob.get("meta", {})))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the walker file atomically; returns its path."""
        from dfplan.files import atomic_write

        layers = [self.net[0].in_features] + [m.out_features for m in self.net if isinstance(m, torch.nn.Linear)]
        blob = {"format": WALKER_FORMAT, "version": WALKER_VERSION, "layers": layers,
                "state_dict": self.net.state_dict(), "meta": self.meta}
        return atomic_write(path, lambda tmp: torch.save(blob, tmp))

    def walker_input(self, body: np.ndarray, to_goal: np.ndarray, reach: float | None = None) -> np.ndarray:
        """``(B, 29)`` network input from body ``(B, 27)`` and goal vector ``(B, 2)`` (validated); the goal
        vector shortened to ``goal_max`` (and to ``reach`` when given)."""
        body = np.asarray(body, dtype=np.float64)
        to_goal = np.asarray(to_goal, dtype=np.float64)
        if body.shape[-1:] != (ANT_BODY_DIM,) or to_goal.shape[-1:] != (2,):
            raise ValueError(f"walker needs body (..., {ANT_BODY_DIM}) and goal vector (..., 2), "
                             f"got {body.shape} and {to_goal.shape}")
        if not (np.isfinite(body).all() and np.isfinite(to_goal).all()):
            raise ValueError("walker input holds NaN or infinity")
        length = np.linalg.norm(to_goal, axis=-1, keepdims=True)
        limit = self.goal_max if reach is None else min(self.goal_max, reach)
        to_goal = to_goal * np.minimum(1.0, limit / np.maximum(length, 1e-9))
        return np.concatenate([body, to_goal], axis=-1)

    def act(self, body: np.ndarray, to_goal: np.ndarray, reach: float | None = None) -> np.ndarray:
        """Torques in [-1, 1]: ``(8,)`` for one body state, ``(B, 8)`` for a batch; a goal farther than
        ``reach`` (or the trained ``goal_max``) is shown at that distance in its direction."""
        x = self.walker_input(body, to_goal, reach)
        with torch.no_grad():
            mean = self.net(torch.as_tensor(np.atleast_2d(x), dtype=torch.float32))
        action = torch.tanh(mean).numpy().astype(np.float64)
        return action[0] if x.ndim == 1 else action
