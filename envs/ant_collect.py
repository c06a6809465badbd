"""Generate a D4RL-style AntMaze dataset into the local Minari store, resumably.

    python -m envs.ant_collect antmaze-large-diverse-v2 --walker results/checkpoints/antmaze/walker.pt
    python -m envs.ant_collect antmaze-large-diverse-v2 --walker ...      # again after a cut: resumes

D4RL's AntMaze recipe (``scripts/generation/generate_ant_maze_datasets.py``): 1000-step
episodes, one goal each; the goal-reaching ant policy steered along maze waypoints with
N(0, 0.2²) action noise (clipped to ±1), still steered to the goal after reaching it. Here the
policy is the shipped walker (:mod:`envs.ant_walker`) and the waypoints the Maze2D suite's
Q-iteration planner (:mod:`envs.ant_controller`). Starts and goals by the dataset's kind:

- ``umaze``: the evaluation's reset cell and goal cell (D4RL's goal offset), every episode;
- ``diverse``: a random free cell (+ D4RL's start offset U(0, 1) along +col / +row) and a random
  free goal cell (+ its goal offset);
- ``play``: a random start as ``diverse``, the goal one of D4RL's hand-picked cells
  (:data:`envs.antmazes.PLAY_GOAL_CELLS`).

Resumable: episodes are collected in shards (``--shard-steps``, whole episodes) written
atomically to ``<store>/.dfplan-work/<dataset>/shard-XXXX.npz``, each seeded by (seed, shard),
so a rerun skips finished shards and the result does not depend on where it was cut. When
all are there the Minari dataset is written (atomically) and the work folder removed.
Minari episodes: ``observation`` (27,), ``achieved_goal`` (x, y), ``desired_goal`` (the
episode's goal); reward 1 where a step ends within 0.5 of it; ``terminations`` all False,
``truncations`` True at each episode's end (D4RL's timeouts); ``infos``: ``qpos`` (15,) and
``qvel`` (14,), the MuJoCo state.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfplan.files import atomic_write, atomic_write_text
from envs.antmazes import (
    ANT_GOAL_RADIUS,
    ANTMAZE_IDS,
    DATASET_EPISODE_STEPS,
    PLAY_GOAL_CELLS,
    START_CELL_NOISE,
    AntMazeEnvSpec,
    d4rl_goal_offset,
    d4rl_offset,
    get_antmaze_spec,
    torso_up,
)
from envs.collect import record_speed, store_path, write_buffers

ACTION_NOISE_STD = 0.2
"""D4RL's AntMaze data: N(0, 0.2²) added to the policy's action, then clipped to ±1."""


@dataclass(frozen=True)
class AntCollectConfig:
    """How much to collect and how."""

    steps: int = 1_000_000
    seed: int = 0
    episode_steps: int = DATASET_EPISODE_STEPS
    shard_steps: int = 50_000
    action_noise_std: float = ACTION_NOISE_STD

    def __post_init__(self) -> None:
        if min(self.steps, self.episode_steps, self.shard_steps) <= 0 or self.action_noise_std < 0:
            raise ValueError(f"steps, episode_steps and shard_steps must be positive and the noise >= 0: {self}")
        if self.shard_steps % self.episode_steps or self.steps % self.episode_steps:
            raise ValueError(f"steps ({self.steps}) and shard_steps ({self.shard_steps}) must be whole "
                             f"episodes of {self.episode_steps} steps")

    @property
    def n_shards(self) -> int:
        return -(-self.steps // self.shard_steps)

    def shard_episodes(self, shard: int) -> int:
        return (min(self.steps, (shard + 1) * self.shard_steps) - shard * self.shard_steps) // self.episode_steps


def episode_start_and_goal(spec: AntMazeEnvSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The torso's start (x, y) and the goal (x, y) of one data episode, by the dataset's kind."""
    maze = spec.maze
    free = np.asarray(maze.free_cells)
    if spec.dataset_kind == "umaze":
        start = maze.cell_to_xy(maze.start_cell)
        goal_cell = maze.goal_cell
    else:
        start = maze.cell_to_xy(free[rng.integers(len(free))]) + d4rl_offset(rng, START_CELL_NOISE)
        cells = PLAY_GOAL_CELLS[maze.name] if spec.dataset_kind == "play" else free
        goal_cell = cells[rng.integers(len(cells))]
    return start, maze.cell_to_xy(goal_cell) + d4rl_goal_offset(rng)


