"""The runner's jobs: training one model, and evaluating one agent on one env.

Jobs are small frozen dataclasses that pickle, so a process pool or Ray runs them; the
job functions run in a worker and never raise for a failure of the job itself: a failed
job comes back as a :class:`JobOutcome` holding the traceback (``KeyboardInterrupt``
still propagates, so an interrupted sweep stops).
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from benchmarks.evaluate import evaluate
from benchmarks.registry import BuildRequest, TrainedModel, TrainRequest, get_agent_spec
from envs.scoring import EpisodeMetrics


@dataclass(frozen=True)
class TrainJob:
    """Obtain one trained model (shared by the evaluation jobs that need it)."""

    request: TrainRequest
    workdir: str
    """Directory the job runs in (the repository, for ``git`` provenance and relative paths)."""

    @property
    def key(self) -> str:
        r = self.request
        return f"train/{r.agent}/{r.env_id}/{r.preset}/seed{r.seed}"


@dataclass(frozen=True)
class EvalJob:
    """Evaluate one agent (one training seed of it) on one env."""

    env_id: str
    agent: str
    variant: str
    preset: str
    train_seed: int | None
    """None for agents that are not trained."""
    episodes: int
    eval_seed: int
    """Episode ``i`` resets the env with ``eval_seed + i``."""
    batch_size: int
    device: str
    command: str
    """The sweep command, recorded in the row."""
    workdir: str

    @property
    def key(self) -> str:
        """Identity in the job ledger: a job with a recorded key is not run again."""
        seed = "-" if self.train_seed is None else self.train_seed
        return (f"eval/{self.env_id}/{self.agent}/{self.variant}/{self.preset}/seed{seed}"
                f"/{self.episodes}ep-from{self.eval_seed}")

    @property
    def group(self) -> tuple[str, str, str, str, int, int]:
        """The evaluations pooled into one result row: all training seeds of one setting."""
        return (self.env_id, self.agent, self.variant, self.preset, self.episodes, self.eval_seed)


@dataclass(frozen=True)
class JobOutcome:
    """What a job sends back to the runner."""

    key: str
    ok: bool
    wall_s: float
    model: TrainedModel | None = None
    """Training jobs: the model."""
    row: dict[str, Any] | None = None
    """Evaluation jobs: the result row of this one model."""
    episodes: dict[str, list] | None = None
    """Evaluation jobs: per-episode metrics as columns (:class:`EpisodeMetrics` fields)."""
    error: str | None = None
    """Failed jobs: the traceback."""


def episodes_to_columns(episodes: list[EpisodeMetrics]) -> dict[str, list]:
    """Per-episode metrics as ``{field: [value per episode]}`` (compact JSON)."""
    return {f.name: [getattr(e, f.name) for e in episodes] for f in fields(EpisodeMetrics)}


def episodes_from_columns(columns: dict[str, list]) -> list[EpisodeMetrics]:
    """Inverse of :func:`episodes_to_columns`."""
    names = [f.name for f in fields(EpisodeMetrics)]
    return [EpisodeMetrics(**dict(zip(names, values, strict=True)))
            for values in zip(*(columns[name] for name in names), strict=True)]


def _enter(workdir: str) -> None:
    if Path.cwd() != Path(workdir):
        os.chdir(workdir)


def portable_path(path: str | Path, root: str | Path | None = None) -> str:
    """``path`` relative to ``root`` (default: the working directory, i.e. the repository) when
    inside it, as rows and ledgers record paths; ``root`` itself becomes ``"."``."""
    root = Path.cwd() if root is None else Path(root).resolve()
    resolved = Path(path).resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)


def run_train_job(job: TrainJob) -> JobOutcome:
    """Obtain the model (reuse, resume or train); a failure is returned, not raised."""
    began = time.perf_counter()
    try:
        _enter(job.workdir)
        spec = get_agent_spec(job.request.agent)
        if spec.train is None:
            raise ValueError(f"agent {spec.name!r} is not trained")
        model = spec.train(job.request)
    except Exception:
        return JobOutcome(job.key, False, time.perf_counter() - began, error=traceback.format_exc())
    return JobOutcome(job.key, True, time.perf_counter() - began, model=model)


def run_eval_job(job: EvalJob, model: TrainedModel | None) -> JobOutcome:
    """Build the agent and evaluate it; a failure is returned, not raised."""
    began = time.perf_counter()
    try:
        _enter(job.workdir)
        spec = get_agent_spec(job.agent)
        built = spec.build(BuildRequest(job.env_id, job.eval_seed, model, job.device))
        extra = {"preset": job.preset, **built.extra}
        if model is not None:
            extra["model"] = {**asdict(model), "path": portable_path(model.path)}
        evaluation = evaluate(built.agent, job.env_id, job.episodes, job.eval_seed, agent_name=spec.row_agent,
                              variant=job.variant, train_seeds=[] if model is None else [model.seed],
                              train_wall_s=None if model is None else model.train_wall_s, device=built.device,
                              command=job.command, batch_size=job.batch_size, extra=extra,
                              max_episode_steps=spec.max_episode_steps)
    except Exception:
        return JobOutcome(job.key, False, time.perf_counter() - began, error=traceback.format_exc())
    return JobOutcome(job.key, True, time.perf_counter() - began, row=evaluation.row.to_dict(),
                      episodes=episodes_to_columns(evaluation.episodes))
