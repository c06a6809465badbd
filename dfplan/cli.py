"""Command line: ``python -m dfplan {demo,train,train-cost,sample,plan}`` on data files and checkpoints.

Flags are generated from the configs. The library's commands know no simulator: benchmark
suites (the maze suite: ``python -m benchmarks``) build their commands from the pieces here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from dfplan.config import add_arguments, comma_floats, from_arguments, positive_int, run_command
from dfplan.demo import run_demo
from dfplan.files import atomic_write


def _plan(args: argparse.Namespace) -> int:
    """Sample one plan from a checkpoint for a given observation and goal; write its arrays to ``--out``."""
    from dfplan.planner import DFPlanner, PlannerConfig

    planner = DFPlanner.load(args.checkpoint, args.device)
    planner = planner.with_config(from_arguments(PlannerConfig, args, "planner", planner.config))
    obs, goal = comma_floats(args.obs, "obs"), comma_floats(args.goal, "goal")
    if len(obs) != planner.layout.obs_dim:
        raise ValueError(f"--obs needs {planner.layout.obs_dim} comma-separated values, got {len(obs)}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist")
    planner.reset(seed=args.seed)
    plan = planner.plan({"observation": obs, "desired_goal": goal})
    arrays = {key: value[0] for key in ("start", "observations", "actions", "rewards", "goal", "cost")
              if (value := getattr(plan, key)) is not None}
    _save_npz(out, arrays)
    print(json.dumps({key: list(value.shape) for key, value in arrays.items()}))
    return 0


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (preset, seed, device, run folder, the model and training configs):
    this command line's ``train`` and the suites' train commands share them."""
    from dfplan.model import ModelConfig
    from dfplan.training import TrainConfig

    parser.add_argument("--preset", help="quick (2 CPU cores, <= 45 min) | full (one GPU); flags below override it")
    parser.add_argument("--seed", dest="train_seed", type=int, default=0, help="training seed (same as --train.seed)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (same as --train.device)")
    parser.add_argument("--out", help="run folder (default runs/<data>-<preset>-seed<seed>); holds checkpoint.pt, "
                                      "train_state.pt, metrics.jsonl")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--snapshot-minutes", default="", help="keep a copy of the checkpoint when the training "
                        "wall time passes each of these minutes, e.g. 5,10,20,40,80 (in --out/snapshots/)")
    parser.add_argument("--goal-conditioned", action="store_true",
                        help="the goal (x, y) as an input of every token, trained with hindsight goals from the data")
    parser.add_argument("--goal-reward", type=float, default=0.0, metavar="RADIUS",
                        help="with --goal-conditioned: a reward channel trained on the hindsight goal's sparse reward "
                             "(1 within RADIUS of it, e.g. 0.5), so the model predicts its own return for any goal")
    parser.add_argument("--goal-value", type=float, default=0.0, metavar="GAMMA",
                        help="with --goal-reward: the reward channel holds the hindsight goal's discounted value "
                             "GAMMA^(steps to arrival) instead of its sparse reward (e.g. 0.995): dense, so guidance "
                             "by it reaches beyond the plan's end")
    parser.add_argument("--hindsight-reach", type=float, metavar="WINDOWS",
                        help="with --goal-conditioned: hindsight goals lie up to this many windows ahead (default 2)")
    add_arguments(parser, ModelConfig, "model", exclude=("model.layout.obs_dim", "model.layout.action_dim"))
    add_arguments(parser, TrainConfig, "train")


def train_run_folder(args: argparse.Namespace, name: str) -> Path:
    """The run folder of a ``train`` command on data called ``name``, checked before any data loads."""
    from dfplan.training import check_run_folder

    seed = args.train_seed if getattr(args, "train.seed", None) is None else getattr(args, "train.seed")
    out = Path(args.out or f"runs/{name}-{args.preset or 'custom'}-seed{seed}")
    check_run_folder(out, args.resume)
    return out


