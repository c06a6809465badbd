"""Training loop for Algorithm 1: AdamW with warm-up, EMA, clipping, mixed precision, DDP, resume.

A run lives in one folder::

    out_dir/checkpoint.pt    self-describing model checkpoint (weights + EMA), atomic
    out_dir/train_state.pt   optimizer, EMA and step counter for ``resume``, atomic
    out_dir/metrics.jsonl    one JSON line per logged step

Randomness is derived from ``(seed, rank, step)`` at every step, so a resumed run
continues exactly where the interrupted one would have gone. Launch with ``torchrun``
for several processes (DDP; ``gloo`` on CPU, ``nccl`` on CUDA): each rank draws its own
windows and only rank 0 writes.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from dfplan.checkpoint import atomic_torch_save, load_checkpoint, read_torch_file, save_checkpoint
from dfplan.config import to_dict
from dfplan.data import Trajectories, WindowSampler, WindowSource
from dfplan.device import resolve_device
from dfplan.files import atomic_write_text
from dfplan.model import DiffusionForcing, ModelConfig
from dfplan.noise_patterns import check_pattern
from dfplan.normalizer import Normalizer

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings."""

    steps: int = 20_000  # optimizer steps
    batch_size: int = 128  # windows per step (global: split across DDP ranks)
    lr: float = 3e-4  # peak AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    warmup_steps: int = 500  # linear warm-up, then cosine decay to 10% of lr
    ema_decay: float = 0.999  # EMA of the weights used for sampling
    grad_clip: float = 1.0  # max global gradient norm (0 = off)
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16
    seed: int = 0  # seeds initialisation, windows and noise
    log_every: int = 50  # steps between metric lines
    checkpoint_every: int = 1_000  # steps between checkpoints (and at the end)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    noise_pattern: str = "independent"  # independent (Diffusion Forcing) | teacher_forcing | full_sequence (baselines)
    init_from: str = ""  # a checkpoint of the same model whose (EMA) weights start the run: fine-tuning, longer training
    init_refit_rewards: bool = False  # with init_from: refit the reward channel's normalizer on this run's data (rewards relabelled otherwise than the source's), keep the rest

    def __post_init__(self) -> None:
        check_pattern(self.noise_pattern)
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch_size, log_every and checkpoint_every must be >= 1")
        if self.lr <= 0 or self.warmup_steps < 0 or not 0 <= self.ema_decay < 1 or self.grad_clip < 0:
            raise ValueError("need lr > 0, warmup_steps >= 0, 0 <= ema_decay < 1, grad_clip >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        if self.init_refit_rewards and not self.init_from:
            raise ValueError("init_refit_rewards refits the normalizer of an init_from checkpoint: set init_from")


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1, then cosine decay to 0.1 at ``config.steps``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 7_919 + step) % (2**63)


def _autocast(device: torch.device, precision: str):
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return nullcontext(), False
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype), precision == "fp16"


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


class MetricsLog:
    """Append-only JSONL log that drops lines beyond the step a resumed run restarts from."""

    def __init__(self, path: Path, resume_step: int) -> None:
        self.path = path
        lines = path.read_text().splitlines() if path.exists() and resume_step > 0 else []
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= resume_step]
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    def write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


SNAPSHOT_MINUTES = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 240.0)
"""Training wall times (minutes) at which the baselines' runs keep a copy of their model (equal-compute curves)."""


class Snapshots:
    """The model copies a run keeps when its training wall time first passes each of ``minutes``:
    ``out_dir/snapshots/<stem>-<minutes>min<suffix>``. The marks already taken (a resumed run)
    are read once, so checking is free on the training loop's hot path."""

    def __init__(self, out_dir: Path, minutes: tuple[float, ...], stem: str, suffix: str) -> None:
        paths = {m: Path(out_dir) / "snapshots" / f"{stem}-{m:g}min{suffix}" for m in minutes}
        self._pending = sorted((m, path) for m, path in paths.items() if not path.exists())

    def due(self, wall_s: float) -> list[tuple[float, Path]]:
        """The marks passed at ``wall_s`` seconds and not yet taken (then counted as taken)."""
        passed = [(m, path) for m, path in self._pending if wall_s >= 60 * m]
        self._pending = self._pending[len(passed):]
        return passed


