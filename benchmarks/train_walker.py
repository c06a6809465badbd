"""Train the AntMaze low-level walker: Stable-Baselines3 SAC on :class:`envs.ant_reach.AntReachEnv`.

    python -m benchmarks train-walker --out runs/ant-walker --preset cpu     # hours on one CPU thread
    python -m benchmarks train-walker --out runs/ant-walker --preset cpu     # again: resumes
    python -m benchmarks train-walker --out runs/ant-walker --ship results/checkpoints/antmaze/walker.pt
    python -m benchmarks train-walker --out runs/ant-walker-more --from results/checkpoints/antmaze/walker.pt \
        --env-steps 1000000                                                 # a shipped walker trained on

Background-friendly: one progress line per checkpoint (env steps, wall time, and the current
policy's success on fresh goals), resumable after an interruption from the last checkpoint
(the replay buffer included; :mod:`agents.sb3_runs`). When the budget is spent the run folder
gets ``model.zip`` (SB3's) and ``walker.pt`` — the actor's deterministic action as a small torch
MLP (:class:`envs.ant_walker.AntWalker`) with its budget and its measured success rate on
goals 1–5 away (:func:`measure_walker`) in its metadata.

The budget (``env_steps``) is not part of a run's identity: a finished run asked for more steps
trains on from its ``model.zip``. Its replay buffer is gone by then (it is not shipped: hundreds of
MB), so the run first refills it with :data:`REFILL_STEPS` steps of its own policy, without
gradient steps. ``--ship`` copies ``model.zip`` beside the shipped walker (``walker.sac.zip``), and
``--from`` starts a run folder from such a pair, so a walker shipped by one session can be trained
on by the next — under its own preset, or one that changes only the task (:data:`TASK_KEYS`: a new
reward or termination), the walker it started from then recorded in the file's ``lineage``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.sb3_runs import (
    CHECKPOINT_POINTER,
    MODEL_FILE,
    check_same_run,
    read_pointer,
    remove_checkpoints,
    save_checkpoint,
    versions,
)
from dfplan.device import resolve_device
from dfplan.files import atomic_write
from dfplan.provenance import command_line, git_commit
from envs.ant_walker import AntWalker, mlp

WALKER_FILE = "walker.pt"
SAC_SUFFIX = ".sac.zip"
"""A shipped walker's SAC model (actor, critics, optimizers) lies beside it: ``walker.pt`` -> ``walker.sac.zip``."""
BUDGET_KEYS = ("env_steps", "checkpoint_every")
"""Config fields that change how long a run trains, not what it trains: left out of its identity."""
TASK_KEYS = ("episode_steps", "goal_min", "goal_max", "reach_radius", "reach_bonus", "progress_scale",
             "ctrl_cost_weight", "healthy_reward", "upright_min", "progress_cap")
"""Config fields of the reaching task, not of the SAC model: ``--from`` may train a walker on under a preset
that changes only these (the SAC model carries the rest: its network, optimizer and update settings)."""
REFILL_STEPS = 20_000
"""Env steps of the policy's own actions that refill the replay buffer of a run trained on from ``model.zip``."""
RUN_ENV = "ant-reach"
"""The identity the run folder records for its env (the open-floor task, not a maze)."""


