"""Command line: ``python -m dfplan {demo,train,train-cost,eval,plan,ship,sample}``; flags are generated from the configs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from dfplan.config import add_arguments, from_arguments, from_dict, to_dict
from dfplan.demo import run_demo
from dfplan.files import atomic_write


def call_plugin(hook: str, env_id: str, *args, **kwargs):
    """Call ``hook`` of the first installed ``dfplan.plugins`` entry point that knows ``env_id``.

    A plugin is a module whose hooks return ``None`` for env ids they do not know; this
    is how dfplan reaches simulators, datasets and renderers without importing them
    (the maze suite registers ``benchmarks.plugin``).
    """
    from importlib.metadata import entry_points

    plugins = list(entry_points(group="dfplan.plugins"))
    for plugin in plugins:
        result = getattr(plugin.load(), hook)(env_id, *args, **kwargs)
        if result is not None:
            return result
    names = ", ".join(p.name for p in plugins) or "none installed (`pip install -e .` registers maze2d)"
    raise ValueError(f"no dfplan plugin knows env {env_id!r}; plugins: {names}")


def _load_planner(args: argparse.Namespace, env=None):
    from dfplan.planner import DFPlanner, PlannerConfig

    planner = DFPlanner.load(args.checkpoint, args.device, env=env)
    return planner.with_config(from_arguments(PlannerConfig, args, "planner", planner.config))


def _load_agent(args: argparse.Namespace):
    """The evaluated agent and the facts its row records: ``(agent, train_seed, extra)``."""
    if args.agent == "df":
        env = call_plugin("make_env", args.env)
        planner = _load_planner(args, env)
        env.close()
        extra = {"checkpoint": str(args.checkpoint), "planner": planner.planner_meta()}
        return planner, planner.meta.get("train_config", {}).get("seed"), extra
    options = {"actions": args.actions} if args.actions else {}
    agent = call_plugin("load_agent", args.env, args.agent, args.checkpoint, args.device, **options)
    facts = {key: agent.meta[key] for key in ("budget", "env", "preset", "device") if key in agent.meta}
    return agent, agent.meta.get("seed"), {"checkpoint": str(args.checkpoint), "training": facts, **options}


def _check_results_file(path: str) -> None:
    """Refuse a results file that cannot take a row before the evaluation runs, not after."""
    results = Path(path)
    if results.is_dir():
        raise ValueError(f"--results {results} is a folder; give a .json file (or 'none')")
    if results.exists():
        try:
            rows = json.loads(results.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"--results {results} is not valid JSON ({err}); fix or move it") from err
        if not isinstance(rows, list):
            raise ValueError(f"--results {results} does not hold a list of result rows")


def _eval(args: argparse.Namespace) -> int:
    import shlex

    if args.results != "none":
        _check_results_file(args.results)
    agent, train_seed, extra = _load_agent(args)
    command = shlex.join(["python", "-m", "dfplan", *args.argv])
    row = call_plugin("evaluate_agent", args.env, agent, args.episodes, args.seed,
                      agent_name=args.agent_name or args.agent, variant=args.variant, command=command,
                      batch_size=args.batch, results=None if args.results == "none" else args.results,
                      train_wall_s=agent.meta.get("train_wall_s"), train_seeds=[] if train_seed is None else [train_seed],
                      device=str(getattr(agent, "device", "cpu")), extra=extra,
                      max_episode_steps=args.episode_steps)
    reach = row["first_reach_mean"]
    print(f"{row['env']} {row['agent']}/{row['variant']}: score {row['score_mean']:.1f} ± {row['score_sem']:.1f}, "
          f"success {row['success_rate']:.0%}, first reach {'n/a' if reach is None else f'{reach:.0f}'}, "
          f"act {row['act_ms_median']:.2f} ms/step, replan {row['replan_ms_median'] or 0:.1f} ms")
    return 0


def _ship(args: argparse.Namespace) -> int:
    """Write a compact shipped checkpoint: EMA weights as the weights, planner settings in meta."""
    if args.agent != "df":
        print(f"shipped {args.agent} model -> {call_plugin('ship_agent', args.env, args.agent, args.source)}")
        return 0
    from dfplan.checkpoint import load_checkpoint, save_checkpoint
    from dfplan.planner import PlannerConfig, checkpoint_dir, maze_name

    model, meta = load_checkpoint(args.source, "cpu", use_ema=True)
    if meta.get("env") and maze_name(meta["env"]) != maze_name(args.env):
        raise ValueError(f"{args.source} was trained on {meta['env']}, not on {args.env}'s maze")
    out = Path(args.out) if args.out else checkpoint_dir() / f"{maze_name(args.env)}.pt"
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; pass --force to replace it")
    # the source's stored settings (a re-ship of a shipped model keeps them) with the flags given merged in
    base = from_dict(PlannerConfig, meta["planner"]) if meta.get("planner") else PlannerConfig()
    config = from_arguments(PlannerConfig, args, "planner", base)
    env = call_plugin("make_env", args.env)
    steps = getattr(env.spec, "max_episode_steps", None)
    if config.to_episode_end and not config.episode_steps and steps:
        config = dataclasses.replace(config, episode_steps=int(steps))  # so loading needs no env
    meta = {**meta, "planner": to_dict(config), "env": maze_name(args.env),
            "action_low": env.action_space.low.tolist(), "action_high": env.action_space.high.tolist(),
            "shipped_from": meta.get("shipped_from") or str(args.source)}
    env.close()
    save_checkpoint(out, model, None, meta)
    print(f"shipped {model.num_parameters():,} parameters -> {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _floats(text: str, name: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"--{name} must be comma-separated numbers, got {text!r}") from err


def _plan(args: argparse.Namespace) -> int:
    env = call_plugin("make_env", args.env)
    planner = _load_planner(args, env)
    start, goal = _floats(args.start, "start"), _floats(args.goal, "goal")
    if len(start) not in (2, 4) or len(goal) != 2:
        raise ValueError("--start takes x,y or x,y,vx,vy and --goal takes x,y")
    obs, _ = env.reset(seed=args.seed, options={"start_xy": start[:2], "goal_xy": goal})
    if len(start) == 4:
        obs["observation"][2:] = start[2:]
    planner.reset(seed=args.seed)
    plan = planner.plan(obs)
    trajectory = None
    if args.gif or args.execute:
        positions = [obs["observation"][:2].copy()]
        for _ in range(env.spec.max_episode_steps):
            obs, _, terminated, truncated, _ = env.step(planner.act(obs))
            positions.append(obs["observation"][:2].copy())
            if terminated or truncated:
                break
        trajectory = np.array(positions)
    env.close()
    title = f"{args.env}: DF plan ({len(plan.observations[0])} steps, cost {plan.cost[0]:.1f})" if plan.cost is not None else args.env
    plan_start = plan.start[0]
    plan_goal = None if plan.goal is None else plan.goal[0]
    path = call_plugin("render_plan", args.env, args.png, plan_start, plan_goal, plan.observations[0][:, :2], trajectory, title)
    print(f"plan picture: {path} (start {plan_start[:2].round(2).tolist()}, goal {goal.tolist()})")
    if args.gif:
        print(f"episode GIF: {call_plugin('render_gif', args.env, args.gif, trajectory, goal)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.agent != "df":
        if args.env is None or args.preset is None:
            raise ValueError(f"--agent {args.agent} needs --env and --preset")
        path = call_plugin("train_agent", args.env, args.agent, args.preset, args.train_seed, args.out, args.device)
        print(f"{args.agent} model -> {path}")
        return 0
    from dfplan.data import Trajectories
    from dfplan.model import ModelConfig
    from dfplan.presets import get_preset
    from dfplan.tokens import TokenLayout
    from dfplan.training import TrainConfig, check_run_folder, train

    if (args.data is None) == (args.env is None):
        raise ValueError("give exactly one of --data (a trajectory .npz) or --env (a registered dataset)")
    if args.out:
        check_run_folder(args.out, args.resume)  # before the data loads
    data = Trajectories.load(args.data) if args.data else call_plugin("load_dataset", args.env, create=True)
    preset = get_preset(args.preset) if args.preset else None
    if preset is not None:
        base = preset.model_config(data.obs_dim, data.action_dim)
        base_train = dataclasses.replace(preset.train, seed=args.train_seed, device=args.device)
    else:
        base = ModelConfig(layout=TokenLayout(obs_dim=data.obs_dim, action_dim=data.action_dim))
        base_train = TrainConfig(seed=args.train_seed, device=args.device)
    if args.goal_conditioned:
        base = dataclasses.replace(base, token_cond_dim=2)
    model_config = from_arguments(ModelConfig, args, "model", base)
    train_config = from_arguments(TrainConfig, args, "train", base_train)
    out = args.out or f"runs/{args.env or Path(args.data).stem}-{args.preset or 'custom'}-seed{train_config.seed}"
    meta = {"data": str(args.data) if args.data else args.env, "env": args.env, "preset": args.preset,
            "command": "python -m dfplan " + " ".join(args.argv)}
    check_run_folder(out, args.resume)
    source = data
    if args.goal_conditioned:
        from dfplan.data import HindsightGoals

        if model_config.token_cond_dim != 2:
            raise ValueError("--goal-conditioned takes 2-D goals (the leading x, y of the observation): "
                             "leave --model.token_cond_dim at 2")
        source = HindsightGoals(data, model_config.layout, model_config.horizon, goal_dims=2)
        meta["token_cond"] = "goal"
    model = train(model_config, train_config, source, out, resume=args.resume, meta=meta)
    print(f"{model.num_parameters():,} parameters -> {Path(out) / 'checkpoint.pt'}")
    return 0


def _train_cost(args: argparse.Namespace) -> int:
    from dfplan.cost_to_go import CostToGoConfig, fit_cost_to_go
    from dfplan.data import Trajectories

    if (args.data is None) == (args.env is None):
        raise ValueError("give exactly one of --data (a trajectory .npz) or --env (a registered dataset)")
    data = Trajectories.load(args.data) if args.data else call_plugin("load_dataset", args.env, create=True)
    config = from_arguments(CostToGoConfig, args, "cost")
    meta = {"data": str(args.data) if args.data else args.env, "command": "python -m dfplan " + " ".join(args.argv)}
    model = fit_cost_to_go(data, config, args.out, meta=meta)
    print(f"cost-to-go: {len(model.nodes):,} nodes, {len(model.edge_src):,} edges from {data.num_steps:,} steps "
          f"({model.meta['fit_wall_s']} s) -> {args.out}")
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
    cond_values = _floats(args.cond, "cond")
    device = resolve_device(args.device)
    model, _ = load_checkpoint(resolve_checkpoint(args.checkpoint), device)
    if len(cond_values) != model.layout.obs_dim:
        raise ValueError(f"--cond needs {model.layout.obs_dim} comma-separated values, got {len(cond_values)}")
    cond = torch.tensor(np.array([cond_values] * args.n, dtype=np.float32), device=device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    tokens = sample(model, cond, args.horizon or model.config.horizon, from_arguments(SamplerConfig, args, "sampler"),
                    generator=generator).cpu()
    layout = model.layout
    arrays = {"actions": layout.actions(tokens).numpy(), "observations": layout.observations(tokens).numpy()}
    if layout.use_reward:
        arrays["rewards"] = layout.rewards(tokens).numpy()
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(out, write)
    summary = {k: {"shape": list(v.shape), "mean": round(float(v.mean()), 4)} for k, v in arrays.items()}
    print(json.dumps(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from dfplan.model import ModelConfig
    from dfplan.sampler import SamplerConfig
    from dfplan.training import TrainConfig

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

    train = commands.add_parser("train", help="train on an env's dataset (--env) or on trajectories saved as .npz (--data)")
    train.add_argument("--agent", default="df", help="df (default) or a baseline of the installed suite: diffuser, "
                                                     "sac-her, iql, cql (--env and --preset; the flags below are df's)")
    train.add_argument("--env", help="env id whose locally generated dataset to train on (made first if absent)")
    train.add_argument("--data", help="trajectory .npz: observations, actions, rewards, episode_lengths")
    train.add_argument("--preset", help="quick (2 CPU cores, <= 45 min) | full (one GPU); flags below override it")
    train.add_argument("--seed", dest="train_seed", type=int, default=0, help="training seed (same as --train.seed)")
    train.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (same as --train.device)")
    train.add_argument("--out", help="run folder (default runs/<env>-<preset>-seed<seed>); holds checkpoint.pt, "
                                     "train_state.pt, metrics.jsonl")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    train.add_argument("--goal-conditioned", action="store_true",
                       help="the goal (x, y) as an input of every token, trained with hindsight goals from the data")
    add_arguments(train, ModelConfig, "model", exclude=("model.layout.obs_dim", "model.layout.action_dim"))
    add_arguments(train, TrainConfig, "train")
    train.set_defaults(run=_train)

    from dfplan.planner import PlannerConfig

    evl = commands.add_parser("eval", help="evaluate a planner (or baseline) checkpoint on an env; writes a results row")
    evl.add_argument("--agent", default="df", help="df (default) or a baseline of the installed suite: diffuser, "
                                                   "sac-her, iql, cql (--planner.* flags are df's)")
    evl.add_argument("--checkpoint", required=True, help="df: shipped name (e.g. maze2d-umaze-v1) or checkpoint path; "
                                                        "baselines: model file, run folder, or 'shipped'")
    evl.add_argument("--actions", choices=("track", "diffused"), help="diffuser: track the planned states (default) "
                                                                      "or execute the diffused actions")
    evl.add_argument("--env", required=True, help="env id, e.g. maze2d-umaze-v1")
    evl.add_argument("--episodes", type=positive_int, default=100)
    evl.add_argument("--seed", type=int, default=0, help="first eval seed (episode i uses seed + i)")
    evl.add_argument("--batch", type=positive_int, default=50, help="episodes run in lockstep through one batched act (latency is timed at batch 1)")
    evl.add_argument("--episode-steps", type=positive_int, help="cut episodes at this many steps when the env's are "
                                                                "longer (e.g. 600: the DF paper's Large protocol)")
    evl.add_argument("--variant", default="default", help="row label for this planner configuration")
    evl.add_argument("--agent-name", help="row label for the agent (default: --agent)")
    evl.add_argument("--results", default="results/maze2d/results.json", help="results file to upsert into ('none': don't write)")
    evl.add_argument("--device", default="auto")
    add_arguments(evl, PlannerConfig, "planner")
    evl.set_defaults(run=_eval)

    pln = commands.add_parser("plan", help="draw a sampled plan on the maze (and optionally run the episode)")
    pln.add_argument("--checkpoint", required=True, help="shipped name or checkpoint path")
    pln.add_argument("--env", required=True, help="env id whose maze to draw")
    pln.add_argument("--start", required=True, help="x,y or x,y,vx,vy (write --start=-1,0 for negative values)")
    pln.add_argument("--goal", required=True, help="x,y")
    pln.add_argument("--png", default="plan.png")
    pln.add_argument("--gif", help="also run the episode with the planner and save it as a GIF here")
    pln.add_argument("--execute", action="store_true", help="run the episode and draw the executed path too")
    pln.add_argument("--seed", type=int, default=0)
    pln.add_argument("--device", default="auto")
    add_arguments(pln, PlannerConfig, "planner")
    pln.set_defaults(run=_plan)

    shp = commands.add_parser("ship", help="turn a training run into a compact named checkpoint with planner settings")
    shp.add_argument("--agent", default="df", help="df (default) or a baseline: copies its finished run's model to "
                                                   "results/checkpoints/<agent>/<training env>/")
    shp.add_argument("--run", dest="source", required=True, help="a run's checkpoint.pt (baselines: the run folder)")
    shp.add_argument("--env", required=True, help="env the checkpoint serves (names the file; supplies action bounds)")
    shp.add_argument("--out", help="output file (default dfplan/checkpoints/<maze>.pt, or $DFPLAN_CHECKPOINT_DIR)")
    shp.add_argument("--force", action="store_true", help="replace an existing output file")
    add_arguments(shp, PlannerConfig, "planner")
    shp.set_defaults(run=_ship)

    from dfplan.cost_to_go import CostToGoConfig

    cst = commands.add_parser("train-cost", help="learn a cost-to-go (the data's roadmap) from a dataset (guidance='learned')")
    cst.add_argument("--env", help="env id whose locally generated dataset to learn from (made first if absent)")
    cst.add_argument("--data", help="trajectory .npz: observations, actions, rewards, episode_lengths")
    cst.add_argument("--out", required=True, help="output file; beside a planner checkpoint X.pt name it X.cost.pt")
    add_arguments(cst, CostToGoConfig, "cost")
    cst.set_defaults(run=_train_cost)

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
    return parser


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a count, a batch, a frame rate)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; bad input (``ValueError``, a missing file)
    prints ``error: ...`` and returns 2 instead of a traceback."""
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
