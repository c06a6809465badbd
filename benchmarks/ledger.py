"""The job ledger beside the results file (``results/maze2d/jobs.json``) and how rows pool.

The ledger records every finished job by key (:attr:`benchmarks.jobs.EvalJob.key`):
``status`` ``done`` (with the job's own result row and per-episode metrics) or
``failed`` (with the traceback). A sweep skips jobs recorded as ``done`` — unless the model
file they evaluated (and its ``<stem>.*`` siblings) has changed since, by content hash — and
retries failed ones. Paths inside the repository (the job's ``workdir``, model files, the
runs folder) are recorded relative to it, so a ledger reads the same in any clone; the runner
resolves them against its own working directory. Each record is written as soon as its job ends, atomically and under a
lock, so an interrupted sweep loses only the jobs still running.

**Pooling.** The evaluations of one setting over several training seeds become one result
row (:func:`pooled_row`): episodes are pooled (``n_episodes`` = episodes per model ×
models; ``eval_seeds`` lists each episode's reset seed, model after model, so the same
starts repeat once per model), and the score mean ± SEM, success rate, time to first
reach and return are over all pooled episodes. ``train_seeds`` lists the models' seeds,
``act_ms_median`` / ``replan_ms_median`` are the median over models, ``train_wall_s`` the
mean training time of one model, and ``extra["per_model"]`` keeps each model's own numbers.
One model gives its own row unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.evaluate import episode_summary
from benchmarks.jobs import JobOutcome, episodes_from_columns, portable_path
from benchmarks.results import ResultRow, ResultsFormatError, _locked
from dfplan.files import atomic_write_text

FORMAT = "dfplan-benchmark-jobs"
VERSION = 1


def ledger_path(results_path: str | Path) -> Path:
    """The ledger that goes with a results file: ``jobs.json`` in the same folder."""
    return Path(results_path).with_name("jobs.json")


def load_ledger(path: str | Path) -> dict[str, dict[str, Any]]:
    """Job records by key; a missing ledger is empty, an unreadable one an error (never overwritten)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFormatError(f"{path} is not valid JSON ({error}); fix or move it, it will not be overwritten") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("jobs"), dict):
        raise ResultsFormatError(f"{path} is not a {FORMAT} ledger")
    return data["jobs"]


def model_stamp(path: str | Path | None) -> str | None:
    """A content hash of an evaluated model file and its siblings ``<stem>.*`` (e.g. a
    planner's ``.cost.pt``); None if there is no such file."""
    if not path or not Path(path).is_file():
        return None
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted({path, *path.parent.glob(f"{path.stem}.*")}):
        if file.is_file():
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def evaluated_model(record: dict[str, Any]) -> str | None:
    """The model file a ``done`` evaluation record measured, if its row names one."""
    return record.get("row", {}).get("extra", {}).get("model", {}).get("path")


def still_done(record: dict[str, Any] | None) -> bool:
    """A ``done`` record whose model is unchanged since (records without a stamp: trusted)."""
    if not record or record.get("status") != "done":
        return False
    stamp = record.get("model_stamp")
    return stamp is None or stamp == model_stamp(evaluated_model(record))


def portable(value: Any, root: str | Path | None = None) -> Any:
    """``value`` (JSON-like) with every absolute path string inside ``root`` (default: the
    working directory) made relative to it; other values unchanged."""
    if isinstance(value, dict):
        return {key: portable(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [portable(item, root) for item in value]
    if isinstance(value, str) and value.startswith("/"):
        return portable_path(value, root)
    return value


def write_ledger(path: str | Path, jobs: dict[str, dict[str, Any]]) -> None:
    """Write ``jobs`` as the ledger at ``path`` (atomically; one record per line, keys sorted)."""
    lines = ",\n".join(f" {json.dumps(key)}: {json.dumps(jobs[key])}" for key in sorted(jobs))
    atomic_write_text(path, f'{{"format": "{FORMAT}", "version": {VERSION}, "jobs": {{\n{lines}\n}}}}\n')


def record_outcome(path: str | Path, outcome: JobOutcome, job: dict[str, Any]) -> dict[str, Any]:
    """Write ``outcome`` of the job described by ``job`` into the ledger; returns the record."""
    record: dict[str, Any] = {
        "status": "done" if outcome.ok else "failed",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(outcome.wall_s, 2),
        "job": portable(job),
    }
    if not outcome.ok:
        record["error"] = outcome.error
    elif outcome.row is not None:
        record.update(row=outcome.row, episodes=outcome.episodes)
        stamp = model_stamp(evaluated_model(record))
        if stamp:
            record["model_stamp"] = stamp  # a later change to the model makes the job pending again
    elif outcome.model is not None:
        record["model"] = {**dataclasses.asdict(outcome.model), "path": portable_path(outcome.model.path)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        jobs = load_ledger(path)
        jobs[outcome.key] = record
        write_ledger(path, jobs)
    return record


def pooled_row(records: list[dict[str, Any]]) -> ResultRow:
    """One result row from the ``done`` records of one setting's models (see the module doc)."""
    if not records:
        raise ValueError("pooled_row needs at least one record")
    rows = [ResultRow.from_dict(record["row"]) for record in records]
    if len(rows) == 1:
        return rows[0]
    episodes = [e for record in records for e in episodes_from_columns(record["episodes"])]
    latest = max(rows, key=lambda row: row.date)
    replans = [row.replan_ms_median for row in rows if row.replan_ms_median is not None]
    train_walls = [row.train_wall_s for row in rows if row.train_wall_s is not None]
    per_model = [{"train_seeds": row.train_seeds, "score_mean": row.score_mean, "score_sem": row.score_sem,
                  "success_rate": row.success_rate, "first_reach_mean": row.first_reach_mean,
                  "act_ms_median": row.act_ms_median, "train_wall_s": row.train_wall_s,
                  "model": row.extra.get("model")} for row in rows]
    return dataclasses.replace(
        latest,
        n_episodes=len(episodes),
        train_seeds=sorted({seed for row in rows for seed in row.train_seeds}),
        eval_seeds=[seed for row in rows for seed in row.eval_seeds],
        **episode_summary(episodes),
        act_ms_median=statistics.median(row.act_ms_median for row in rows),
        replan_ms_median=statistics.median(replans) if replans else None,
        train_wall_s=statistics.mean(train_walls) if train_walls else None,
        device=",".join(sorted({row.device for row in rows})),
        commit=",".join(sorted({row.commit for row in rows})),
        extra={**{k: v for k, v in latest.extra.items() if k != "model"}, "episodes_per_model": rows[0].n_episodes,
               "per_model": per_model},
    )
