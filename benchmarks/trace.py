"""What failed episodes did: per-episode traces of an evaluation.

    python -m benchmarks eval --checkpoint antmaze-umaze-diverse-v2 --env antmaze-umaze-diverse-v2 \\
        --episodes 50 --seed 1000 --results none --trace runs/trace.json

A score says how many episodes reached the goal; a trace says what the others did. Every
episode gets its closest approach to the goal, where it ended, how far it moved over its last
:data:`STALL_WINDOW` steps and, on AntMaze, the first step at which the ant lay on its side or
back (``torso_up < 0``, :func:`envs.antmazes.torso_up`) with the torso's closest approach to a wall
over the :data:`FLIP_WINDOW` steps before (did it catch a wall?). A failed episode gets one kind:

- ``flipped``: the ant tipped over (a flipped ant cannot right itself);
- ``stalled``: it moved less than :data:`STALL_DISTANCE` over its last :data:`STALL_WINDOW` steps;
- ``timed_out``: it was still on its way when the episode ended.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import envs
from dfplan.files import atomic_write_text
from envs.antmazes import ANT_BODY_DIM, get_antmaze_spec, torso_up
from envs.scoring import EpisodeMetrics

STALL_WINDOW = 100
"""Steps at the end of an episode over which a failed episode's movement is measured."""
STALL_DISTANCE = 0.5
"""Less movement than this (the goal radius) over the last :data:`STALL_WINDOW` steps is a stall."""
PATH_EVERY = 10
"""The recorded path keeps every this many steps' (x, y)."""
KINDS = ("flipped", "stalled", "timed_out")
FLIP_WINDOW = 50
"""A flip's ``flip_wall_distance`` is the torso's closest approach to a wall over this many steps before it."""


def trace_episode(env_id: str, seed: int, episode: EpisodeMetrics, trace: dict[str, np.ndarray]) -> dict[str, Any]:
    """One episode's trace record from its metrics and its path (:func:`benchmarks.evaluate.run_lockstep`)."""
    xy = np.asarray(trace["achieved_goal"], dtype=np.float64)
    goal = np.asarray(trace["desired_goal"], dtype=np.float64)
    observation = np.asarray(trace["observation"])
    if xy.ndim != 2 or xy.shape[1] != 2 or goal.shape != (2,) or len(observation) != len(xy):
        raise ValueError(f"a trace holds (T + 1, 2) positions, (T + 1, O) observations and a (2,) goal; got "
                         f"{xy.shape}, {observation.shape} and {goal.shape}")
    flip_step = flip_wall = None
    if envs.is_antmaze(env_id):
        down = np.flatnonzero(torso_up(observation[:, :ANT_BODY_DIM]) < 0)
        flip_step = int(down[0]) if len(down) else None
        if flip_step is not None:  # how close the torso came to a wall over the steps before it lay down
            before = xy[max(flip_step - FLIP_WINDOW, 0) : flip_step + 1]
            flip_wall = round(float(get_antmaze_spec(env_id).maze.wall_distance(before).min()), 3)
    moved_last = float(np.linalg.norm(xy[-1] - xy[max(len(xy) - 1 - STALL_WINDOW, 0)]))
    kind = None
    if not episode.success:
        kind = "flipped" if flip_step is not None else "stalled" if moved_last < STALL_DISTANCE else "timed_out"
    return {"seed": seed, "success": episode.success, "first_reach_step": episode.first_reach_step,
            "length": episode.length, "kind": kind,
            "min_goal_distance": round(float(np.linalg.norm(xy - goal, axis=-1).min()), 3),
            "end_xy": np.round(xy[-1], 2).tolist(), "goal_xy": np.round(goal, 2).tolist(),
            "moved_last": round(moved_last, 3), "flip_step": flip_step, "flip_wall_distance": flip_wall,
            "path": np.round(xy[::PATH_EVERY], 2).tolist()}


def trace_records(env_id: str, seeds: list[int], episodes: list[EpisodeMetrics],
                  traces: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Trace records of an evaluation's episodes (seeds, metrics and paths in episode order)."""
    if not len(seeds) == len(episodes) == len(traces):
        raise ValueError(f"{len(seeds)} seeds, {len(episodes)} episodes and {len(traces)} traces do not match")
    return [trace_episode(env_id, *item) for item in zip(seeds, episodes, traces, strict=True)]


def failure_summary(records: list[dict[str, Any]]) -> str:
    """One line: failures by kind and the median closest approach of the failed episodes."""
    failed = [r for r in records if not r["success"]]
    if not failed:
        return f"no failures in {len(records)} episodes"
    kinds = Counter(r["kind"] for r in failed)
    closest = float(np.median([r["min_goal_distance"] for r in failed]))
    walls = [r["flip_wall_distance"] for r in failed if r.get("flip_wall_distance") is not None]
    return (f"{len(failed)} of {len(records)} episodes failed: "
            + ", ".join(f"{kinds[k]} {k.replace('_', ' ')}" for k in KINDS if kinds[k])
            + f"; median closest approach {closest:.2f}"
            + (f"; flips came within a median {np.median(walls):.2f} of a wall" if walls else ""))


def write_trace(path: str | Path, records: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """Write ``{"meta", "summary", "episodes"}`` as JSON at ``path`` (atomically)."""
    if Path(path).is_dir():
        raise ValueError(f"--trace {path} is a folder; give a .json file")
    document = {"meta": meta, "summary": failure_summary(records),
                "kinds": dict(Counter(r["kind"] for r in records if r["kind"])), "episodes": records}
    return atomic_write_text(path, json.dumps(document, indent=1) + "\n")
