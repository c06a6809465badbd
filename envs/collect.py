"""Generate a D4RL-style Maze2D dataset into the local Minari store.

    python -m envs.collect maze2d-large-v1 [--steps N] [--seed S] [--overwrite]

The D4RL recipe (DESIGN.md section 5): one continuous stream in which the waypoint
controller (Q-iteration + PD, N(0, 0.5²) action noise, clipped to ±1) chases a random goal
(a free cell + U(±0.1)); on arrival (within 0.1) — or after an episode length without
arrival, as D4RL did — a new goal is drawn and the agent carries on from where it is.
MuJoCo is driven directly (same step as PointMaze: clip velocity to ±5, set ctrl, mj_step).

Stored as Minari episodes: the stream is cut into chunks of the maze's episode length
(``truncations`` True at each chunk end, ``terminations`` all False: D4RL's timeouts); each
chunk's last observation is the next chunk's first. ``rewards`` are relabelled to the env's
fixed goal (1.0 when the step ends within 0.5 of it) and ``desired_goal`` holds that fixed
goal, so the dataset is consistent with ``maze2d-*-v1``; ``infos`` carry ``qpos``, ``qvel``
and ``goal`` (the collector's moving target when the action was chosen).

The dataset is written into a staging directory and moved into the store only when
complete, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dfplan.files import atomic_write_text
from dfplan.provenance import git_commit, versions
from envs.controller import COLLECTOR_CONFIG, ControllerConfig, WaypointController
from envs.mazes import (
    ENV_IDS,
    GOAL_RADIUS,
    START_POSITION_NOISE,
    MazeSpec,
    SuiteEnvSpec,
    get_env_spec,
)

MAX_SPEED = 5.0
"""PointMaze clips each velocity component to ±5 before every step."""


@dataclass(frozen=True)
class Stream:
    """One continuous collected stream of N steps (PointMaze frame, raw units)."""

    observations: np.ndarray
    """(N + 1, 4) float64: x, y, vx, vy before each step, plus the final state."""
    actions: np.ndarray
    """(N, 2) float32: executed actions in [-1, 1]."""
    goals: np.ndarray
    """(N + 1, 2) float64: the moving target in force when each observation was taken."""
    n_goals_reached: int
    """How many goals the controller reached."""


def store_path() -> Path:
    """The local Minari store (``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``) the datasets are written to."""
    from minari.storage import get_dataset_path

    return Path(get_dataset_path())


def collect_stream(
    maze: MazeSpec,
    n_steps: int,
    seed: int = 0,
    config: ControllerConfig = COLLECTOR_CONFIG,
    progress: bool = True,
    dwell: int = 0,
) -> Stream:
    """Run the noisy waypoint controller for ``n_steps`` steps of one continuous stream.

    ``dwell`` > 0 departs from D4RL: on each arrival the controller holds its goal for a number
    of steps drawn uniformly from ``0 .. dwell`` (the same PD and action noise) before the next
    goal is drawn, so the stream also shows the agent slowing down and staying put.
    """
    import mujoco
    from tqdm import tqdm

    from envs.maze_env import Maze2DEnv

    if n_steps < 1 or dwell < 0:
        raise ValueError(f"n_steps must be positive and dwell >= 0, got {n_steps} and {dwell}")
    env = Maze2DEnv(f"multi2d-{maze.name}-v1")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    controller = WaypointController(maze, replace(config, action_noise_std=0.0), seed=seed + 1)
    model, data = env.point_env.model, env.point_env.data
    qpos, qvel, ctrl = data.qpos, data.qvel, data.ctrl
    free_xy = maze.cell_to_xy(np.asarray(maze.free_cells))

    def new_goal() -> tuple[float, float]:
        x, y = free_xy[rng.integers(len(free_xy))] + rng.uniform(
            -START_POSITION_NOISE, START_POSITION_NOISE, size=2
        )
        return float(x), float(y)

    observations = np.empty((n_steps + 1, 4))
    actions = np.empty((n_steps, 2), dtype=np.float32)
    goals = np.empty((n_steps + 1, 2))
    chunk = 10_000
    noise = np.empty((0, 2))
    gx, gy = new_goal()
    steps_on_goal = 0
    reached = 0
    holding = -1  # steps left to hold the reached goal (-1: not reached yet)
    with tqdm(total=n_steps, desc=f"collect {maze.name}", unit="step", disable=not progress) as bar:
        for t in range(n_steps):
            if t % chunk == 0:
                noise = config.action_noise_std * rng.standard_normal((chunk, 2))
                bar.update(t - bar.n)
            px, py, vx, vy = float(qpos[0]), float(qpos[1]), float(qvel[0]), float(qvel[1])
            observations[t] = (px, py, vx, vy)
            goals[t] = (gx, gy)
            ax, ay = controller.act_scalar(px, py, vx, vy, gx, gy)
            # Executed exactly as stored: float32, the action space's dtype.
            ax = float(np.float32(min(1.0, max(-1.0, ax + noise[t % chunk, 0]))))
            ay = float(np.float32(min(1.0, max(-1.0, ay + noise[t % chunk, 1]))))
            actions[t] = (ax, ay)
            # PointEnv.step: clip velocity, then simulate one step with the action as ctrl.
            qvel[0] = min(MAX_SPEED, max(-MAX_SPEED, vx))
            qvel[1] = min(MAX_SPEED, max(-MAX_SPEED, vy))
            ctrl[0], ctrl[1] = ax, ay
            mujoco.mj_step(model, data)
            steps_on_goal += 1
            arrived = holding == 0 or (holding < 0 and controller.at_goal(float(qpos[0]), float(qpos[1])))
            if arrived and dwell and holding < 0:
                holding = int(rng.integers(dwell + 1))
                arrived = holding == 0
            elif holding > 0:
                holding -= 1
            if arrived or steps_on_goal >= maze.episode_steps:
                holding = -1
                reached += int(arrived)
                gx, gy = new_goal()
                steps_on_goal = 0
        bar.update(n_steps - bar.n)
    observations[n_steps] = (qpos[0], qpos[1], qvel[0], qvel[1])
    goals[n_steps] = (gx, gy)
    env.close()
    return Stream(observations, actions, goals, reached)


def relabel_rewards(next_positions: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Sparse D4RL reward of each step: 1.0 if the position after it is within 0.5 of ``goal``.

    ``next_positions`` (N, 2), ``goal`` (2,) → (N,) float64.
    """
    distance = np.linalg.norm(next_positions - goal, axis=-1)
    return (distance <= GOAL_RADIUS).astype(np.float64)