@dataclass(frozen=True)
class WalkerConfig:
    """SAC on the ant's goal-reaching task: budget, network, and the task's settings."""

    env_steps: int = 1_000_000
    net_width: int = 256
    net_depth: int = 2
    batch_size: int = 256
    learning_rate: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    ent_coef: str = "auto"  # SB3's: "auto" learns it from 1.0, "auto_0.1" from 0.1 (Minari's walker)
    learning_starts: int = 10_000
    train_freq: int = 1  # env steps per gradient step (SB3's train_freq, one gradient step each time)
    buffer_size: int = 1_000_000
    episode_steps: int = 1000
    goal_min: float = 1.0
    goal_max: float = 5.0
    reach_radius: float = 0.2
    reach_bonus: float = 10.0
    progress_scale: float = 1.0  # reward per unit/s of speed towards the goal
    ctrl_cost_weight: float = 0.5  # Gymnasium's ant: 0.5 · ‖a‖² per step
    healthy_reward: float = 1.0  # Gymnasium's ant: per step alive
    upright_min: float | None = None  # end the episode when the torso's up axis tilts below this (None: never)
    progress_cap: float | None = None  # speed towards the goal (units/s) beyond which progress earns nothing
    checkpoint_every: int = 50_000

    def __post_init__(self) -> None:
        for name in ("env_steps", "net_width", "net_depth", "batch_size", "buffer_size", "episode_steps",
                     "checkpoint_every", "train_freq"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"WalkerConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.gamma < 1:
            raise ValueError(f"WalkerConfig.gamma must be in (0, 1), got {self.gamma}")
        if not 0 < self.goal_min <= self.goal_max:
            raise ValueError(f"need 0 < goal_min <= goal_max, got {self.goal_min}, {self.goal_max}")
        if self.progress_cap is not None and not self.progress_cap > 0:
            raise ValueError(f"WalkerConfig.progress_cap must be positive or None, got {self.progress_cap}")
        if self.upright_min is not None and not -1.0 <= self.upright_min < 1.0:
            raise ValueError(f"WalkerConfig.upright_min must be in [-1, 1) or None, got {self.upright_min}")


PRESETS: dict[str, WalkerConfig] = {
    "cpu": WalkerConfig(),
    # the cpu preset's ant stood still at 150k steps (0.03 units/s: upright and still pays more than walking
    # at 1x progress); this one pays 5x the speed towards the goal and starts the entropy coefficient at 0.1
    "cpu-progress5": WalkerConfig(ent_coef="auto_0.1", progress_scale=5.0),
    # the same at half the gradient steps per env step: this CPU's time goes to gradient steps (~20 ms each at
    # batch 256, the env step under 1 ms), so it sees twice the env steps in the same wall time
    "cpu-progress5-utd0.5": WalkerConfig(ent_coef="auto_0.1", progress_scale=5.0, train_freq=2),
    # cpu-progress5's ant flips on its back on the way through a maze and lies there "healthy" (Gymnasium
    # ends an ant's episode by torso height only): this one ends the episode when the torso tips past
    # its side, so a flip costs every reward after it
    "cpu-progress5-upright": WalkerConfig(ent_coef="auto_0.1", progress_scale=5.0, upright_min=0.0),
    # the same at half the pay for speed: staying upright (1 per step, and every reward after it) weighs
    # twice as much against a fast, risky step (a walker trained on from cpu-progress5 with --from)
    "cpu-progress2.5-upright": WalkerConfig(ent_coef="auto_0.1", progress_scale=2.5, upright_min=0.0),
    # cpu-progress5's walker sprints (4-5 units/s where it flipped in the maze): this one pays for speed
    # towards the goal up to 1.5 units/s only (a Large route of ~40 units is then ~530 of its 1000 steps)
    "cpu-progress5-upright-cap1.5": WalkerConfig(ent_coef="auto_0.1", progress_scale=5.0, upright_min=0.0,
                                                 progress_cap=1.5),
    "quick": WalkerConfig(env_steps=200_000, checkpoint_every=25_000),
    "tiny": WalkerConfig(env_steps=600, net_width=16, batch_size=32, learning_starts=200, buffer_size=1000,
                         episode_steps=100, checkpoint_every=300, train_freq=2),
}


def get_preset(name: str) -> WalkerConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown walker preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def make_env(config: WalkerConfig):
    """The training env: the reaching task with the config's goals, cut at ``episode_steps``."""
    import gymnasium

    from envs.ant_reach import AntReachEnv

    env = AntReachEnv(goal_min=config.goal_min, goal_max=config.goal_max, reach_radius=config.reach_radius,
                      reach_bonus=config.reach_bonus, progress_scale=config.progress_scale,
                      ctrl_cost_weight=config.ctrl_cost_weight, healthy_reward=config.healthy_reward,
                      upright_min=config.upright_min, progress_cap=config.progress_cap)
    return gymnasium.wrappers.TimeLimit(env, config.episode_steps)


def export_walker(model, meta: dict[str, Any]) -> AntWalker:
    """The SAC actor's deterministic action, ``tanh(mu(latent_pi(obs)))``, as an :class:`AntWalker`."""
    import torch

    actor = model.policy.actor
    hidden = [m for m in actor.latent_pi if isinstance(m, torch.nn.Linear)]
    layers = [hidden[0].in_features] + [m.out_features for m in hidden] + [actor.mu.out_features]
    net = mlp(layers)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for target, source in zip(linears, [*hidden, actor.mu], strict=True):
        target.load_state_dict(source.state_dict())
    net.eval()
    return AntWalker(net.cpu(), meta)


def measure_walker(walker: AntWalker, episodes: int = 50, seed: int = 10_000, goal_min: float = 1.0,
                   goal_max: float = 5.0, limit: int = 200) -> dict[str, Any]:
    """Success of the walker on fresh goals ``goal_min``–``goal_max`` away: each episode one goal,
    ``limit`` steps to come within 0.5 (AntMaze's success) and 0.2 (the training bonus) of it.

    Also the fraction of episodes in which the ant flipped (its up axis below the horizon,
    :func:`envs.antmazes.torso_up`), the fraction it fell (torso height out of Gymnasium's
    healthy range: Gymnasium ends the episode), and the median steps to come within 0.5. Walker
    files measured before ``fell`` existed counted only falls, under the name ``flipped``.
    """
    from envs.ant_reach import AntReachEnv

    env = AntReachEnv(goal_min=goal_min, goal_max=goal_max, reach_radius=1e-9)
    within = {0.5: 0, 0.2: 0}
    steps_to_half, flipped, fell = [], 0, 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        goal = env.goal.copy()
        best = np.inf
        for step in range(limit):
            obs, _, terminated, _, info = env.step(walker.act(obs[:-2], obs[-2:]))
            distance = float(np.linalg.norm(obs[-2:]))
            if distance <= 0.5 and best > 0.5:
                steps_to_half.append(step + 1)
            best = min(best, distance)
            if info["flipped"] or terminated:
                flipped += info["flipped"]
                fell += terminated and not info["flipped"]
                break
        assert np.allclose(env.goal, goal)  # a 1e-9 radius never draws a new goal
        for radius in within:
            within[radius] += best <= radius
    return {"episodes": episodes, "limit_steps": limit, "goal_range": [goal_min, goal_max],
            "success_0.5": round(within[0.5] / episodes, 3), "success_0.2": round(within[0.2] / episodes, 3),
            "flipped": round(flipped / episodes, 3), "fell": round(fell / episodes, 3),
            "median_steps_to_0.5": float(np.median(steps_to_half)) if steps_to_half else None}


def sac_path(walker_path: str | os.PathLike) -> Path:
    """Where a shipped walker's SAC model lies: ``walker.pt`` -> ``walker.sac.zip``."""
    path = Path(walker_path)
    return path.with_name(path.stem + SAC_SUFFIX)


def _without_budget(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in BUDGET_KEYS}


def run_identity(preset: str, seed: int, config: WalkerConfig) -> dict[str, Any]:
    """What a run folder must match to be resumed, reused or trained on (the budget left out)."""
    return {"env": RUN_ENV, "preset": preset, "seed": seed, "train_config": _without_budget(asdict(config))}


def _check_same_run(path: Path, saved: dict[str, Any], run: dict[str, Any]) -> None:
    saved = {**saved, "train_config": _without_budget(saved.get("train_config", {}))}
    check_same_run(path, saved, run, _without_budget(asdict(WalkerConfig())))


def start_from(out_dir: str | os.PathLike, walker_path: str | os.PathLike, preset: str, seed: int = 0,
               config: WalkerConfig | None = None) -> None:
    """Start the run folder ``out_dir`` from a shipped walker and its SAC model (:func:`sac_path`).

    The walker may come from another preset or seed if its SAC settings are this run's (only
    :data:`TASK_KEYS` differ): the run then carries the walker's identity in its ``lineage``.

    Raises:
        FileNotFoundError: the walker or its SAC model is missing.
        ValueError: ``out_dir`` already holds a run, or the walker's SAC settings are not this run's.
    """
    config = config if config is not None else get_preset(preset)
    walker, model = Path(walker_path), sac_path(walker_path)
    for path in (walker, model):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist (--from needs a walker shipped with its SAC model)")
    out = Path(out_dir)
    if (out / WALKER_FILE).exists() or (out / CHECKPOINT_POINTER).exists():
        raise ValueError(f"{out} already holds a run; --from starts an empty folder")
    source = AntWalker.load(walker)  # a corrupt file fails here, not hours later
    run = run_identity(preset, seed, config)
    saved = {**asdict(WalkerConfig()), **source.meta.get("train_config", {})}
    differ = [k for k, v in _without_budget(asdict(config)).items() if k not in TASK_KEYS and saved.get(k) != v]
    if differ or source.meta.get("env") != RUN_ENV:
        raise ValueError(f"{walker} was trained with other SAC settings ({', '.join(differ) or 'env'} differ from "
                         f"preset {preset!r}); --from trains on only under a preset that changes the task")
    meta = source.meta
    if (meta.get("preset"), meta.get("seed"), _without_budget(saved)) != (preset, seed, run["train_config"]):
        parent = {k: meta.get(k) for k in ("preset", "seed", "train_config", "env_steps", "measured", "commit")}
        meta = {**meta, **run, "lineage": [*meta.get("lineage", []), parent]}
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, out / MODEL_FILE)
    AntWalker(source.net, meta).save(out / WALKER_FILE)


