"""Train Diffuser on a maze's dataset stream: config, presets, windows, ``train``.

    from agents.diffuser import train
    model_path = train("maze2d-umaze-v1", "quick", seed=0, out_dir=Path("runs/diffuser-umaze"))

Data (Janner et al. 2022, maze2d; Diffuser's ``maze2d_set_terminals``): the maze's
continuous stream is cut into segments where the agent *leaves* the 0.5-radius ball
around the env's fixed goal (a timeout at ``t`` iff at the goal at ``t`` and not at
``t + 1``; the segment ends with step ``t``), and at any real discontinuity of the stream.
Training windows of ``H`` steps ``[a_t, o_t]`` lie entirely inside one segment (no padding:
segments shorter than ``H`` give none).

Optimisation as Diffuser's maze2d config: Adam (lr 2e-4), batch 32 with 2 accumulated
batches per gradient step, an EMA of the weights (decay 0.995, updated every 10 steps from
step 2000, copied before) that is saved for planning; 2M gradient steps (``full``, a GPU
budget). The ``quick`` preset is sized by measurement to train one maze in about 12
minutes on one CPU thread, far below the paper's budget. Per-maze horizon, diffusion
levels and step counts are one :class:`MazeBudget` per maze in the config.

A run lives in one folder::

    out_dir/model.pt         the finished model (EMA weights, normalizer, config, meta), atomic
    out_dir/train_state.pt   weights, EMA, optimizer, generators, step, wall time (resume), atomic
    out_dir/metrics.jsonl    loss every ``log_every`` steps; the EMA's x0 error per diffusion level
                             against the identity (held-out windows) every ``diagnose_every`` steps

The ``cpu`` preset is the one this machine trains until its loss curve flattens (a small
U-Net, the official EMA schedule, a held-out diagnostic); see :data:`PRESETS`.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.diffuser.diffusion import DiffuserConfig, TrajectoryDiffusion
from agents.diffuser.unet import UNetConfig
from dfplan.checkpoint import CheckpointError, atomic_torch_save, read_torch_file
from dfplan.config import from_dict, to_dict
from dfplan.device import resolve_device
from dfplan.training import SNAPSHOT_MINUTES, MetricsLog, Snapshots
from envs.data import MazeArrays, load_arrays
from envs.mazes import GOAL_RADIUS, MAZES, get_env_spec

AGENT_NAME = "diffuser"
MODEL_FORMAT = "dfplan.diffuser"
MODEL_VERSION = 1
MODEL_FILE = "model.pt"
STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class MazeBudget:
    """Diffuser's per-maze settings and the gradient steps a preset spends on that maze."""

    horizon: int  # H: planned env steps (divisible by 4)
    diffusion_steps: int  # K: diffusion levels (all used when sampling)
    train_steps: int  # gradient (optimizer) steps


@dataclass(frozen=True)
class DiffuserTrainConfig:
    """Everything ``train`` needs besides the env, seed, output folder and device."""

    umaze: MazeBudget = MazeBudget(128, 64, 2_000_000)  # U-Maze: H, K, gradient steps
    medium: MazeBudget = MazeBudget(256, 256, 2_000_000)  # Medium: H, K, gradient steps
    large: MazeBudget = MazeBudget(384, 256, 2_000_000)  # Large: H, K, gradient steps
    batch_size: int = 32  # windows per accumulated batch
    grad_accumulation: int = 2  # batches accumulated per gradient step (Diffuser maze2d: 2)
    lr: float = 2e-4  # Adam learning rate
    ema_decay: float = 0.995  # EMA decay of the planning weights
    ema_every: int = 10  # gradient steps between EMA updates
    ema_start: int = 2_000  # before this step the EMA is a copy of the weights
    action_weight: float = 1.0  # loss weight of the first action (maze2d: 1)
    goal_radius: float = GOAL_RADIUS  # segments end where the agent leaves this ball around the goal
    unet: UNetConfig = field(default_factory=UNetConfig)  # temporal U-Net architecture
    checkpoint_every: int = 1_000  # gradient steps between training-state saves
    log_every: int = 100  # gradient steps between progress lines (and metrics.jsonl rows)
    holdout_fraction: float = 0.0  # the stream's last share kept out of training for the denoising diagnostic
    diagnose_every: int = 0  # gradient steps between denoising diagnostics in metrics.jsonl (0: at the end only)

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accumulation", "ema_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.ema_decay < 1 or self.ema_start < 0 or self.goal_radius <= 0:
            raise ValueError("need lr > 0, 0 <= ema_decay < 1, ema_start >= 0, goal_radius > 0")
        if not 0 <= self.holdout_fraction < 0.5 or self.diagnose_every < 0:
            raise ValueError("need 0 <= holdout_fraction < 0.5 and diagnose_every >= 0")
        for maze in MAZES:
            if getattr(self, maze).train_steps < 1:
                raise ValueError(f"{maze}.train_steps must be >= 1")

    def for_maze(self, maze: str) -> MazeBudget:
        """The settings of maze ``umaze`` | ``medium`` | ``large``."""
        if maze not in MAZES:
            raise ValueError(f"unknown maze {maze!r}; valid: {', '.join(MAZES)}")
        return getattr(self, maze)

    def capped(self, steps: int) -> DiffuserTrainConfig:
        """The same settings with at most ``steps`` gradient steps per maze (a smoke test of a preset)."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        mazes = {maze: replace(getattr(self, maze), train_steps=min(getattr(self, maze).train_steps, steps)) for maze in MAZES}
        return replace(self, **mazes, checkpoint_every=min(self.checkpoint_every, steps),
                       log_every=min(self.log_every, steps), diagnose_every=min(self.diagnose_every, steps))

    def with_train_steps(self, steps: int) -> DiffuserTrainConfig:
        """The same settings with exactly ``steps`` gradient steps on every maze."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        return replace(self, **{maze: replace(getattr(self, maze), train_steps=steps) for maze in MAZES})

    def model_config(self, maze: str) -> DiffuserConfig:
        """The model trained for ``maze``."""
        budget = self.for_maze(maze)
        return DiffuserConfig(horizon=budget.horizon, diffusion_steps=budget.diffusion_steps,
                              action_weight=self.action_weight, unet=self.unet)