def train_model(args: argparse.Namespace, data, out: Path, meta: dict) -> Path:
    """Train a DF model on ``data`` (:class:`Trajectories`) with the flags of :func:`add_train_arguments`;
    ``meta`` (what the data is, the command) goes into the checkpoint. Returns the checkpoint file."""
    from dfplan.data import HindsightGoals
    from dfplan.model import ModelConfig
    from dfplan.presets import get_preset
    from dfplan.tokens import TokenLayout
    from dfplan.training import TrainConfig, train

    preset = get_preset(args.preset) if args.preset else None
    if preset is not None:
        base = preset.model_config(data.obs_dim, data.action_dim)
        base_train = dataclasses.replace(preset.train, seed=args.train_seed, device=args.device)
    else:
        base = ModelConfig(layout=TokenLayout(obs_dim=data.obs_dim, action_dim=data.action_dim))
        base_train = TrainConfig(seed=args.train_seed, device=args.device)
    if args.goal_reward and not args.goal_conditioned:
        raise ValueError("--goal-reward relabels rewards with hindsight goals: add --goal-conditioned")
    if args.goal_reward < 0:
        raise ValueError(f"--goal-reward must be a radius > 0, got {args.goal_reward}")
    if args.goal_value and not args.goal_reward:
        raise ValueError("--goal-value relabels the reward channel with the goal's value: add --goal-reward RADIUS")
    if args.hindsight_reach is not None and not args.goal_conditioned:
        raise ValueError("--hindsight-reach sets how far hindsight goals lie: add --goal-conditioned")
    if args.goal_conditioned:
        base = dataclasses.replace(base, token_cond_dim=2)
    if args.goal_reward:
        base = dataclasses.replace(base, layout=dataclasses.replace(base.layout, use_reward=True))
    model_config = from_arguments(ModelConfig, args, "model", base)
    train_config = from_arguments(TrainConfig, args, "train", base_train)
    meta = {**meta, "preset": args.preset}
    source = data
    if args.goal_conditioned:
        if model_config.token_cond_dim != 2:
            raise ValueError("--goal-conditioned takes 2-D goals (the leading x, y of the observation): "
                             "leave --model.token_cond_dim at 2")
        reach = {} if args.hindsight_reach is None else {"reach": args.hindsight_reach}
        source = HindsightGoals(data, model_config.layout, model_config.horizon, goal_dims=2,
                                reward_radius=args.goal_reward, discount=args.goal_value, **reach)
        meta["token_cond"] = "goal"
        meta["hindsight_reach"] = source.reach
        if args.goal_reward:
            meta["reward"] = {"kind": "hindsight-goal-value" if args.goal_value else "hindsight-goal",
                              "radius": args.goal_reward, **({"discount": args.goal_value} if args.goal_value else {})}
    minutes = tuple(float(m) for m in comma_floats(args.snapshot_minutes, "snapshot-minutes")) if args.snapshot_minutes else ()
    model = train(model_config, train_config, source, out, resume=args.resume, meta=meta, snapshot_minutes=minutes)
    print(f"{model.num_parameters():,} parameters -> {out / 'checkpoint.pt'}")
    return out / "checkpoint.pt"


def _train(args: argparse.Namespace) -> int:
    from dfplan.data import Trajectories

    out = train_run_folder(args, Path(args.data).stem)
    data = Trajectories.load(args.data)
    train_model(args, data, out, {"data": str(args.data), "command": "python -m dfplan " + " ".join(args.argv)})
    return 0


def fit_cost(args: argparse.Namespace, data, meta: dict) -> None:
    """Fit the learned cost-to-go on ``data`` with the ``--cost.*`` flags and write it to ``--out``."""
    from dfplan.cost_to_go import CostToGoConfig, fit_cost_to_go

    model = fit_cost_to_go(data, from_arguments(CostToGoConfig, args, "cost"), args.out, meta=meta)
    print(f"cost-to-go: {len(model.nodes):,} nodes, {len(model.edge_src):,} edges from {data.num_steps:,} steps "
          f"({model.meta['fit_wall_s']} s) -> {args.out}")


def fit_inverse(args: argparse.Namespace, data, meta: dict) -> None:
    """Fit the inverse-dynamics head on ``data`` with the ``--inverse.*`` flags and write it to ``--out``."""
    from dfplan.device import resolve_device
    from dfplan.inverse_dynamics import InverseDynamicsConfig, fit_inverse_dynamics

    model = fit_inverse_dynamics(data, from_arguments(InverseDynamicsConfig, args, "inverse"), args.out, meta=meta,
                                 device=resolve_device(args.device))
    print(f"inverse dynamics: held-out action error {model.meta['heldout_error']} ({model.meta['fit_wall_s']} s) "
          f"-> {args.out}")


def add_inverse_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train-inverse`` flags shared with the suites' command."""
    from dfplan.inverse_dynamics import InverseDynamicsConfig

    parser.add_argument("--out", required=True, help="output file; beside a planner checkpoint X.pt name it X.inverse.pt")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_arguments(parser, InverseDynamicsConfig, "inverse")


def _train_inverse(args: argparse.Namespace) -> int:
    from dfplan.data import Trajectories

    data = Trajectories.load(args.data)
    fit_inverse(args, data, {"data": str(args.data), "command": "python -m dfplan " + " ".join(args.argv)})
    return 0