def episode_buffers(stream: Stream, maze: MazeSpec) -> Iterator:
    """Cut the stream into Minari ``EpisodeBuffer``s of ``maze.episode_steps`` steps (last may be shorter)."""
    from minari.data_collector import EpisodeBuffer

    n_steps = len(stream.actions)
    goal = maze.goal_xy
    rewards = relabel_rewards(stream.observations[1:, :2], goal)
    for episode, start in enumerate(range(0, n_steps, maze.episode_steps)):
        end = min(start + maze.episode_steps, n_steps)
        obs = stream.observations[start : end + 1]
        length = end - start
        truncations = np.zeros(length, dtype=bool)
        truncations[-1] = True
        yield EpisodeBuffer(
            id=episode,
            observations={
                "observation": obs.copy(),
                "achieved_goal": obs[:, :2].copy(),
                "desired_goal": np.broadcast_to(goal, (length + 1, 2)).copy(),
            },
            actions=stream.actions[start:end],
            rewards=rewards[start:end],
            terminations=np.zeros(length, dtype=bool),
            truncations=truncations,
            infos={
                "qpos": obs[:, :2].copy(),
                "qvel": obs[:, 2:].copy(),
                "goal": stream.goals[start : end + 1].copy(),
            },
        )


@contextlib.contextmanager
def _minari_root(path: Path) -> Iterator[None]:
    """Temporarily point Minari at another datasets root (it reads the variable on each call)."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def write_dataset(
    dataset_id: str, stream: Stream, spec: SuiteEnvSpec, seed: int, overwrite: bool = False, dwell: int = 0
) -> Path:
    """Write ``stream`` as Minari dataset ``dataset_id`` into the local store, atomically.

    ``dwell``: the ``collect_stream`` setting that made the stream (recorded in the description).

    Returns the dataset directory. Raises ``FileExistsError`` if it exists and not ``overwrite``.
    """
    maze = spec.maze
    return write_buffers(
        dataset_id, list(episode_buffers(stream, maze)), f"dfplan/maze2d-{maze.name}-v1", maze,
        algorithm="D4RL waypoint controller: Q-iteration + PD, N(0, 0.5^2) action noise",
        source="envs/collect.py", overwrite=overwrite,
        description=(
            f"D4RL-style maze2d-{maze.name} data on PointMaze: one continuous stream of "
            f"{len(stream.actions)} steps (seed {seed}), "
            + (f"each reached goal held for 0-{dwell} more steps (not D4RL), then a new random goal, "
               if dwell else "new random goal on each arrival, ")
            + "rewards relabelled to the fixed maze2d goal, chunked into "
            f"{maze.episode_steps}-step episodes; infos: qpos, qvel, moving goal."
        ),
    )


def write_buffers(dataset_id: str, buffers: list, env_id: str, maze: MazeSpec, algorithm: str, source: str,
                  description: str, overwrite: bool = False) -> Path:
    """Write Minari ``EpisodeBuffer``s as dataset ``dataset_id`` of ``env_id`` into the local store.

    The dataset is built in a staging directory inside the store and moved into place only when
    complete, so an interruption leaves nothing behind. Returns the dataset directory.

    Raises:
        FileExistsError: it exists and not ``overwrite``.
    """
    import minari
    from minari.namespace import create_namespace, list_local_namespaces

    store = store_path()
    target = store / dataset_id
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    staging = Path(tempfile.mkdtemp(prefix=".dfplan-staging-", dir=store))
    try:
        with _minari_root(staging), warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="`(author_email|code_permalink)` is set to None"
            )
            minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=buffers,
                env=env_id,
                eval_env=env_id,
                algorithm_name=algorithm,
                author="dfplan",
                code_permalink=f"dfplan commit {git_commit()} ({source})",
                ref_min_score=maze.ref_min_score,
                ref_max_score=maze.ref_max_score,
                description=description,
            )
        namespace = dataset_id.split("/")[0] if "/" in dataset_id else None
        if namespace is not None and namespace not in list_local_namespaces():
            create_namespace(namespace)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.replace(target, staging / "replaced")
        os.replace(staging / dataset_id, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def record_speed(path: Path, dataset_id: str, steps: int, collect_s: float, write_s: float,
                 module: str = "envs.collect") -> None:
    """Upsert this run's speed into a JSON map ``dataset_id -> measurement`` (atomic write)."""
    records = json.loads(path.read_text()) if path.exists() else {}
    records[dataset_id] = {
        "steps": steps,
        "collect_seconds": round(collect_s, 2),
        "write_seconds": round(write_s, 2),
        "seconds": round(collect_s + write_s, 2),
        "steps_per_second": round(steps / (collect_s + write_s)),
        "collect_steps_per_second": round(steps / collect_s),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "versions": versions(),
        "cpu_count": os.cpu_count(),
        "command": f"python -m {module} " + " ".join(sys.argv[1:]),
    }
    atomic_write_text(path, json.dumps(records, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m envs.collect", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "env_id", help=f"one of {', '.join(ENV_IDS)} (multi2d uses its maze's data)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="stream length (default 1M / 2M / 4M for U / M / L)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dataset-id", default=None, help="Minari id (default dfplan/maze2d-<maze>-v1)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    parser.add_argument("--dwell", type=int, default=0, help="hold each reached goal for 0..DWELL more steps before "
                        "the next (data that rests; not D4RL: needs its own --dataset-id)")
    parser.add_argument(
        "--record-speed",
        type=Path,
        default=None,
        help="JSON file to upsert the measured speed into",
    )
    args = parser.parse_args(argv)
    try:
        spec = get_env_spec(args.env_id)
    except ValueError as error:
        parser.error(str(error))
    dataset_id = args.dataset_id or spec.dataset_id
    steps = args.steps or spec.maze.dataset_steps
    if args.dwell < 0 or (args.dwell and dataset_id == spec.dataset_id):
        parser.error("--dwell must be >= 0, and a dwelling stream needs its own --dataset-id (it is not D4RL's data)")
    if (store_path() / dataset_id).exists() and not args.overwrite:
        parser.error(
            f"dataset {dataset_id} already exists in {store_path()}; pass --overwrite to replace it"
        )

    start = time.perf_counter()
    stream = collect_stream(spec.maze, steps, seed=args.seed, dwell=args.dwell)
    collect_s = time.perf_counter() - start
    start = time.perf_counter()
    path = write_dataset(dataset_id, stream, spec, seed=args.seed, overwrite=args.overwrite, dwell=args.dwell)
    write_s = time.perf_counter() - start
    print(
        f"{dataset_id}: {steps} steps, {stream.n_goals_reached} goals reached; "
        f"collect {collect_s:.1f} s ({steps / collect_s:.0f} steps/s), write {write_s:.1f} s -> {path}"
    )
    if args.record_speed is not None:
        record_speed(args.record_speed, dataset_id, steps, collect_s, write_s)


if __name__ == "__main__":
    main()