PRESETS: dict[str, DiffuserTrainConfig] = {
    # Quick: at most ~12 min per maze on one CPU thread. Measured here (CPU time, 1 thread):
    # 0.57 / 0.99 / 1.43 s per batch-32 step for H = 128 / 256 / 384 (up to ~1.2x that on the
    # shared machine) plus ~20 s to load the data, so ~10 min uncontended. One batch per step
    # and an EMA from the start (over the last ~200 steps), as the runs are short.
    "quick": DiffuserTrainConfig(
        umaze=MazeBudget(128, 64, 1_000),
        medium=MazeBudget(256, 256, 560),
        large=MazeBudget(384, 256, 400),
        grad_accumulation=1,
        ema_every=1,
        ema_start=0,
        checkpoint_every=100,
        log_every=50,
    ),
    # CPU: the paper's horizons, diffusion levels, batch and EMA schedule (copy until step 2000,
    # then every 10 steps) on a U-Net small enough to train until its loss flattens on one CPU
    # thread: width 16, multipliers (1, 2, 4) (0.25M parameters against 3.7M); measured 0.095 s
    # per batch-32 step at H = 256 on one thread. 2% of each stream is held out for the
    # per-level denoising diagnostic, logged every 2,000 steps.
    "cpu": DiffuserTrainConfig(
        umaze=MazeBudget(128, 64, 30_000),
        medium=MazeBudget(256, 256, 30_000),
        large=MazeBudget(384, 256, 30_000),
        grad_accumulation=1,
        unet=UNetConfig(dim=16, dim_mults=(1, 2, 4)),
        checkpoint_every=500,
        log_every=100,
        holdout_fraction=0.02,
        diagnose_every=2_000,
    ),
    # Full: the paper's budget (Diffuser's maze2d config), for a GPU.
    "full": DiffuserTrainConfig(),
}
# CPU, longer: the ``cpu`` preset five times as long (150k steps, ~4-5 h per maze on one thread,
# resumable across sessions): where this machine's budget stops Diffuser, past the point
# where the 30k-step ``cpu`` models were still improving.
PRESETS["cpu-long"] = PRESETS["cpu"].with_train_steps(150_000)


