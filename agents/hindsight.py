"""Goal-conditioned transitions from a maze stream by hindsight relabelling (future states).

The locally generated Maze2D datasets are one continuous stream of a waypoint controller
chasing goals that change on arrival (DESIGN.md section 5). Offline goal-conditioned RL
(IQL, CQL on ``concat(observation, goal)``) needs episodes with a goal and the suite's
reward, so the stream is cut into segments of ``segment_length`` steps (never across a
discontinuity), and each segment yields ``1 + future_goals`` copies, each an episode with
one goal:

- one **fixed-goal** copy: the whole segment with the env's fixed D4RL goal, so the
  ``maze2d-*`` task itself is covered;
- ``future_goals`` **relabelled** copies (Andrychowicz et al. 2017, "future" strategy): a
  step ``g`` of the segment is drawn uniformly, the goal is the position the agent reaches
  after that step, and the copy is the segment's prefix up to and including step ``g`` —
  so every transition of the copy has its goal at or after it in the same segment.

Rewards follow the suite: 1.0 when the position after the step is within 0.5 of the goal
(:func:`envs.collect.relabel_rewards`), else 0.0. Maze2D never terminates, so copies end
in a timeout. Relabelled data grows to about ``(1 + future_goals / 2)`` times the stream;
``max_transitions`` keeps a random subset of whole segments when it would exceed the cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfplan.data import Trajectories
from envs.collect import relabel_rewards


@dataclass(frozen=True)
class GoalTransitions:
    """Relabelled copies stored back to back, d3rlpy's episode layout (raw units).

    Copy ``c`` has ``copy_lengths[c] = L_c`` transitions and ``L_c + 1`` rows: row ``r`` holds
    the observation before step ``r`` of the copy, its action and its reward; the copy's last
    row holds only the final observation (zero action and reward, never a transition).
    """

    observations: np.ndarray
    """(R, O + 2) float32: the observation (x, y, vx, vy; AntMaze: D4RL's 29-number ant state), then
    goal_x, goal_y; R = sum(L_c + 1)."""
    actions: np.ndarray
    """(R, A) float32: action in [-1, 1]; zero on each copy's last row."""
    rewards: np.ndarray
    """(R,) float32: 1.0 when the next position is within 0.5 of the goal; zero on last rows."""
    timeouts: np.ndarray
    """(R,) bool: True on each copy's last row (maze2d never terminates)."""
    copy_lengths: np.ndarray
    """(E,) int64: transitions per copy."""
    copy_starts: np.ndarray
    """(E,) int64: index of each copy's first step among the stream's steps (``data.actions``)."""
    fixed_goal: np.ndarray
    """(E,) bool: True for a fixed-goal copy, False for a future-state relabelled one."""

    @property
    def num_transitions(self) -> int:
        return int(self.copy_lengths.sum())


@dataclass(frozen=True)
class _Segments:
    step_starts: np.ndarray  # (S,) first step of each segment among the stream's steps
    obs_starts: np.ndarray  # (S,) row of its first observation in data.observations
    lengths: np.ndarray  # (S,) steps per segment


def _segments(data: Trajectories, segment_length: int) -> _Segments:
    """Cut every continuous run of ``data`` into pieces of ``segment_length`` steps (last may be shorter)."""
    run_lengths = np.asarray(data.episode_lengths, dtype=np.int64)
    run_steps = np.concatenate([[0], np.cumsum(run_lengths)[:-1]])
    pieces = -(-run_lengths // segment_length)  # ceil
    run_of_piece = np.repeat(np.arange(len(run_lengths)), pieces)
    offsets = (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)) * segment_length
    step_starts = run_steps[run_of_piece] + offsets
    lengths = np.minimum(segment_length, run_lengths[run_of_piece] - offsets)
    # Run e's observations sit at rows step + e (each earlier run adds one final observation).
    return _Segments(step_starts, step_starts + run_of_piece, lengths)


def hindsight_relabel(
    data: Trajectories,
    fixed_goal: np.ndarray,
    segment_length: int,
    future_goals: int,
    max_transitions: int | None = None,
    seed: int = 0,
) -> GoalTransitions:
    """Relabelled goal-conditioned copies of ``data`` (see the module docstring).

    Args:
        data: the maze stream (observations starting with x, y; raw units), split only at real
            discontinuities (:func:`agents.datasets.to_trajectories`).
        fixed_goal: (2,) the env's fixed goal (x, y), e.g. ``get_env_spec(env_id).maze.goal_xy``.
        segment_length: steps per segment (>= 1).
        future_goals: relabelled copies per segment (>= 0).
        max_transitions: cap on the transitions of all copies; above it a random subset of
            whole segments is kept (None: no cap).
        seed: seeds the goal steps and the subset.

    Raises:
        ValueError: for a non-positive ``segment_length``, negative ``future_goals``, a
            ``fixed_goal`` not of shape (2,), or observations too short to hold a position.
    """
    if segment_length < 1 or future_goals < 0:
        raise ValueError(f"need segment_length >= 1 and future_goals >= 0, got {segment_length}, {future_goals}")
    fixed_goal = np.asarray(fixed_goal, dtype=np.float32)
    if fixed_goal.shape != (2,):
        raise ValueError(f"fixed_goal must have shape (2,), got {fixed_goal.shape}")
    if data.obs_dim < 2:
        raise ValueError(f"expected observations that start with the position (x, y), got {data.obs_dim} entries")
    rng = np.random.default_rng(seed)
    segments = _segments(data, segment_length)
    goal_steps = rng.integers(0, segments.lengths[:, None], size=(len(segments.lengths), future_goals))  # (S, K)
    per_segment = segments.lengths + (goal_steps + 1).sum(axis=1)
    keep = np.arange(len(per_segment))
    if max_transitions is not None and per_segment.sum() > max_transitions:
        order = rng.permutation(len(per_segment))
        keep = np.sort(order[np.cumsum(per_segment[order]) <= max_transitions])
        if len(keep) == 0:
            raise ValueError(f"max_transitions={max_transitions} is smaller than one segment's copies")

    # One row per copy: the fixed-goal copy of each kept segment, then its relabelled ones.
    n_copies = 1 + future_goals
    lengths = np.concatenate([segments.lengths[keep, None], goal_steps[keep] + 1], axis=1).reshape(-1)
    step_starts = np.repeat(segments.step_starts[keep], n_copies)
    obs_starts = np.repeat(segments.obs_starts[keep], n_copies)
    fixed = np.tile(np.arange(n_copies) == 0, len(keep))
    goals = np.where(fixed[:, None], fixed_goal, data.observations[obs_starts + lengths, :2])  # (E, 2)

    rows = lengths + 1
    first_row = np.cumsum(rows) - rows
    within = np.arange(rows.sum()) - np.repeat(first_row, rows)  # 0..L_c per copy
    last = within == np.repeat(lengths, rows)
    obs_rows = np.repeat(obs_starts, rows) + within
    steps = np.minimum(np.repeat(step_starts, rows) + within, data.num_steps - 1)
    row_goals = np.repeat(goals, rows, axis=0)
    next_positions = data.observations[np.minimum(obs_rows + 1, len(data.observations) - 1), :2]
    rewards = np.where(last, 0.0, relabel_rewards(next_positions, row_goals)).astype(np.float32)
    actions = np.where(last[:, None], 0.0, data.actions[steps]).astype(np.float32)
    observations = np.concatenate([data.observations[obs_rows], row_goals], axis=1).astype(np.float32)
    return GoalTransitions(observations, actions, rewards, last, lengths.astype(np.int64),
                           step_starts.astype(np.int64), fixed)