def train(out_dir: str | os.PathLike, preset: str = "cpu", seed: int = 0, device: str = "cpu",
          config: WalkerConfig | None = None, *, progress: bool = True, eval_episodes: int = 20,
          final_episodes: int = 100) -> Path:
    """Train (or resume, or return the finished) walker run in ``out_dir``; returns its ``walker.pt``.

    A finished run with fewer steps than ``config.env_steps`` trains on from its ``model.zip``; an
    unfinished one whose checkpoint already has them (a budget cut with ``--env-steps``) is
    measured and exported as it is.

    ``eval_episodes`` fresh goals measure the policy at each checkpoint (the progress line),
    ``final_episodes`` the finished walker (its file's ``meta["measured"]``).

    Raises:
        ValueError: unknown preset, or ``out_dir`` holding another run.
    """
    from stable_baselines3 import SAC

    config = config if config is not None else get_preset(preset)
    out = Path(out_dir)
    final = out / WALKER_FILE
    run = run_identity(preset, seed, config)
    done, wall = 0, 0.0
    if final.is_file():
        finished = AntWalker.load(final).meta
        _check_same_run(final, finished, run)
        run["lineage"] = finished.get("lineage", [])  # the walkers it was trained on from (--from)
        if int(finished["env_steps"]) >= config.env_steps:
            return final
        if not (out / MODEL_FILE).is_file():
            raise FileNotFoundError(f"{out / MODEL_FILE} is missing: the finished walker in {out} cannot be "
                                    f"trained on to {config.env_steps} steps without its SAC model")
        done, wall = int(finished["env_steps"]), float(finished["train_wall_s"])
    out.mkdir(parents=True, exist_ok=True)
    pointer = read_pointer(out)

    def vec_env():
        from stable_baselines3.common.env_util import make_vec_env

        return make_vec_env(lambda: make_env(config), n_envs=1, seed=seed)

    if done and pointer is None:  # a finished run trained on: its model, a buffer refilled by its own policy
        # (its walker.pt stays until the new one replaces it; checkpoints from here resume as usual)
        model = SAC.load(out / MODEL_FILE, env=vec_env(), device=resolve_device(device),
                         buffer_size=min(config.buffer_size, config.env_steps))
        model.set_random_seed(seed + done)
        began = time.perf_counter()
        gradient_steps, model.gradient_steps = model.gradient_steps, 0
        model.learn(REFILL_STEPS, reset_num_timesteps=False)
        model.gradient_steps = gradient_steps
        done, wall = model.num_timesteps, wall + time.perf_counter() - began
    elif pointer is None:
        model = SAC("MlpPolicy", vec_env(), learning_rate=config.learning_rate,
                    buffer_size=min(config.buffer_size, config.env_steps), learning_starts=config.learning_starts,
                    batch_size=config.batch_size, tau=config.tau, gamma=config.gamma, ent_coef=config.ent_coef,
                    train_freq=config.train_freq, gradient_steps=1,
                    policy_kwargs={"net_arch": [config.net_width] * config.net_depth}, seed=seed,
                    device=resolve_device(device), verbose=0)
    else:
        _check_same_run(out / CHECKPOINT_POINTER, pointer, run)
        run["lineage"] = pointer.get("lineage", [])
        folder = out / pointer["folder"]
        model = SAC.load(folder / MODEL_FILE, env=vec_env(), device=resolve_device(device))
        model.load_replay_buffer(folder / "replay_buffer.pkl")
        done, wall = int(pointer["env_steps"]), float(pointer["train_wall_s"])
        model.set_random_seed(seed + done)
    while done < config.env_steps:
        began = time.perf_counter()
        model.learn(min(config.checkpoint_every, config.env_steps - done), reset_num_timesteps=False)
        wall += time.perf_counter() - began
        done = model.num_timesteps
        if progress:
            measured = measure_walker(export_walker(model, {}), episodes=eval_episodes,
                                      goal_min=config.goal_min, goal_max=config.goal_max)
            print(f"walker seed {seed}: {done}/{config.env_steps} env steps, {wall / 60:.1f} min, "
                  f"{done / max(wall, 1e-9):.0f} steps/s; fresh goals within 0.5: {measured['success_0.5']:.0%}, "
                  f"0.2: {measured['success_0.2']:.0%}, flipped {measured['flipped']:.0%}", flush=True)
        if done < config.env_steps:
            save_checkpoint(out, model, {**run, "env_steps": done, "train_wall_s": wall}, done)
    measured = measure_walker(export_walker(model, {}), episodes=final_episodes, goal_min=config.goal_min,
                              goal_max=config.goal_max)
    meta = {**run, "goal_max": config.goal_max, "env_steps": done, "train_wall_s": round(wall, 1),
            "device": str(model.device), "budget": f"SAC, {done // 1000}k env steps", "measured": measured,
            "versions": versions(), "commit": git_commit(), "command": command_line("benchmarks train-walker")}
    model.save(out / MODEL_FILE)
    export_walker(model, meta).save(final)
    remove_checkpoints(out)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks train-walker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="run folder (resumed if it holds an unfinished run)")
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--env-steps", type=int, default=None, help="override the preset's budget")
    parser.add_argument("--ship", default=None, help=f"copy the finished walker.pt here (its SAC model beside it, "
                                                     f"*{SAC_SUFFIX})")
    parser.add_argument("--from", dest="start", default=None,
                        help="start an empty --out from a shipped walker (and its SAC model) and train on to the budget")
    args = parser.parse_args(argv)
    config = get_preset(args.preset)
    if args.env_steps is not None:
        config = replace(config, env_steps=args.env_steps)
    if args.start is not None:
        try:
            start_from(args.out, args.start, args.preset, args.seed, config)
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
    path = train(args.out, args.preset, args.seed, args.device, config)
    walker = AntWalker.load(path)
    print(f"{path}: {walker.meta['budget']}, {walker.meta['train_wall_s'] / 60:.0f} min; "
          f"{walker.meta['measured']}")
    if args.ship:
        for source, target in ((path.with_name(MODEL_FILE), sac_path(args.ship)), (path, Path(args.ship))):
            atomic_write(target, lambda tmp, source=source: shutil.copyfile(source, tmp))
        print(f"shipped to {args.ship}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
