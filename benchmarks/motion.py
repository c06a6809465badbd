"""How agents move before they first reach the goal: path length, speed, and time spent slow.

    python -m benchmarks.motion --agents roadmap,df,df/pursuit --envs maze2d-medium-v1,maze2d-large-v1

A D4RL maze score is the number of steps spent at the goal, so it splits into *arriving*
(the first reach) and *staying* (the hold rate). This measures what the arrival is made of,
for agents and for the dataset the models learned from: the length of the path driven
before the first reach, the mean speed on it, and the share of those steps spent slower
than ``--slow`` (stopping and restarting, as the data's waypoint controller does at every
cell centre). The dataset rows describe the collector's stream (``--data-steps`` steps,
speeds of every step). Writes ``results/maze2d/motion.json`` (replacing rows of the same env
and agent), which the report turns into a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

import envs
from benchmarks.evaluate import hold_rate, run_lockstep
from benchmarks.registry import BuildRequest, TrainRequest, get_agent_spec
from dfplan.files import read_json_rows, upsert_json_rows
from dfplan.provenance import command_line, stamp

DEFAULT_MOTION_PATH = Path("results/maze2d/motion.json")


def rollout_motion(agent: Any, env_id: str, seeds: list[int], slow: float) -> dict[str, float]:
    """Run one episode per seed in lockstep; the mean path length, speed and slow share before the
    first reach (successful episodes), with the success and hold rates."""
    states: list[np.ndarray] = []
    episodes = run_lockstep(agent, env_id, seeds, states=states)
    lengths, speeds, slow_shares = [], [], []
    for episode, state in zip(episodes, states, strict=True):
        if not episode.success:
            continue
        path = state[: max(episode.first_reach_step, 1) + 1]  # up to the first step inside the goal radius
        speed = np.linalg.norm(path[1:, 2:4], axis=-1)
        lengths.append(float(np.linalg.norm(np.diff(path[:, :2], axis=0), axis=-1).sum()))
        speeds.append(float(speed.mean()))
        slow_shares.append(float((speed < slow).mean()))
    return {"path_length": _mean(lengths), "speed": _mean(speeds), "slow_share": _mean(slow_shares),
            "success_rate": len(lengths) / len(seeds), "hold_rate": hold_rate(episodes)}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def data_motion(env_id: str, steps: int, slow: float, seed: int = 0) -> dict[str, float]:
    """Speed and slow share over the collector's stream (the dataset's distribution), ``steps`` steps."""
    from envs.collect import collect_stream

    stream = collect_stream(envs.get_env_spec(env_id).maze, steps, seed=seed, progress=False)
    speed = np.linalg.norm(stream.observations[:, 2:4], axis=-1)
    return {"path_length": None, "speed": float(speed.mean()), "slow_share": float((speed < slow).mean()),
            "success_rate": None, "hold_rate": None}


def build_agent(name: str, env_id: str, seed: int) -> Any:
    """An agent of the registry, with its shipped (``quick``) model when it is trained."""
    spec = get_agent_spec(name)
    model = None
    if spec.trained:
        model = spec.train(TrainRequest(spec.model_agent, spec.training_env(env_id), "quick", 0, Path("runs/benchmarks")))
    return spec.build(BuildRequest(env_id, seed, model, "cpu")).agent


def load_motion(path: Path) -> list[dict]:
    """The rows of a motion file (``[]`` if there is none); a file that is not a list of rows is a ``ValueError``."""
    return read_json_rows(path, ("env", "agent"), "motion file")


def upsert_motion(rows: list[dict], path: Path) -> None:
    """Add ``rows`` to the motion file, replacing those of the same (env, agent)."""
    upsert_json_rows(rows, path, ("env", "agent"), "motion file", sort=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.motion", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="roadmap,df", help="comma-separated agents of benchmarks.run ('data': the dataset)")
    parser.add_argument("--envs", default="maze2d-medium-v1,maze2d-large-v1")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="first eval seed (episode i uses seed + i)")
    parser.add_argument("--slow", type=float, default=1.0, help="speed below which a step counts as slow (units/s)")
    parser.add_argument("--data-steps", type=int, default=200_000, help="collector steps measured for the 'data' row")
    parser.add_argument("--out", type=Path, default=DEFAULT_MOTION_PATH)
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.data_steps < 1 or not args.slow > 0:
        parser.error("--episodes and --data-steps must be >= 1, --slow > 0")
    try:
        env_ids = [envs.get_env_spec(e).env_id for e in args.envs.split(",")]
        agents = args.agents.split(",")
        for name in agents:
            if name != "data":
                get_agent_spec(name)
        load_motion(args.out)  # a corrupt file fails before the rollouts, and is kept
    except ValueError as error:
        parser.error(str(error))
    command = command_line("benchmarks.motion", argv)
    seeds = [args.seed + i for i in range(args.episodes)]
    for env_id in env_ids:
        rows = []
        for name in agents:
            began = time.perf_counter()
            if name == "data":
                stats = data_motion(env_id, args.data_steps, args.slow)
            else:
                stats = rollout_motion(build_agent(name, env_id, args.seed), env_id, seeds, args.slow)
            rows.append({"env": env_id, "agent": name, **stats, "episodes": 0 if name == "data" else args.episodes,
                         "eval_seeds": [] if name == "data" else [seeds[0], seeds[-1]], "slow_below": args.slow,
                         **stamp(began, command)})
            print(f"{env_id} {name:14s} path {_fmt(stats['path_length'])}  speed {_fmt(stats['speed'])}  "
                  f"slow {_fmt(stats['slow_share'])}  hold {_fmt(stats['hold_rate'])}")
        upsert_motion(rows, args.out)


if __name__ == "__main__":
    main()
