"""Scheduling matrices for Diffusion Forcing sampling (Chen et al. 2024, Sec. 3.3, Algorithm 2).

A scheduling matrix ``K`` has shape ``(M+1, T)``: column ``t`` is token ``t``, row ``m`` the
noise level every token must reach after sampling row ``m``. Values are integer **DDIM
sampling steps** in ``{0..S}`` (``S`` = ``num_steps``), converted to training levels by
:meth:`dfplan.noise.NoiseSchedule.level_from_step`. Every matrix satisfies:

* row 0 is all ``S`` (pure noise), the last row is all 0 (clean);
* every column is non-increasing (a token is only ever denoised).

A *warm-start* matrix (:func:`warm_start`) is the one exception to the first rule: tokens
carried over from the previous plan start part-way, from a known first row.

Matrices here are pure functions of their arguments; :func:`validate` checks the
properties above and every builder calls it before returning.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def validate(matrix: np.ndarray, num_steps: int, first_row: np.ndarray | None = None) -> np.ndarray:
    """Check a scheduling matrix and return it as ``int64``; raise ``ValueError`` otherwise.

    ``first_row``: the required row 0 (a warm start); default all ``num_steps``.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
        raise ValueError(f"scheduling matrix must have shape (M+1 >= 2, T >= 1), got {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.integer):
        if not np.all(np.isfinite(matrix)) or not np.all(matrix == np.round(matrix)):
            raise ValueError("scheduling matrix entries must be integers (DDIM sampling steps)")
    matrix = matrix.astype(np.int64)
    if matrix.min() < 0 or matrix.max() > num_steps:
        raise ValueError(f"scheduling matrix entries must lie in [0, {num_steps}]")
    if first_row is None and not np.all(matrix[0] == num_steps):
        raise ValueError(f"first row must be all {num_steps} (pure noise)")
    if first_row is not None and not np.array_equal(matrix[0], np.asarray(first_row)):
        raise ValueError(f"first row must be {np.asarray(first_row).tolist()} (the warm start)")
    if not np.all(matrix[-1] == 0):
        raise ValueError("last row must be all 0 (clean)")
    if np.any(np.diff(matrix, axis=0) > 0):
        raise ValueError("every column must be non-increasing (tokens are only denoised)")
    return matrix


def _check_sizes(horizon: int, num_steps: int) -> None:
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 token, got {horizon}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")


def _ramp(horizon: int, num_steps: int, offsets: np.ndarray) -> np.ndarray:
    """Rows ``m = 0..``: token ``t`` sits at ``clip(S - m + offsets[t], 0, S)`` until all clean.

    Offsets that jump by more than ``S`` between neighbours leave rows where no token moves
    (e.g. ``pyramid(2, 1, uncertainty=2)``); such repeats are dropped, so every row but the
    first denoises something.
    """
    rows = num_steps + int(offsets.max()) + 1
    m = np.arange(rows)[:, None]
    matrix = np.clip(num_steps - m + offsets[None, :], 0, num_steps).astype(np.int64)
    moves = np.concatenate([[True], np.any(matrix[1:] != matrix[:-1], axis=1)])
    return matrix[moves]


def full_sequence(horizon: int, num_steps: int) -> np.ndarray:
    """All tokens share one level, as in standard (full-sequence) diffusion: ``S+1`` rows."""
    _check_sizes(horizon, num_steps)
    return validate(_ramp(horizon, num_steps, np.zeros(horizon, dtype=np.int64)), num_steps)


def autoregressive(horizon: int, num_steps: int) -> np.ndarray:
    """Token ``t`` is fully denoised before token ``t+1`` starts (next-token prediction)."""
    _check_sizes(horizon, num_steps)
    return validate(_ramp(horizon, num_steps, np.arange(horizon) * num_steps), num_steps)


def pyramid(horizon: int, num_steps: int, uncertainty: float = 1.0) -> np.ndarray:
    """Causal uncertainty: each later token is ``uncertainty`` steps noisier than the one before.

    ``uncertainty = 1`` is the paper's ``K^pyramid``; 0 reduces to :func:`full_sequence`;
    ``>= num_steps`` to :func:`autoregressive`. Rows: ``S + ceil(uncertainty·(T-1)) + 1`` for
    ``uncertainty <= num_steps`` (fewer above: rows where no token moves are dropped).
    """
    _check_sizes(horizon, num_steps)
    if not math.isfinite(uncertainty) or uncertainty < 0:
        raise ValueError(f"uncertainty must be a finite number >= 0, got {uncertainty}")
    offsets = np.ceil(np.arange(horizon) * uncertainty - 1e-9).astype(np.int64)
    return validate(_ramp(horizon, num_steps, offsets), num_steps)


def trapezoid(horizon: int, num_steps: int, uncertainty: float = 1.0) -> np.ndarray:
    """Both ends first: tokens near the start *and* the end are cleaner than the middle.

    Useful when both the first and the last tokens are constrained (start and goal).
    """
    _check_sizes(horizon, num_steps)
    if not math.isfinite(uncertainty) or uncertainty < 0:
        raise ValueError(f"uncertainty must be a finite number >= 0, got {uncertainty}")
    t = np.arange(horizon)
    distance_to_end = np.minimum(t, horizon - 1 - t)
    offsets = np.ceil(distance_to_end * uncertainty - 1e-9).astype(np.int64)
    return validate(_ramp(horizon, num_steps, offsets), num_steps)


def warm_start(horizon: int, num_steps: int, kept: int, start_step: int) -> np.ndarray:
    """Rolling replanning: the first ``kept`` tokens come from the previous plan, re-noised to
    DDIM step ``start_step``; the rest is new and starts from pure noise.

    Row ``m = 0..start_step``: kept tokens sit at ``start_step − m`` (one DDIM step per row),
    new tokens at ``round(S·(1 − m / start_step))`` (bigger jumps, reaching 0 together), so a
    replan costs ``start_step`` rows instead of ``S``. ``kept = 0`` is a full-sequence
    schedule of ``start_step`` rows.
    """
    _check_sizes(horizon, num_steps)
    if not 0 <= kept <= horizon:
        raise ValueError(f"kept must be in [0, horizon={horizon}], got {kept}")
    if not 1 <= start_step <= num_steps:
        raise ValueError(f"start_step must be in [1, num_steps={num_steps}], got {start_step}")
    m = np.arange(start_step + 1)[:, None]
    new = np.round(num_steps * (1 - m / start_step)).astype(np.int64)
    matrix = np.concatenate([np.broadcast_to(start_step - m, (len(m), kept)),
                             np.broadcast_to(new, (len(m), horizon - kept))], axis=1)
    return validate(matrix, num_steps, first_row=np.r_[np.full(kept, start_step), np.full(horizon - kept, num_steps)])


def from_array(matrix: np.ndarray, horizon: int, num_steps: int, warm: bool = False) -> np.ndarray:
    """A user-given matrix, validated and checked against the horizon (``warm``: any first row)."""
    matrix = validate(matrix, num_steps, first_row=np.asarray(matrix)[0] if warm else None)
    if matrix.shape[1] != horizon:
        raise ValueError(f"matrix has {matrix.shape[1]} columns, horizon is {horizon}")
    return matrix


SCHEDULES: dict[str, Callable[..., np.ndarray]] = {
    "full_sequence": full_sequence,
    "autoregressive": autoregressive,
    "pyramid": pyramid,
    "trapezoid": trapezoid,
}


def build(name: str, horizon: int, num_steps: int, uncertainty: float = 1.0) -> np.ndarray:
    """Build a named matrix; an unknown name raises ``ValueError`` listing the valid ones."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown scheduling matrix {name!r}; valid: {', '.join(SCHEDULES)}")
    if name in ("pyramid", "trapezoid"):
        return SCHEDULES[name](horizon, num_steps, uncertainty)
    return SCHEDULES[name](horizon, num_steps)