def collect_shard(spec: AntMazeEnvSpec, walker, config: AntCollectConfig, shard: int) -> dict[str, np.ndarray]:
    """Collect one shard's episodes (deterministic for (seed, shard)); arrays with a leading episode axis."""
    from envs.ant_controller import AntWaypointController
    from envs.antmaze_env import AntMazeD4RLEnv

    rng = np.random.default_rng([config.seed, shard])
    env = AntMazeD4RLEnv(spec.env_id)
    controller = AntWaypointController(spec.maze, walker, seed=int(rng.integers(2**31)))
    n, T = config.shard_episodes(shard), config.episode_steps
    body = np.empty((n, T + 1, 27))
    xy = np.empty((n, T + 1, 2))
    qvel = np.empty((n, T + 1, 14))
    actions = np.empty((n, T, 8), dtype=np.float32)
    goals = np.empty((n, 2))
    for e in range(n):
        start, goal = episode_start_and_goal(spec, rng)
        obs, _ = env.reset(seed=int(rng.integers(2**31)), options={"start_xy": start, "goal_xy": goal})
        controller.reset()
        goals[e] = goal
        for t in range(T + 1):
            body[e, t], xy[e, t] = obs["observation"], obs["achieved_goal"]
            qvel[e, t] = env.ant_env.data.qvel
            if t == T:
                break
            action = controller.act(obs["observation"], obs["achieved_goal"], goal)
            action = np.clip(action + config.action_noise_std * rng.standard_normal(8), -1.0, 1.0)
            actions[e, t] = action
            obs = env.step(actions[e, t].astype(np.float64))[0]  # executed exactly as stored
    env.close()
    return {"body": body, "xy": xy, "qvel": qvel, "actions": actions, "goals": goals}


def work_dir(dataset_id: str) -> Path:
    """Where a collection keeps its finished shards until the dataset is written."""
    return store_path() / ".dfplan-work" / dataset_id


