"""The results format of DESIGN.md section 5: ``results/maze2d/results.json`` (and, the same
format, ``results/antmaze/results.json``).

The file is a JSON list of rows, one per (env, agent, variant), written one row per line.
:class:`ResultRow` validates a row; :func:`upsert_rows` replaces rows with the same key and
adds new ones atomically (temp file + ``os.replace``, under an exclusive lock so parallel jobs
do not lose each other's rows). A file that cannot be read as valid rows is an error, never
overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from dfplan.files import atomic_write_text, read_json_rows
from envs.antmazes import ANTMAZE_IDS
from envs.mazes import ENV_IDS

DEFAULT_RESULTS_PATH = Path("results/maze2d/results.json")
ANTMAZE_RESULTS_PATH = Path("results/antmaze/results.json")
SUITE_ENV_IDS = ENV_IDS + ANTMAZE_IDS
"""The env ids a row may name: the Maze2D / Multi2D suite and the AntMaze suite."""


def default_results_path(env_id: str) -> Path:
    """The committed results file of ``env_id``'s suite."""
    return ANTMAZE_RESULTS_PATH if env_id in ANTMAZE_IDS else DEFAULT_RESULTS_PATH


class ResultsFormatError(ValueError):
    """A row or a results file does not follow the format."""


def _finite(
    name: str, value: Any, minimum: float | None = None, maximum: float | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ResultsFormatError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ResultsFormatError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ResultsFormatError(f"{name} must be <= {maximum}, got {value!r}")


def _int_list(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ResultsFormatError(f"{name} must be a list of ints, got {value!r}")


@dataclass(frozen=True)
class ResultRow:
    """One measured row: an agent variant evaluated on one env."""

    env: str
    """Suite env id, e.g. ``maze2d-large-v1`` or ``antmaze-large-diverse-v2``."""
    agent: str
    """Agent name: ``oracle``, ``random``, ``df``, ``diffuser``, ``sac-her``, ..."""
    variant: str
    """Configuration label within the agent (``default`` when there is one)."""
    n_episodes: int
    """Evaluation episodes (= len(eval_seeds))."""
    train_seeds: list[int]
    """Training seeds averaged over (empty for agents that are not trained)."""
    eval_seeds: list[int]
    """The env reset seed of each evaluation episode."""
    score_mean: float
    """Mean D4RL-normalized score ×100."""
    score_sem: float
    """Standard error of the mean score."""
    success_rate: float
    """Fraction of episodes that came within 0.5 of the goal, in [0, 1]."""
    first_reach_mean: float | None
    """Mean env steps to first reach the goal, over successful episodes; None if none."""
    return_mean: float
    """Mean undiscounted return."""
    act_ms_median: float
    """Median wall time of one ``act`` call at batch 1, ms (amortized over replans)."""
    replan_ms_median: float | None
    """Median wall time of one replan, ms; None for agents that do not plan."""
    train_wall_s: float | None
    """Training wall time in seconds; None for agents that are not trained."""
    device: str
    """Where the agent ran: ``cpu``, ``cuda``, ..."""
    commit: str
    """``git rev-parse HEAD`` of the code measured (``-dirty`` appended if it had local edits)."""
    date: str
    """ISO-8601 time of the measurement."""
    command: str
    """The exact command that produced the row."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form additional facts (versions, budgets); not used as a key."""

    def __post_init__(self) -> None:
        if self.env not in SUITE_ENV_IDS:
            raise ResultsFormatError(f"env must be one of {', '.join(SUITE_ENV_IDS)}, got {self.env!r}")
        for name in ("agent", "variant", "device", "commit", "command"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ResultsFormatError(f"{name} must be a non-empty string, got {value!r}")
        if (
            isinstance(self.n_episodes, bool)
            or not isinstance(self.n_episodes, int)
            or self.n_episodes < 1
        ):
            raise ResultsFormatError(f"n_episodes must be a positive int, got {self.n_episodes!r}")
        _int_list("train_seeds", self.train_seeds)
        _int_list("eval_seeds", self.eval_seeds)
        if len(self.eval_seeds) != self.n_episodes:
            raise ResultsFormatError(
                f"eval_seeds has {len(self.eval_seeds)} entries, n_episodes is {self.n_episodes}"
            )
        _finite("score_mean", self.score_mean)
        _finite("score_sem", self.score_sem, minimum=0.0)
        _finite("success_rate", self.success_rate, 0.0, 1.0)
        _finite("return_mean", self.return_mean, minimum=0.0)
        _finite("act_ms_median", self.act_ms_median, minimum=0.0)
        for name in ("first_reach_mean", "replan_ms_median", "train_wall_s"):
            if getattr(self, name) is not None:
                _finite(name, getattr(self, name), minimum=0.0)
        if self.first_reach_mean is None and self.success_rate > 0:
            raise ResultsFormatError("first_reach_mean is required when success_rate > 0")
        if not isinstance(self.date, str):
            raise ResultsFormatError(f"date must be an ISO-8601 string, got {self.date!r}")
        try:
            datetime.fromisoformat(self.date)
        except ValueError as error:
            raise ResultsFormatError(f"date must be ISO-8601, got {self.date!r}") from error
        if not isinstance(self.extra, dict):
            raise ResultsFormatError(f"extra must be a dict, got {self.extra!r}")

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the row in the file: (env, agent, variant)."""
        return (self.env, self.agent, self.variant)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultRow:
        """Build a validated row; unknown or missing fields are errors."""
        if not isinstance(data, dict):
            raise ResultsFormatError(f"a row must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(names - set(data) - {"extra"})
        if unknown or missing:
            raise ResultsFormatError(f"row fields: unknown {unknown}, missing {missing}")
        return cls(**data)


def load_rows(path: str | Path = DEFAULT_RESULTS_PATH) -> list[ResultRow]:
    """Read and validate a results file; a missing file is an empty list.

    Raises:
        ResultsFormatError: the file is not valid JSON, not a list, or a row is invalid.
    """
    path = Path(path)
    try:
        data = read_json_rows(path, (), "results file")
    except ValueError as error:
        raise ResultsFormatError(str(error)) from error
    try:
        return [ResultRow.from_dict(row) for row in data]
    except (ResultsFormatError, TypeError) as error:
        raise ResultsFormatError(f"{path}: invalid row: {error}") from error


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive lock for read-modify-write of ``path`` (lock file in the temp dir, not the repo)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"dfplan-results-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upsert_rows(
    rows: Iterable[ResultRow], path: str | Path = DEFAULT_RESULTS_PATH
) -> list[ResultRow]:
    """Insert or replace ``rows`` (keyed by env, agent, variant) in the results file, atomically.

    Returns all rows now in the file, sorted by key. Raises :class:`ResultsFormatError`
    (and leaves the file untouched) if the existing file is corrupt or a row is invalid.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new_rows = list(rows)
    for row in new_rows:
        if not isinstance(row, ResultRow):
            raise ResultsFormatError(f"expected ResultRow, got {type(row).__name__}")
    with _locked(path):
        by_key = {row.key: row for row in load_rows(path)}
        by_key.update({row.key: row for row in new_rows})
        merged = [by_key[key] for key in sorted(by_key)]
        lines = ",\n".join(" " + json.dumps(row.to_dict()) for row in merged)
        atomic_write_text(path, f"[\n{lines}\n]\n")  # one row per line: readable diffs
    return merged