def _train_cost(args: argparse.Namespace) -> int:
    from dfplan.data import Trajectories

    data = Trajectories.load(args.data)
    fit_cost(args, data, {"data": str(args.data), "command": "python -m dfplan " + " ".join(args.argv)})
    return 0


def _sample(args: argparse.Namespace) -> int:
    import torch

    from dfplan.checkpoint import load_checkpoint
    from dfplan.device import resolve_device
    from dfplan.planner import resolve_checkpoint
    from dfplan.sampler import SamplerConfig, sample

    out = Path(args.out)
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist")
    cond_values = comma_floats(args.cond, "cond")
    device = resolve_device(args.device)
    model, _ = load_checkpoint(resolve_checkpoint(args.checkpoint), device)
    if len(cond_values) != model.layout.obs_dim:
        raise ValueError(f"--cond needs {model.layout.obs_dim} comma-separated values, got {len(cond_values)}")
    cond = torch.tensor(np.array([cond_values] * args.n, dtype=np.float32), device=device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    tokens = sample(model, cond, args.horizon or model.config.horizon, from_arguments(SamplerConfig, args, "sampler"),
                    generator=generator).cpu()
    layout = model.layout
    observations = layout.observations(layout.absolute(tokens, cond.cpu()))
    arrays = {"actions": layout.actions(tokens).numpy(), "observations": observations.numpy()}
    if layout.use_reward:
        arrays["rewards"] = layout.rewards(tokens).numpy()
    _save_npz(out, arrays)
    summary = {k: {"shape": list(v.shape), "mean": round(float(v.mean()), 4)} for k, v in arrays.items()}
    print(json.dumps(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from dfplan.cost_to_go import CostToGoConfig
    from dfplan.planner import PlannerConfig
    from dfplan.sampler import SamplerConfig

    parser = argparse.ArgumentParser(prog="python -m dfplan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a tiny model on a built-in known distribution and check its samples")
    demo.add_argument("--steps", type=positive_int, default=1500, help="training steps (default: 1500, about 30 s on 2 CPU cores)")
    demo.add_argument("--backbone", choices=("transformer", "rnn"), default="transformer")
    demo.add_argument("--samples", type=positive_int, default=512, help="sequences sampled per schedule")
    demo.add_argument("--out", default="runs/demo", help="run folder (checkpoint, metrics, picture)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="auto")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=run_demo)

    train = commands.add_parser("train", help="train on trajectories saved as .npz")
    train.add_argument("--data", required=True, help="trajectory .npz: observations, actions, rewards, episode_lengths")
    add_train_arguments(train)
    train.set_defaults(run=_train)

    cst = commands.add_parser("train-cost", help="learn a cost-to-go (the data's roadmap) from trajectories (guidance='learned')")
    cst.add_argument("--data", required=True, help="trajectory .npz: observations, actions, rewards, episode_lengths")
    cst.add_argument("--out", required=True, help="output file; beside a planner checkpoint X.pt name it X.cost.pt")
    add_arguments(cst, CostToGoConfig, "cost")
    cst.set_defaults(run=_train_cost)

    inv = commands.add_parser("train-inverse", help="learn the inverse-dynamics head (action_mode='inverse': the "
                                                    "planner's actions from its planned observations) from trajectories")
    inv.add_argument("--data", required=True, help="trajectory .npz: observations, actions, rewards, episode_lengths")
    add_inverse_arguments(inv)
    inv.set_defaults(run=_train_inverse)

    smp = commands.add_parser("sample", help="sample sequences from a checkpoint")
    smp.add_argument("--checkpoint", required=True, help="shipped name or checkpoint path")
    smp.add_argument("--cond", required=True, help="first observation, comma-separated raw values")
    smp.add_argument("--horizon", type=int, default=0, help="tokens to sample (default: the training horizon)")
    smp.add_argument("--n", type=positive_int, default=16, help="number of sequences")
    smp.add_argument("--out", default="samples.npz")
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--device", default="auto")
    add_arguments(smp, SamplerConfig, "sampler")
    smp.set_defaults(run=_sample)

    pln = commands.add_parser("plan", help="sample one guided plan for an observation and a goal; write its arrays")
    pln.add_argument("--checkpoint", required=True, help="shipped name or checkpoint path")
    pln.add_argument("--obs", required=True, help="the observation, comma-separated raw values (write --obs=-1,0 for negatives)")
    pln.add_argument("--goal", required=True, help="the goal, comma-separated (x, y)")
    pln.add_argument("--out", default="plan.npz", help="arrays: start, observations, actions, goal, cost")
    pln.add_argument("--seed", type=int, default=0)
    pln.add_argument("--device", default="auto")
    add_arguments(pln, PlannerConfig, "planner")
    pln.set_defaults(run=_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