def collect(spec: AntMazeEnvSpec, walker, config: AntCollectConfig, dataset_id: str | None = None,
            progress: bool = True) -> tuple[list[Path], int]:
    """Collect every shard not yet on disk; returns all shard files in order and the steps collected now."""
    folder = work_dir(dataset_id or spec.dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "config.json"
    identity = json.dumps({"env": spec.env_id, **config.__dict__, "walker": walker.meta.get("commit")}, sort_keys=True)
    if stamp.is_file() and stamp.read_text() != identity:
        raise ValueError(f"{folder} holds shards of another collection ({stamp.read_text()}); "
                         "remove it or use another --dataset-id")
    atomic_write(stamp, lambda tmp: tmp.write_text(identity))
    paths, collected = [], 0
    for shard in range(config.n_shards):
        path = folder / f"shard-{shard:04d}.npz"
        if not path.is_file():
            began = time.perf_counter()
            arrays = collect_shard(spec, walker, config, shard)
            atomic_write(path, lambda tmp, arrays=arrays: np.savez(tmp, **arrays))
            steps = arrays["actions"].shape[0] * arrays["actions"].shape[1]
            collected += steps
            if progress:
                print(f"{spec.env_id} shard {shard + 1}/{config.n_shards}: {steps} steps, "
                      f"{steps / (time.perf_counter() - began):.0f} steps/s", flush=True)
        paths.append(path)
    return paths, collected


def episode_buffers(paths: list[Path]):
    """Minari ``EpisodeBuffer``s of the shards' episodes, in order."""
    from minari.data_collector import EpisodeBuffer

    index = 0
    for path in paths:
        with np.load(path) as shard:
            arrays = {key: shard[key] for key in shard.files}
        for e in range(len(arrays["goals"])):
            xy, body, goal = arrays["xy"][e], arrays["body"][e], arrays["goals"][e]
            length = len(arrays["actions"][e])
            truncations = np.zeros(length, dtype=bool)
            truncations[-1] = True
            qpos = np.concatenate([xy, body[:, :13]], axis=1)
            yield EpisodeBuffer(
                id=index,
                observations={"observation": body, "achieved_goal": xy,
                              "desired_goal": np.broadcast_to(goal, xy.shape).copy()},
                actions=arrays["actions"][e],
                rewards=(np.linalg.norm(xy[1:] - goal, axis=-1) <= ANT_GOAL_RADIUS).astype(np.float64),
                terminations=np.zeros(length, dtype=bool),
                truncations=truncations,
                infos={"qpos": qpos, "qvel": arrays["qvel"][e]},
            )
            index += 1


def write_dataset(spec: AntMazeEnvSpec, paths: list[Path], config: AntCollectConfig, walker,
                  dataset_id: str | None = None, overwrite: bool = False) -> Path:
    """The shards as a Minari dataset in the local store (atomic); removes the work folder."""
    dataset_id = dataset_id or spec.dataset_id
    target = write_buffers(
        dataset_id, list(episode_buffers(paths)), spec.gym_id, spec.maze,
        algorithm=f"Q-iteration waypoints + SAC ant walker, N(0, {config.action_noise_std}^2) action noise",
        source="envs/ant_collect.py", overwrite=overwrite,
        description=(f"D4RL-style {spec.env_id} data ({spec.dataset_kind} starts and goals) on Gymnasium-Robotics "
                     f"AntMaze: {config.steps} steps in {config.episode_steps}-step episodes, one goal each "
                     f"(seed {config.seed}); walker {walker.meta.get('budget', '?')} at commit "
                     f"{walker.meta.get('commit', '?')}; rewards for the episode's own goal; infos: qpos, qvel."),
    )
    shutil.rmtree(work_dir(dataset_id), ignore_errors=True)
    return target


def episode_summary(body: np.ndarray, xy: np.ndarray, goal: np.ndarray, rewards: np.ndarray) -> dict[str, float | bool]:
    """One episode's facts: ``body (T+1, 27)``, ``xy (T+1, 2)``, ``goal (2,)``, ``rewards (T,)``."""
    near = np.linalg.norm(xy - goal, axis=-1) <= ANT_GOAL_RADIUS
    flipped = torso_up(body) < 0.0
    first = int(np.argmax(near)) if near.any() else len(xy)
    return {"reached": bool(near.any()), "steps_to_goal": float(first), "flipped_end": bool(flipped[-1]),
            "flipped_before_goal": bool(flipped[:first].any()), "rewarded": float(np.mean(rewards > 0))}


def dataset_summary(dataset_id: str) -> dict[str, float | int]:
    """What a written dataset holds (read back from the Minari store): the share of episodes that reach
    their goal, their median steps to it, the shares that end on the ant's back and that flip before
    arriving (or never arrive), and the share of rewarded steps."""
    import minari

    episodes = [episode_summary(e.observations["observation"], e.observations["achieved_goal"],
                                e.observations["desired_goal"][0], e.rewards)
                for e in minari.load_dataset(dataset_id).iterate_episodes()]
    if not episodes:
        raise ValueError(f"dataset {dataset_id} holds no episodes")
    reached = [e["steps_to_goal"] for e in episodes if e["reached"]]
    return {"episodes": len(episodes),
            "reach_goal": round(float(np.mean([e["reached"] for e in episodes])), 4),
            "steps_to_goal_median": float(np.median(reached)) if reached else None,
            "flipped_end": round(float(np.mean([e["flipped_end"] for e in episodes])), 4),
            "flipped_before_goal": round(float(np.mean([e["flipped_before_goal"] for e in episodes])), 4),
            "rewarded_steps": round(float(np.mean([e["rewarded"] for e in episodes])), 4)}


def record_summary(path: Path, dataset_id: str, summary: dict) -> None:
    """Add ``summary`` to the dataset's record in the JSON map ``path`` (atomic write)."""
    records = json.loads(path.read_text()) if path.exists() else {}
    records.setdefault(dataset_id, {})["summary"] = summary
    atomic_write_text(path, json.dumps(records, indent=2, sort_keys=True) + "\n")


WALKER_READY = 0.9
"""The walker's measured success on nearby goals (within 0.5) below which collecting warns."""


def main(argv: list[str] | None = None) -> int:
    from envs.ant_walker import AntWalker

    parser = argparse.ArgumentParser(prog="python -m envs.ant_collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("env_id", help=f"one of {', '.join(ANTMAZE_IDS)}")
    parser.add_argument("--walker", help="the ant walker file (python -m benchmarks train-walker); needed to collect")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-steps", type=int, default=50_000)
    parser.add_argument("--dataset-id", default=None, help="Minari id (default dfplan/<env_id>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    parser.add_argument("--record-speed", type=Path, default=None,
                        help="JSON file to upsert the measured speed and the dataset's summary into")
    parser.add_argument("--summarize", action="store_true",
                        help="collect nothing: print (and with --record-speed record) an existing dataset's summary")
    args = parser.parse_args(argv)
    if args.summarize:
        spec = get_antmaze_spec(args.env_id)
        dataset_id = args.dataset_id or spec.dataset_id
        if not (store_path() / dataset_id).exists():
            parser.error(f"no dataset {dataset_id} in {store_path()}")
        return _summarize(dataset_id, args.record_speed)
    if args.walker is None:
        parser.error("--walker is needed to collect")
    try:
        spec = get_antmaze_spec(args.env_id)
        config = AntCollectConfig(steps=args.steps, seed=args.seed, shard_steps=args.shard_steps)
        walker = AntWalker.load(args.walker)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    success = walker.meta.get("measured", {}).get("success_0.5")
    if success is None or success < WALKER_READY:
        warnings.warn(f"{args.walker} reaches {'an unmeasured share' if success is None else f'{success:.0%}'} of "
                      f"nearby goals (its file's measured success_0.5); D4RL's data came from an ant that walks "
                      f"where it is sent: below {WALKER_READY:.0%} the dataset is a weaker policy's", stacklevel=1)
    dataset_id = args.dataset_id or spec.dataset_id
    if (store_path() / dataset_id).exists() and not args.overwrite:
        parser.error(f"dataset {dataset_id} already exists in {store_path()}; pass --overwrite to replace it")
    began = time.perf_counter()
    paths, collected = collect(spec, walker, config, dataset_id)
    collect_s = time.perf_counter() - began
    began = time.perf_counter()
    path = write_dataset(spec, paths, config, walker, dataset_id, overwrite=args.overwrite)
    write_s = time.perf_counter() - began
    print(f"{dataset_id}: {config.steps} steps ({collected} collected by this run in {collect_s:.0f} s), "
          f"write {write_s:.0f} s -> {path}")
    if args.record_speed is not None and collected == config.steps:  # a resumed run's speed would mislead
        record_speed(args.record_speed, dataset_id, config.steps, collect_s, write_s, module="envs.ant_collect")
    return _summarize(dataset_id, args.record_speed)


def _summarize(dataset_id: str, record: Path | None) -> int:
    summary = dataset_summary(dataset_id)
    print(f"{dataset_id}: " + ", ".join(f"{key} {value}" for key, value in summary.items()))
    if record is not None:
        record_summary(record, dataset_id, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
