"""The benchmark agents by name: how to obtain a trained agent for (env, preset, seed).

Each :class:`AgentSpec` says whether the agent is trained, how to train it (or find an
existing model: a shipped checkpoint, a finished run), how to build the evaluated agent
from that model, and the evaluation batch size. Adding a baseline is one entry in
:data:`AGENTS` (and removing its name from :data:`PLANNED`).

Training happens once per (agent, training env, preset, seed), in the run folder
``<runs_dir>/<agent>-<training env>-<preset>-seed<seed>``; an unfinished run is resumed, a
finished one is reused. ``df`` trains one model per maze on the ``maze2d-*`` dataset and
evaluates it on both the ``maze2d-*`` and ``multi2d-*`` env of that maze, as the shipped
checkpoints do.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.protocol import Agent

TRAIN_LOG = "train.log"
"""The training subprocess's output, kept in its run folder."""


@dataclass(frozen=True)
class TrainRequest:
    """What to train: ``agent`` on ``env_id``'s dataset with ``preset`` and ``seed``."""

    agent: str
    env_id: str
    """The training env (see :attr:`AgentSpec.training_env`)."""
    preset: str
    """``quick`` or ``full``."""
    seed: int
    """Training seed."""
    runs_dir: Path
    """Parent folder of the run folders."""
    device: str = "auto"
    """Training device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``."""

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / f"{self.agent}-{self.env_id}-{self.preset}-seed{self.seed}"


@dataclass(frozen=True)
class TrainedModel:
    """A trained model on disk, as a training job hands it to the evaluation jobs."""

    path: Path
    """Checkpoint file."""
    seed: int
    """The training seed of the model."""
    train_wall_s: float | None
    """Training wall time in seconds, when recorded."""
    source: str
    """``shipped`` or ``trained``."""


@dataclass(frozen=True)
class BuildRequest:
    """What to evaluate: the agent for ``env_id`` (from ``model`` when trained)."""

    env_id: str
    seed: int
    """Seed for the agent's own randomness (the first evaluation seed)."""
    model: TrainedModel | None = None
    device: str = "auto"


@dataclass(frozen=True)
class BuiltAgent:
    """An agent ready to evaluate, with the facts its result row records."""

    agent: Agent
    device: str
    """Where it runs (the row's ``device``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts for the row's ``extra`` (checkpoint, planner settings, ...)."""


@dataclass(frozen=True)
class AgentSpec:
    """How the runner obtains and evaluates one benchmark agent."""

    name: str
    build: Callable[[BuildRequest], BuiltAgent]
    """Build the evaluated agent (from the trained model, for trained agents)."""
    train: Callable[[TrainRequest], TrainedModel] | None = None
    """Obtain a trained model (reuse, resume or train); None for agents that are not trained."""
    eval_batch_size: int = 1
    """Episodes run in lockstep through one batched ``act``."""
    variant: str = "default"
    """The result rows' variant label."""
    training_env: Callable[[str], str] = str
    """The env whose training run serves an evaluation env (identity by default)."""

    @property
    def trained(self) -> bool:
        return self.train is not None


def _build_oracle(request: BuildRequest) -> BuiltAgent:
    from agents import OracleAgent

    return BuiltAgent(OracleAgent(request.env_id, seed=request.seed), "cpu")


def _build_random(request: BuildRequest) -> BuiltAgent:
    from agents import RandomAgent

    return BuiltAgent(RandomAgent(seed=request.seed), "cpu")


def _maze2d_env(env_id: str) -> str:
    """The ``maze2d-*`` env of ``env_id``'s maze: one DF model serves maze2d and multi2d."""
    return env_id.replace("multi2d-", "maze2d-")


def _checkpoint_facts(path: Path) -> tuple[dict[str, Any], bool]:
    """A DF checkpoint's meta and whether its training finished (False if unreadable)."""
    from dfplan.checkpoint import CheckpointError, read_torch_file

    try:
        meta = dict(read_torch_file(path).get("meta") or {})
    except (FileNotFoundError, CheckpointError):
        return {}, False
    steps = meta.get("train_config", {}).get("steps")
    return meta, steps is not None and meta.get("steps_done", 0) >= steps


def _train_df(request: TrainRequest) -> TrainedModel:
    """The shipped checkpoint, else a finished run, else train one now.

    The shipped checkpoint serves preset ``quick`` when it was trained with the requested
    seed (the shipped models use seed 0, the quick sweep's default). Training runs ``python -m dfplan train --env ... --resume`` as a subprocess, its output
    in the run folder's ``train.log``; a failure raises with the log's tail.
    """
    from dfplan.planner import resolve_checkpoint

    if request.preset == "quick":
        shipped = resolve_checkpoint(request.env_id)
        if shipped.exists():
            meta, _ = _checkpoint_facts(shipped)
            if meta.get("train_config", {}).get("seed", request.seed) == request.seed:
                return TrainedModel(shipped, request.seed, meta.get("train_wall_s"), "shipped")
    run = request.run_dir
    checkpoint = run / "checkpoint.pt"
    meta, finished = _checkpoint_facts(checkpoint)
    if not finished:
        run.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "dfplan", "train", "--env", request.env_id, "--preset", request.preset,
                   "--seed", str(request.seed), "--device", request.device, "--out", str(run), "--resume"]
        with open(run / TRAIN_LOG, "a") as log:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        meta, finished = _checkpoint_facts(checkpoint)
        if code != 0 or not finished:
            tail = "\n".join((run / TRAIN_LOG).read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"training {run} failed (exit code {code}); last lines of {run / TRAIN_LOG}:\n{tail}")
    return TrainedModel(checkpoint, request.seed, meta.get("train_wall_s"), "trained")


def _build_df(request: BuildRequest) -> BuiltAgent:
    import envs
    from dfplan.planner import DFPlanner

    if request.model is None:
        raise ValueError("the df agent needs a trained model")
    env = envs.make(request.env_id)
    try:
        planner = DFPlanner.load(request.model.path, request.device, env=env)
    finally:
        env.close()
    return BuiltAgent(planner, str(planner.device), {"planner": planner.planner_meta()})


AGENTS: dict[str, AgentSpec] = {
    "df": AgentSpec("df", _build_df, _train_df, eval_batch_size=50, training_env=_maze2d_env),
    "oracle": AgentSpec("oracle", _build_oracle),
    "random": AgentSpec("random", _build_random),
}
"""The agents the runner can evaluate, by name."""

PLANNED: tuple[str, ...] = ("diffuser", "sac-her", "iql", "cql")
"""Baselines of DESIGN.md section 6 not implemented yet."""


def get_agent_spec(name: str) -> AgentSpec:
    """The spec of agent ``name``; an unknown or not yet implemented name raises ``ValueError``."""
    if name in AGENTS:
        return AGENTS[name]
    known = ", ".join(AGENTS)
    if name in PLANNED:
        raise ValueError(f"agent {name!r} is planned but not implemented yet; known agents: {known}")
    raise ValueError(f"unknown agent {name!r}; known agents: {known} (planned: {', '.join(PLANNED)})")