def check_run_folder(out_dir: str | os.PathLike, resume: bool) -> None:
    """Refuse to start a fresh run over an earlier one (``ValueError``): resume it or pick another folder."""
    out = Path(out_dir)
    if not resume and ((out / "checkpoint.pt").exists() or (out / "train_state.pt").exists()):
        raise ValueError(f"{out} already holds a training run: pass --resume to continue it, or choose another --out")


def _init_weights(model: DiffusionForcing, model_config: ModelConfig, path: str) -> dict:
    """Load the (EMA) weights of checkpoint ``path`` into ``model``; returns what the run's meta records of it.

    The checkpoint must hold the same model (``ValueError`` names the differing fields); its
    normalizer comes with the weights, so the run keeps the units the weights were trained in.
    """
    source, source_meta = load_checkpoint(path, "cpu", use_ema=True)
    found, wanted = to_dict(source.config), to_dict(model_config)
    if found != wanted:
        differing = sorted(key for key in {*found, *wanted} if found.get(key) != wanted.get(key))
        raise ValueError(f"--train.init_from {path} holds another model (differs in {', '.join(differing)})")
    model.load_state_dict(source.state_dict())
    return {"init_from": str(path), "init_steps_done": source_meta.get("steps_done"),
            "init_train_wall_s": source_meta.get("train_wall_s")}


def _refit_rewards(model: DiffusionForcing, data: Trajectories | None) -> None:
    """Set the reward channel's normalizer statistics to those of ``data`` (the source checkpoint's are for
    rewards that meant something else); the action and observation statistics stay the source's."""
    if data is None or not model.layout.use_reward or model.normalizer.mode == "none":
        raise ValueError("init_refit_rewards needs a model with the reward channel, a normalizer and data to fit it on")
    fitted = Normalizer(model.layout, model.normalizer.mode).fit(data)
    channel = model.layout.action_dim
    model.normalizer.step_loc[channel] = fitted.step_loc[channel]
    model.normalizer.step_scale[channel] = fitted.step_scale[channel]