def get_preset(name: str) -> DiffuserTrainConfig:
    """A preset by name; an unknown name raises ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


# ---------------------------------------------------------------------- windows
def segment_bounds(positions: np.ndarray, goal_xy: np.ndarray, radius: float = GOAL_RADIUS,
                   breaks: np.ndarray | None = None) -> np.ndarray:
    """Cut a stream of ``N`` steps into segments; returns ``(S, 2)`` ``[start, end)`` step indices.

    A segment ends at step ``t`` when the agent is within ``radius`` of ``goal_xy`` at ``t``
    and not at ``t + 1`` (Diffuser's ``maze2d_set_terminals``), or where ``breaks[t]``
    (``(N,)`` bool: the stream is discontinuous after step ``t``). ``positions (N, 2)`` raw.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 2 or len(positions) == 0:
        raise ValueError(f"positions must be (N >= 1, 2), got {positions.shape}")
    at_goal = np.linalg.norm(positions - np.asarray(goal_xy, dtype=np.float64), axis=1) < radius
    cuts = np.zeros(len(positions), dtype=bool)
    cuts[:-1] = at_goal[:-1] & ~at_goal[1:]
    if breaks is not None:
        if np.shape(breaks) != cuts.shape:
            raise ValueError(f"breaks must be ({len(positions)},), got {np.shape(breaks)}")
        cuts |= np.asarray(breaks, dtype=bool)
    ends = np.flatnonzero(cuts[:-1]) + 1
    edges = np.concatenate([[0], ends, [len(positions)]])
    return np.stack([edges[:-1], edges[1:]], axis=1).astype(np.int64)


def window_starts(bounds: np.ndarray, horizon: int) -> np.ndarray:
    """First step of every ``horizon``-step window inside one segment of ``bounds (S, 2)``: ``(W,)``."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    starts = [np.arange(start, end - horizon + 1) for start, end in bounds if end - start >= horizon]
    return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, dtype=np.int64)


class WindowDataset:
    """Normalized ``[a_t, o_t]`` windows of one maze stream, sampled uniformly.

    ``arrays``: the stream (raw units); ``goal_xy (2,)``: the env's fixed goal that cuts it;
    ``model``: supplies the (already fitted) limits normalizer and the horizon.
    """

    def __init__(self, arrays: MazeArrays, goal_xy: np.ndarray, model: TrajectoryDiffusion,
                 radius: float = GOAL_RADIUS) -> None:
        if len(arrays) < 2:
            raise ValueError(f"the stream needs at least 2 steps, got {len(arrays)}")
        breaks = np.zeros(len(arrays), dtype=bool)
        breaks[:-1] = ~np.all(np.isclose(arrays.next_observations[:-1], arrays.observations[1:], atol=1e-6), axis=1)
        self.horizon = model.config.horizon
        self.bounds = segment_bounds(arrays.observations[:, :2], goal_xy, radius, breaks)
        self.starts = window_starts(self.bounds, self.horizon)
        if len(self.starts) == 0:
            raise ValueError(f"no segment of the stream is {self.horizon} steps long: no training windows "
                             f"(longest segment: {int(np.diff(self.bounds).max())} steps)")
        raw = torch.from_numpy(np.concatenate([arrays.actions, arrays.observations], axis=1).astype(np.float32))
        with torch.no_grad():
            self.transitions = model.normalizer.normalize(raw.to(model.normalizer.step_loc.device)).cpu()  # (N, D)

    def __len__(self) -> int:
        return len(self.starts)

    def split(self, fraction: float) -> tuple[WindowDataset, WindowDataset | None]:
        """``(training, held out)``: windows that end before the stream's last ``fraction``, and
        windows that start inside it (none overlap); ``(self, None)`` for ``fraction`` 0."""
        if fraction == 0:
            return self, None
        boundary = round(len(self.transitions) * (1 - fraction))
        parts = []
        for keep in (self.starts + self.horizon <= boundary, self.starts >= boundary):
            if not keep.any():
                raise ValueError(f"holding out {fraction:.0%} of the stream leaves a side without {self.horizon}-step windows")
            part = copy.copy(self)
            part.starts = self.starts[keep]
            parts.append(part)
        return parts[0], parts[1]

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` windows ``(B, H, D)`` (normalized), drawn uniformly with replacement."""
        picks = torch.randint(len(self.starts), (batch_size,), generator=generator)
        first = torch.from_numpy(self.starts)[picks]  # (B,)
        return self.transitions[first[:, None] + torch.arange(self.horizon)]  # (B, H, D)


@torch.no_grad()
def denoising_diagnostic(model: TrajectoryDiffusion, windows: WindowDataset, seed: int = 0, batches: int = 2,
                         batch_size: int = 32) -> list[dict[str, float]]:
    """Per diffusion level (1, 2, 4, ... up to K): the model's x0 error on ``windows`` against
    returning the noisy input (``identity``); the same windows and noise at every call (``seed``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    data_gen = torch.Generator().manual_seed(seed)
    batch = [windows.sample(batch_size, data_gen).to(device) for _ in range(batches)]
    levels = sorted({*(2**i for i in range(model.schedule.levels.bit_length()) if 2**i <= model.schedule.levels),
                     model.schedule.levels})
    rows = []
    for level in levels:
        noise_gen = torch.Generator(device=device).manual_seed(seed + level)
        errors = np.array([model.x0_errors(x0, level, noise_gen) for x0 in batch])
        rows.append({"level": level, "model": round(float(errors[:, 0].mean()), 6),
                     "identity": round(float(errors[:, 1].mean()), 6)})
    model.train(was_training)
    return rows


# ---------------------------------------------------------------------- model files
def save_model(path: Path, model: TrajectoryDiffusion, meta: dict[str, Any]) -> None:
    """Write a self-describing model file (config, weights incl. normalizer, meta), atomically."""
    atomic_torch_save({"format": MODEL_FORMAT, "version": MODEL_VERSION, "config": to_dict(model.config),
                       "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                       "meta": meta}, path)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[TrajectoryDiffusion, dict[str, Any]]:
    """Rebuild a saved model (eval mode) and its meta.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError (a ``ValueError``): corrupt file, another agent's file, or incompatible.
    """
    data = read_torch_file(path, "Diffuser model")
    if data.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path} is not a Diffuser model (format {data.get('format')!r}, "
                              f"agent {dict(data.get('meta') or {}).get('agent')!r})")
    if data.get("version") != MODEL_VERSION:
        raise CheckpointError(f"{path} has Diffuser model version {data.get('version')}; this code reads {MODEL_VERSION}")
    try:
        model = TrajectoryDiffusion(from_dict(DiffuserConfig, data["config"]))
        model.load_state_dict(data["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is incompatible with this Diffuser: {err}") from err
    return model.to(device).eval(), dict(data.get("meta") or {})


def finished_model(out_dir: str | os.PathLike) -> Path | None:
    """``out_dir``'s finished model file, or None when there is none (or it is unreadable)."""
    path = Path(out_dir) / MODEL_FILE
    try:
        load_model(path)
    except (FileNotFoundError, CheckpointError):
        return None
    return path


def _count(n: int) -> str:
    """2000000 -> '2M', 2400 -> '2.4k'."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= scale:
            return f"{n / scale:g}{suffix}"
    return str(n)


def budget_text(config: DiffuserTrainConfig, maze: str) -> str:
    """The results table's budget string, e.g. ``2.4k gradient steps × batch 32``."""
    steps = config.for_maze(maze).train_steps
    batch = f"batch {config.batch_size}" if config.grad_accumulation == 1 else \
        f"batch {config.batch_size * config.grad_accumulation} ({config.batch_size} × {config.grad_accumulation} accumulated)"
    return f"{_count(steps)} gradient steps × {batch}"


# ---------------------------------------------------------------------- training
def _check_same_run(found: dict[str, Any], wanted: dict[str, Any], where: Path) -> None:
    if isinstance(found.get("train_config"), dict):  # a run from before a field was added has its default
        try:
            found = {**found, "train_config": to_dict(from_dict(DiffuserTrainConfig, found["train_config"]))}
        except (TypeError, ValueError):
            pass
    differing = [key for key, value in wanted.items() if found.get(key) != value]
    if differing:
        details = ", ".join(f"{key}: {found.get(key)!r} there, {wanted[key]!r} asked" for key in differing)
        raise ValueError(f"{where} belongs to another Diffuser run ({details}); use another out_dir")


def train(env_id: str, preset: str, seed: int, out_dir: str | os.PathLike, device: str = "auto",
          config: DiffuserTrainConfig | None = None, *, data: MazeArrays | None = None,
          progress: bool = True, snapshot_minutes: tuple[float, ...] = SNAPSHOT_MINUTES,
          max_steps: int | None = None) -> Path:
    """Train Diffuser for ``env_id``'s maze (maze2d-* or multi2d-*: the maze's dataset) into ``out_dir``.

    Returns the finished model file at once when ``out_dir`` holds one; resumes from
    ``out_dir/train_state.pt`` when an earlier run was interrupted. ``config`` overrides the
    preset's settings (``preset`` is still recorded); ``data`` replaces the maze's dataset
    stream (tests). ``progress`` prints a line every ``log_every`` steps. When the run's
    training wall time first passes each of ``snapshot_minutes``, the EMA model is saved as
    ``out_dir/snapshots/model-<minutes>min.pt`` (score-against-compute curves). ``max_steps``
    caps the gradient steps (:meth:`DiffuserTrainConfig.capped`: a smoke test of a preset).
    """
    maze = get_env_spec(env_id).maze
    training_env = f"maze2d-{maze.name}-v1"
    config = config or get_preset(preset)
    if max_steps is not None:
        config = config.capped(max_steps)
    budget = config.for_maze(maze.name)
    out = Path(out_dir)
    identity = {"agent": AGENT_NAME, "env": training_env, "preset": preset, "seed": seed,
                "train_config": to_dict(config)}
    model_path = out / MODEL_FILE
    if finished_model(out) is not None:
        _check_same_run(load_model(model_path)[1], identity, model_path)
        return model_path

    began = time.perf_counter()
    torch_device = resolve_device(device)
    arrays = data if data is not None else load_arrays(training_env)
    torch.manual_seed(seed)
    model = TrajectoryDiffusion(config.model_config(maze.name))
    model.fit_normalizer(arrays.observations, arrays.actions)
    windows, held_out = WindowDataset(arrays, maze.goal_xy, model, config.goal_radius).split(config.holdout_fraction)
    diagnosed = held_out or windows  # without a held-out part the diagnostic reads training windows (and says so)
    model.to(torch_device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=torch_device).manual_seed(seed + 1)

    start, wall_before = 0, 0.0
    state_path = out / STATE_FILE
    if state_path.exists():
        state = read_torch_file(state_path, "Diffuser training state")
        _check_same_run(state.get("identity") or {}, identity, state_path)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        data_gen.set_state(state["data_generator"])
        noise_gen.set_state(state["noise_generator"])
        start, wall_before = int(state["step"]), float(state["wall_s"])

    def wall() -> float:
        return wall_before + time.perf_counter() - began

    def save_state(step: int) -> None:
        atomic_torch_save({"identity": identity, "model": model.state_dict(), "ema": ema.state_dict(),
                           "optimizer": optimizer.state_dict(), "data_generator": data_gen.get_state(),
                           "noise_generator": noise_gen.get_state(), "step": step, "wall_s": wall()},
                          state_path)

    out.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLog(out / METRICS_FILE, start)
    snapshots = Snapshots(out, snapshot_minutes, "model", ".pt")
    losses: list[float] = []
    for step in range(start, budget.train_steps):
        total = 0.0
        for _ in range(config.grad_accumulation):
            loss = model.loss(windows.sample(config.batch_size, data_gen).to(torch_device), noise_gen)
            (loss / config.grad_accumulation).backward()
            total += loss.item() / config.grad_accumulation
        if not np.isfinite(total):
            raise FloatingPointError(f"loss became {total} at step {step}; check the data or lower lr")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _update_ema(ema, model, step, config)
        losses.append(total)
        done = step + 1
        for minutes, path in snapshots.due(wall()):
            save_model(path, ema, {**identity, "steps_done": done, "train_wall_s": round(wall(), 1),
                                   "snapshot_minutes": minutes, "device": str(torch_device)})
        if done % config.log_every == 0 or done == budget.train_steps:
            recent = float(np.mean(losses[-config.log_every :]))
            row: dict[str, Any] = {"step": done, "loss": round(recent, 6), "wall_s": round(wall(), 1)}
            if config.diagnose_every and done % config.diagnose_every == 0:
                row["ema_x0_mse"] = denoising_diagnostic(ema, diagnosed, seed)
            metrics.write(row)
            if progress:
                print(f"diffuser {training_env} step {done}/{budget.train_steps} loss {recent:.5f} "
                      f"wall {wall():.0f} s", flush=True)
        if done % config.checkpoint_every == 0 and done < budget.train_steps:
            save_state(done)

    meta = {**identity, "budget": budget_text(config, maze.name), "train_wall_s": round(wall(), 1),
            "steps_done": budget.train_steps, "final_loss": float(np.mean(losses[-config.log_every :])) if losses else None,
            "dataset_steps": len(arrays), "n_windows": len(windows), "n_segments": len(windows.bounds),
            "device": str(torch_device),
            "diagnostic": {"windows": "held out" if held_out is not None else "training",
                           "held_out_fraction": config.holdout_fraction,
                           "ema_x0_mse": denoising_diagnostic(ema, diagnosed, seed)}}
    save_model(model_path, ema, meta)
    if state_path.exists():
        state_path.unlink()
    return model_path


@torch.no_grad()
def _update_ema(ema: TrajectoryDiffusion, model: TrajectoryDiffusion, step: int, config: DiffuserTrainConfig) -> None:
    """Diffuser's schedule: every ``ema_every`` steps, copy the weights before ``ema_start``, then average."""
    if step % config.ema_every:
        return
    if step < config.ema_start:
        ema.load_state_dict(model.state_dict())
        return
    for averaged, current in zip(ema.parameters(), model.parameters(), strict=True):
        averaged.lerp_(current, 1 - config.ema_decay)