def train(model_config: ModelConfig, train_config: TrainConfig, data: Trajectories | WindowSource,
          out_dir: str | os.PathLike, *, resume: bool = False, progress: bool = True,
          meta: dict | None = None, snapshot_minutes: tuple[float, ...] = ()) -> DiffusionForcing:
    """Train a Diffusion Forcing model on ``data``; returns the EMA model (eval mode).

    ``data`` is :class:`Trajectories` (windows cut by :class:`WindowSampler`, normalizer
    fit on them) or any :class:`WindowSource` (e.g. :class:`HindsightGoals`; the normalizer is
    fit on its ``.trajectories`` if it has them, else its windows must already be in model
    units: ``model_config.normalization`` must be ``none``). ``resume`` continues from
    ``out_dir/train_state.pt`` when it exists (a finished run returns at once). The
    checkpoint's ``meta`` records steps, wall time and the configs. When the run's training
    wall time first passes each of ``snapshot_minutes``, a copy of the checkpoint is kept as
    ``out_dir/snapshots/checkpoint-<minutes>min.pt`` (score-against-compute curves).
    """
    trajectories = isinstance(data, Trajectories)
    behind = data if trajectories else getattr(data, "trajectories", None)  # what the normalizer is fit on
    if behind is None and model_config.normalization != "none":
        raise ValueError("a window source without .trajectories trains only models with normalization 'none' "
                         f"(the normalizer is fit on Trajectories), got {model_config.normalization!r}")
    rank, world = _distributed()
    device = resolve_device(train_config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if train_config.batch_size % world:
        raise ValueError(f"batch_size {train_config.batch_size} is not divisible by {world} processes")

    torch.manual_seed(train_config.seed)
    model = DiffusionForcing(model_config)
    if behind is not None:
        model.normalizer.fit(behind)
    init_meta = _init_weights(model, model_config, train_config.init_from) if train_config.init_from else {}
    if train_config.init_refit_rewards:
        _refit_rewards(model, behind)
    model.to(device)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(train_config.ema_decay), use_buffers=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(s, train_config))
    autocast, use_scaler = _autocast(device, train_config.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)

    start, wall_before = 0, 0.0
    state_path = out / "train_state.pt"
    if resume and state_path.exists():
        saved, wanted = out / "checkpoint.pt", to_dict(model_config)
        if saved.exists() and (found := read_torch_file(saved, "checkpoint").get("config")) != wanted:
            differing = sorted(key for key in {*found, *wanted} if found.get(key) != wanted.get(key))
            raise ValueError(f"{out} holds a run of another model (differs in {', '.join(differing)}); "
                             "resume it with its own settings, or choose another --out")
        state = read_torch_file(state_path, "training state")
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, wall_before = int(state["step"]), float(state["wall_s"])
    sampler = WindowSampler(data, model_config.layout, model_config.horizon) if trajectories else data
    net = DistributedDataParallel(model) if world > 1 else model
    metrics = MetricsLog(out / "metrics.jsonl", start) if rank == 0 else None
    run_meta = {"model_config": to_dict(model_config), "train_config": to_dict(train_config),
                "dataset_steps": data.num_steps, "world_size": world, **init_meta, **(meta or {})}

    def save(step: int, wall: float, path: Path | None = None) -> None:
        if rank != 0:
            return
        info = {**run_meta, "steps_done": step, "train_wall_s": round(wall, 1), "device": str(device)}
        if path is not None:  # a snapshot: the checkpoint only
            save_checkpoint(path, model, ema.module.state_dict(), info)
            return
        save_checkpoint(out / "checkpoint.pt", model, ema.module.state_dict(), info)
        atomic_torch_save({"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                           "step": step, "wall_s": wall}, state_path)

    snapshots = Snapshots(out, snapshot_minutes if rank == 0 else (), "checkpoint", ".pt")
    per_rank = train_config.batch_size // world
    data_gen = torch.Generator()
    noise_gen = torch.Generator(device=device)
    began = time.perf_counter()
    bar = tqdm(range(start, train_config.steps), initial=start, total=train_config.steps,
               disable=not progress or rank != 0, desc="train", dynamic_ncols=True)
    model.train()
    for step in bar:
        data_gen.manual_seed(_step_seed(train_config.seed, rank, step))
        noise_gen.manual_seed(_step_seed(train_config.seed, rank, step) + 1)
        window = sampler.sample(per_rank, data_gen)
        token_cond = None if window.token_cond is None else window.token_cond.to(device)
        with autocast:
            loss = net(window.tokens.to(device), window.cond.to(device), window.mask.to(device), token_cond,
                       generator=noise_gen, pattern=train_config.noise_pattern)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip or float("inf"))
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        ema.update_parameters(model)
        done = step + 1
        for _, path in snapshots.due(wall_before + time.perf_counter() - began):
            save(done, wall_before + time.perf_counter() - began, path)
        if metrics is not None and (done % train_config.log_every == 0 or done == train_config.steps):
            wall = wall_before + time.perf_counter() - began
            row = {"step": done, "loss": round(loss.item(), 6), "grad_norm": round(float(grad_norm), 4),
                   "lr": scheduler.get_last_lr()[0], "wall_s": round(wall, 2)}
            metrics.write(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
        if done % train_config.checkpoint_every == 0 or done == train_config.steps:
            save(done, wall_before + time.perf_counter() - began)
    if world > 1:
        dist.barrier()
    if rank == 0 and not (out / "checkpoint.pt").exists():
        save(start, wall_before)
    if world > 1:
        dist.barrier()
    trained, _ = load_checkpoint(out / "checkpoint.pt", device)
    return trained
