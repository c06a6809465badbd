"""The maze suite's command line: ``python -m benchmarks {train,train-cost,train-inverse,eval,select,ship,plan,video-clips,run,report,train-walker}``.

The suite owns everything that needs a maze: its datasets (generated locally), its envs,
its baselines and its pictures. The model and planner flags come from :mod:`dfplan.cli`,
so a DF flag means the same here as in the library's own command line.

    python -m benchmarks train --env maze2d-medium-v1 --preset quick        # DF on the suite's dataset
    python -m benchmarks train --agent diffuser --env maze2d-medium-v1 --preset quick
    python -m benchmarks train-baselines --preset full --device cuda   # every baseline on every maze (a lent GPU)
    python -m benchmarks eval --checkpoint maze2d-medium-v1 --env maze2d-medium-v1
    python -m benchmarks eval --checkpoint antmaze-umaze-v2 --env antmaze-umaze-v2 --results none --trace runs/trace.json
    python -m benchmarks select --checkpoint maze2d-medium-v1 --env maze2d-medium-v1 --out runs/sel/medium.json \\
        --grid planner.replan_every=4,8 --grid planner.sampler.guidance_scale=0.5,1
    python -m benchmarks ship --run runs/maze2d-medium-v1-quick-seed0/checkpoint.pt --env maze2d-medium-v1
    python -m benchmarks plan --checkpoint maze2d-medium-v1 --env maze2d-medium-v1 --start=1,1 --goal 6,6
    python -m benchmarks run --agents df,roadmap --preset quick   # the sweep (python -m benchmarks.run)
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.selection import SELECTION_SEED
from dfplan.cli import (
    add_inverse_arguments,
    add_train_arguments,
    fit_cost,
    fit_inverse,
    train_model,
    train_run_folder,
)
from dfplan.config import (
    add_arguments,
    comma_floats,
    comma_list,
    from_arguments,
    from_dict,
    positive_int,
    run_command,
    to_dict,
)
from envs.antmazes import ANTMAZE_ENV_SPECS
from envs.mazes import ENV_SPECS

DF = "df"


def _known_env(env_id: str) -> str:
    """``env_id`` if the suite knows it (``dfplan/`` prefix allowed), else ``ValueError`` listing the known ones."""
    key = env_id.removeprefix("dfplan/")
    if key not in ENV_SPECS and key not in ANTMAZE_ENV_SPECS:
        raise ValueError(f"unknown env {env_id!r}; the maze suites have {', '.join(sorted(ENV_SPECS))} and "
                         f"{', '.join(ANTMAZE_ENV_SPECS)}")
    return env_id


def _make_env(env_id: str):
    import envs

    return envs.make(_known_env(env_id))


def _dataset(env_id: str, extra: str = "", upright: bool = False):
    """The maze's dataset (generated if absent), then the episodes of each ``extra`` Minari dataset id;
    ``upright``: AntMaze episodes cut before the ant first lies on its side or back."""
    from agents.datasets import maze_trajectories, to_trajectories, upright_only
    from dfplan.data import Trajectories
    from envs import is_antmaze
    from envs.data import load_arrays

    if upright and not is_antmaze(env_id):
        raise ValueError(f"--upright-only is for AntMaze datasets, not {env_id}")
    extras = [to_trajectories(load_arrays(name)) for name in comma_list(extra)]  # a missing one fails first
    base = maze_trajectories(_known_env(env_id), create=True)
    data = Trajectories.concatenate([base, *extras]) if extras else base
    if upright:
        data = upright_only(data)
        print(f"--upright-only: {data.num_steps:,} upright steps in {len(data.episode_lengths)} episodes")
    return data


def _data_label(args: argparse.Namespace) -> str:
    """The ``data`` a model's metadata records: the env's dataset, plus any ``--extra-data``, and ``upright-only``."""
    return "+".join([args.env, *comma_list(args.extra_data), *(["upright-only"] if args.upright_only else [])])


def _command(args: argparse.Namespace) -> str:
    return shlex.join(["python", "-m", "benchmarks", *args.argv])


# ---------------------------------------------------------------------------- training
def _train(args: argparse.Namespace) -> int:
    env_id = _known_env(args.env)
    if args.agent != DF:
        from benchmarks.registry import get_baseline

        if args.extra_data or args.upright_only:
            raise ValueError("--extra-data and --upright-only train DF only; the baselines train on the suite's datasets")

        if args.preset is None:
            raise ValueError(f"--agent {args.agent} needs --preset")
        baseline = get_baseline(args.agent)
        training_env = baseline.training_env(env_id.removeprefix("dfplan/"))
        out = Path(args.out) if args.out else Path("runs") / f"{args.agent}-{training_env}-{args.preset}-seed{args.train_seed}"
        path = baseline.train(training_env, args.preset, args.train_seed, out, args.device)
        print(f"{args.agent} model -> {path}")
        return 0
    out = train_run_folder(args, env_id)  # checked before the dataset is generated or loaded
    meta = {"data": _data_label(args), "env": env_id, "command": _command(args)}
    train_model(args, _dataset(env_id, args.extra_data, args.upright_only), out, meta)
    return 0


def _train_baselines(args: argparse.Namespace) -> int:
    """Train every named baseline on every named maze, one after another, into the sweep's run folders.

    A finished run is reused and an unfinished one resumed, so the command can be rerun after an
    interruption; ``python -m benchmarks.run --preset <preset> --runs-dir <runs dir>`` then
    evaluates the same runs. ``--max-steps`` (a smoke test of a preset on any machine) writes
    to folders of its own, so a capped run is never taken for the preset's.
    """
    from benchmarks.registry import TrainRequest, get_baseline

    names, mazes = comma_list(args.agents), comma_list(args.mazes)
    baselines = {name: get_baseline(name) for name in names}  # unknown names fail before any training
    unknown = [maze for maze in mazes if f"maze2d-{maze}-v1" not in ENV_SPECS]
    if unknown or not mazes or not names:
        raise ValueError(f"need known mazes (umaze, medium, large) and baselines; got mazes {args.mazes!r}, "
                         f"agents {args.agents!r}")
    missing = sorted({module for baseline in baselines.values() for module in baseline.missing()})
    if missing:
        raise ValueError(f"{', '.join(missing)} not installed (docs/baselines.md says how)")
    for baseline in baselines.values():
        baseline.check_preset(args.preset)
    finished = []
    for name, baseline in baselines.items():
        for maze in mazes:
            env_id = baseline.training_env(f"maze2d-{maze}-v1")
            run = TrainRequest(name, env_id, args.preset, args.seed, Path(args.runs_dir), args.device).run_dir
            if args.max_steps is not None:
                run = run.with_name(f"{run.name}-max{args.max_steps}steps")
            began = time.perf_counter()
            path = baseline.train(env_id, args.preset, args.seed, run, args.device, max_steps=args.max_steps)
            finished.append(path)
            print(f"{name} {env_id} ({args.preset}): {path} ({time.perf_counter() - began:.0f} s)", flush=True)
    print(f"{len(finished)} baseline models trained or found")
    return 0


def _train_cost(args: argparse.Namespace) -> int:
    fit_cost(args, _dataset(args.env), {"data": args.env, "command": _command(args)})
    return 0


def _train_inverse(args: argparse.Namespace) -> int:
    fit_inverse(args, _dataset(args.env, args.extra_data, args.upright_only), {"data": _data_label(args), "command": _command(args)})
    return 0


# ---------------------------------------------------------------------------- evaluation
def load_planner(args: argparse.Namespace, env: Any = None):
    """The DF planner of ``--checkpoint`` on ``--device`` with the ``--planner.*`` flags; ``--executor walker``: its
    plans walked by the ant walker (agents/df_walker.py, a labelled variant) instead of its own inverse head.
    Shared by the commands that load a planner from flags (eval, select, plan, benchmarks.plan_flips / plan_fit)."""
    from dfplan.planner import DFPlanner, PlannerConfig

    if args.executor == "walker":
        from agents.df_walker import load_df_walker

        planner = load_df_walker(args.checkpoint, args.device, env=env)
    else:
        planner = DFPlanner.load(args.checkpoint, args.device, env=env)
    return planner.with_config(from_arguments(PlannerConfig, args, "planner", planner.config))


def _load_agent(args: argparse.Namespace):
    """The evaluated agent and the facts its row records: ``(agent, train_seed, extra)``."""
    if args.agent == DF:
        env = _make_env(args.env)
        planner = load_planner(args, env)
        env.close()
        extra = {"checkpoint": str(args.checkpoint), "planner": planner.planner_meta()}
        if args.executor != "model":
            extra["executor"] = args.executor
        return planner, planner.meta.get("train_config", {}).get("seed"), extra
    from benchmarks.registry import get_baseline, shipped_baseline_dir

    baseline = get_baseline(args.agent)
    checkpoint = args.checkpoint
    if str(checkpoint) == "shipped":
        checkpoint = shipped_baseline_dir(args.agent, baseline.training_env(args.env.removeprefix("dfplan/")))
    options = {"actions": args.actions} if args.actions else {}
    agent = baseline.load(checkpoint, args.device, **options)
    facts = {key: agent.meta[key] for key in ("budget", "env", "preset", "device") if key in agent.meta}
    return agent, agent.meta.get("seed"), {"checkpoint": str(args.checkpoint), "training": facts, **options}


def _check_results_file(path: str) -> None:
    """Refuse a results file that cannot take a row before the evaluation runs, not after."""
    from benchmarks.results import load_rows

    if Path(path).is_dir():
        raise ValueError(f"--results {path} is a folder; give a .json file (or 'none')")
    load_rows(path)  # ValueError naming the file when it is not a results file


def _evaluate(args: argparse.Namespace, env_id: str, traced: bool):
    """Evaluate ``args``' agent: ``(row, trace records or None, row extra)``; the row is not written."""
    from benchmarks.evaluate import evaluate

    agent, train_seed, extra = _load_agent(args)
    traces: list | None = [] if traced else None
    evaluation = evaluate(agent, env_id, args.episodes, args.seed, agent_name=args.agent_name or args.agent,
                          variant=args.variant,
                          train_seeds=[] if train_seed is None else [train_seed],
                          train_wall_s=agent.meta.get("train_wall_s"), device=str(getattr(agent, "device", "cpu")),
                          command=_command(args), batch_size=args.batch, extra=extra,
                          max_episode_steps=args.episode_steps, traces=traces)
    records = None
    if traced:
        from benchmarks.trace import trace_records

        records = trace_records(env_id, list(evaluation.row.eval_seeds), evaluation.episodes, traces)
    return evaluation.row, records, extra


def _save_trace(path: str | Path, records: list, row: dict[str, Any], extra: dict[str, Any]) -> Path:
    from benchmarks.trace import write_trace

    meta = {key: row[key] for key in ("env", "agent", "variant", "commit", "date", "command")}
    return write_trace(path, records, {**meta, **extra})


def _eval(args: argparse.Namespace) -> int:
    from benchmarks.results import upsert_rows

    env_id = _known_env(args.env)
    if args.results != "none":
        _check_results_file(args.results)
    if args.trace and Path(args.trace).is_dir():
        raise ValueError(f"--trace {args.trace} is a folder; give a .json file")
    result, records, extra = _evaluate(args, env_id, bool(args.trace))
    if args.results != "none":
        upsert_rows([result], Path(args.results))
    row = result.to_dict()
    reach = row["first_reach_mean"]
    print(f"{row['env']} {row['agent']}/{row['variant']}: score {row['score_mean']:.1f} ± {row['score_sem']:.1f}, "
          f"success {row['success_rate']:.0%}, first reach {'n/a' if reach is None else f'{reach:.0f}'}, "
          f"act {row['act_ms_median']:.2f} ms/step, replan {row['replan_ms_median'] or 0:.1f} ms")
    if args.trace:
        from benchmarks.trace import failure_summary

        print(f"{failure_summary(records)}; trace: {_save_trace(args.trace, records, row, extra)}")
    return 0


def _planner_value(key: str, text: str) -> Any:
    """``text`` as the value of planner flag ``--key`` (its own type); ``ValueError`` for an unknown flag or bad value."""
    from dfplan.planner import PlannerConfig

    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_arguments(parser, PlannerConfig, "planner")
    try:
        parsed, unknown = parser.parse_known_args([f"--{key}={text}"])
    except argparse.ArgumentError as err:
        raise ValueError(f"--grid {key}={text}: {err}") from None
    if unknown or key not in vars(parsed):
        raise ValueError(f"--grid: unknown planner setting {key!r} (see python -m benchmarks eval --help)")
    return vars(parsed)[key]


def _select(args: argparse.Namespace) -> int:
    """Evaluate every setting of the grid on the selection seeds; one resumable table (benchmarks/selection.py)."""
    from benchmarks import selection
    from benchmarks.trace import failure_summary

    env_id = _known_env(args.env)
    grid = selection.parse_grid(args.grid, _planner_value)
    table = selection.load_table(args.out)
    if args.trace_dir and Path(args.trace_dir).is_file():
        raise ValueError(f"--trace-dir {args.trace_dir} is a file; give a folder")
    combos, fixed = selection.settings(grid), selection.fixed_flags(args, grid)
    for number, setting in enumerate(combos, 1):
        name = selection.label(setting)
        if selection.done(table, selection.selection_entry(args, fixed, setting)):
            print(f"[{number}/{len(combos)}] {name}: already in {args.out}")
            continue
        run_args = argparse.Namespace(**{**vars(args), **setting})
        result, records, extra = _evaluate(run_args, env_id, traced=True)
        row = result.to_dict()
        failures = failure_summary(records)
        if args.trace_dir:
            _save_trace(Path(args.trace_dir) / f"{name}.json", records, row, extra)
        table = selection.record(args.out, table, selection.selection_entry(args, fixed, setting, row, failures))
        print(f"[{number}/{len(combos)}] {name}: success {row['success_rate']:.0%}, score {row['score_mean']:.1f}, "
              f"{failures}")
    done = [e for e in table["entries"] if e["checkpoint"] == str(args.checkpoint) and e["env"] == args.env
            and e["episodes"] == args.episodes and e["seed"] == args.seed and e.get("fixed", {}) == fixed]
    print(selection.markdown(done))
    return 0


# ---------------------------------------------------------------------------- shipping
def _ship(args: argparse.Namespace) -> int:
    """Write a compact shipped checkpoint: EMA weights as the weights, planner settings in meta."""
    _known_env(args.env)
    if args.agent != DF:
        from benchmarks.registry import ship_baseline

        print(f"shipped {args.agent} model -> {ship_baseline(args.agent, args.source)}")
        return 0
    from dfplan.checkpoint import load_checkpoint, save_checkpoint
    from dfplan.planner import PlannerConfig
    from dfplan.shipped import checkpoint_dir, maze_name, resolve_checkpoint

    model, meta = load_checkpoint(args.source, "cpu", use_ema=True)
    if meta.get("env") and maze_name(meta["env"]) != maze_name(args.env):
        raise ValueError(f"{args.source} was trained on {meta['env']}, not on {args.env}'s maze")
    out = Path(args.out) if args.out else checkpoint_dir() / f"{maze_name(args.env)}.pt"
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; pass --force to replace it")
    # the stored settings of --settings-from, else the source's (a re-ship keeps them), with the flags given merged in
    stored = meta.get("planner")
    if args.settings_from:
        stored = load_checkpoint(resolve_checkpoint(args.settings_from), "cpu")[1].get("planner")
        if not stored:
            raise ValueError(f"--settings-from {args.settings_from} stores no planner settings")
    base = from_dict(PlannerConfig, stored) if stored else PlannerConfig()
    config = from_arguments(PlannerConfig, args, "planner", base)
    env = _make_env(args.env)
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


# ---------------------------------------------------------------------------- pictures
def _plan(args: argparse.Namespace) -> int:
    from envs.render import render_gif, render_png

    env = _make_env(args.env)
    planner = load_planner(args, env)
    start, goal = comma_floats(args.start, "start"), comma_floats(args.goal, "goal")
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
    plan_goal = None if plan.goal is None else plan.goal[0][:2]
    path = render_png(args.env, args.png, agent_xy=plan_start[:2], goal_xy=plan_goal, trajectory=trajectory,
                      plan=plan.observations[0][:, :2], title=title)
    print(f"plan picture: {path} (start {plan_start[:2].round(2).tolist()}, goal {goal.tolist()})")
    if args.gif:
        print(f"episode GIF: {render_gif(args.env, args.gif, trajectory, goal)}")
    return 0


def _video_clips(args: argparse.Namespace) -> int:
    """Render the env's dataset into video clips where ``python -m dfplan.video`` finds them."""
    from dfplan.video.data import DEFAULT_CACHE, VideoClips, clips_path
    from envs.video_data import video_dataset

    env_id = _known_env(args.env)
    out = Path(args.out) if args.out else clips_path(args.cache or DEFAULT_CACHE, env_id, args.split, args.frame_size,
                                                     args.frame_skip, args.clip_frames)
    clips = VideoClips.from_arrays(video_dataset(env_id, args.split, args.frame_size, args.frame_skip, args.clip_frames))
    clips.save(out)
    print(f"{len(clips.frames)} clips of {args.clip_frames} frames ({args.split}) -> {out}")
    return 0


# ---------------------------------------------------------------------------- the parser
FORWARDED = {"run": "benchmarks.run", "report": "benchmarks.report", "train-walker": "benchmarks.train_walker"}  # commands with their own parser
EXTRA_DATA_HELP = ("comma-separated Minari dataset ids whose episodes join the env's dataset (e.g. a dwelling stream: "
                   "python -m envs.collect <env> --dwell 100 --dataset-id ...); the model's data is then not D4RL's")


EXECUTOR_FLAG = {"choices": ("model", "walker"), "default": "model",
                 "help": "df: who executes the plan: model (the planner's own action mode, default) or walker "
                         "(AntMaze: the shipped ant walker walks to the plan's (x, y) inverse_lead steps ahead; a "
                         "labelled variant, agents/df_walker.py)"}
UPRIGHT_HELP = ("AntMaze: train on each episode only up to the ant's first flip (the collector's walker flips "
                "and walks on upside down; D4RL's data hardly has such tails); the data is then not D4RL's")


def build_parser() -> argparse.ArgumentParser:
    from dfplan.cost_to_go import CostToGoConfig
    from dfplan.planner import PlannerConfig

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    envs_help = ("env id of the maze suites, e.g. maze2d-umaze-v1 (" + ", ".join(sorted(ENV_SPECS)) + "; AntMaze: "
                 + ", ".join(ANTMAZE_ENV_SPECS) + ")")

    train = commands.add_parser("train", help="train DF (or a baseline) on an env's locally generated dataset")
    train.add_argument("--agent", default=DF, help="df (default) or a baseline: diffuser, sac-her, iql, cql "
                                                   "(baselines take --preset, --seed, --device, --out)")
    train.add_argument("--env", required=True, help=envs_help + "; its dataset is generated first if absent")
    train.add_argument("--extra-data", default="", help=EXTRA_DATA_HELP)
    train.add_argument("--upright-only", action="store_true", help=UPRIGHT_HELP)
    add_train_arguments(train)
    train.set_defaults(run=_train)

    tbl = commands.add_parser("train-baselines", help="train every baseline's preset on every maze (e.g. --preset full "
                                                      "--device cuda on a lent GPU); resumable")
    tbl.add_argument("--agents", default="diffuser,iql,cql,sac-her", help="comma-separated baselines (default: all)")
    tbl.add_argument("--mazes", default="umaze,medium,large", help="comma-separated mazes (default: all three)")
    tbl.add_argument("--preset", default="full", help="training preset of every baseline (default: full)")
    tbl.add_argument("--seed", type=int, default=0, help="training seed")
    tbl.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    tbl.add_argument("--runs-dir", default="runs/benchmarks", help="parent of the run folders (the sweep's default)")
    tbl.add_argument("--max-steps", type=positive_int, help="cap every run at this many gradient steps: a smoke test "
                                                            "of the preset (written to folders of their own)")
    tbl.set_defaults(run=_train_baselines)

    cst = commands.add_parser("train-cost", help="learn the cost-to-go (the data's roadmap) from an env's dataset")
    cst.add_argument("--env", required=True, help=envs_help)
    cst.add_argument("--out", required=True, help="output file; beside a planner checkpoint X.pt name it X.cost.pt")
    add_arguments(cst, CostToGoConfig, "cost")
    cst.set_defaults(run=_train_cost)

    inv = commands.add_parser("train-inverse", help="learn the inverse-dynamics head (action_mode='inverse') from an "
                                                    "env's dataset")
    inv.add_argument("--env", required=True, help=envs_help)
    inv.add_argument("--extra-data", default="", help=EXTRA_DATA_HELP)
    inv.add_argument("--upright-only", action="store_true", help=UPRIGHT_HELP)
    add_inverse_arguments(inv)
    inv.set_defaults(run=_train_inverse)

    evl = commands.add_parser("eval", help="evaluate a planner (or baseline) checkpoint on an env; writes a results row")
    evl.add_argument("--agent", default=DF, help="df (default) or a baseline: diffuser, sac-her, iql, cql "
                                                 "(--planner.* flags are df's)")
    evl.add_argument("--checkpoint", required=True, help="df: shipped name (e.g. maze2d-umaze-v1) or checkpoint path; "
                                                        "baselines: model file, run folder, or 'shipped'")
    evl.add_argument("--actions", choices=("track", "diffused"), help="diffuser: track the planned states (default) "
                                                                      "or execute the diffused actions")
    evl.add_argument("--env", required=True, help=envs_help)
    evl.add_argument("--episodes", type=positive_int, default=100)
    evl.add_argument("--seed", type=int, default=0, help="first eval seed (episode i uses seed + i)")
    evl.add_argument("--batch", type=positive_int, default=50,
                     help="episodes run in lockstep through one batched act (latency is timed at batch 1)")
    evl.add_argument("--episode-steps", type=positive_int, help="cut episodes at this many steps when the env's are "
                                                                "longer (e.g. 600: the DF paper's Large protocol)")
    evl.add_argument("--variant", default="default", help="row label for this planner configuration")
    evl.add_argument("--agent-name", help="row label for the agent (default: --agent)")
    evl.add_argument("--results", default="runs/maze2d/results.json",
                     help="results file to upsert into ('none': don't write; maintainers: results/maze2d/results.json)")
    evl.add_argument("--trace", help="also write each episode's trace to this JSON file: closest approach, end, "
                                     "stall, flip, path, and the kind of each failure (benchmarks/trace.py)")
    evl.add_argument("--device", default="auto")
    evl.add_argument("--executor", **EXECUTOR_FLAG)
    add_arguments(evl, PlannerConfig, "planner")
    evl.set_defaults(run=_eval)

    sel = commands.add_parser("select", help="evaluate a grid of planner settings on the selection seeds (1000+, "
                                             "not the rows' 0-99); one resumable table (benchmarks/selection.py)")
    sel.add_argument("--checkpoint", required=True, help="df: shipped name or checkpoint path")
    sel.add_argument("--env", required=True, help=envs_help)
    sel.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                     help="a planner setting and its values, e.g. planner.replan_every=5,10 (repeat the flag: every "
                          "combination is evaluated)")
    sel.add_argument("--out", required=True, help="the selection table (JSON); settings already in it are skipped")
    sel.add_argument("--trace-dir", help="also write each setting's episode traces here (<setting>.json)")
    sel.add_argument("--episodes", type=positive_int, default=50)
    sel.add_argument("--seed", type=int, default=SELECTION_SEED, help="first selection seed (episode i uses seed + i)")
    sel.add_argument("--batch", type=positive_int, default=50, help="episodes run in lockstep through one batched act")
    sel.add_argument("--episode-steps", type=positive_int, help="cut episodes at this many steps")
    sel.add_argument("--device", default="auto")
    sel.set_defaults(run=_select, agent=DF, agent_name=None, variant="default")  # what _evaluate reads of eval's flags
    sel.add_argument("--executor", **EXECUTOR_FLAG)
    add_arguments(sel, PlannerConfig, "planner")

    shp = commands.add_parser("ship", help="turn a training run into a compact named checkpoint with planner settings")
    shp.add_argument("--agent", default=DF, help="df (default) or a baseline: copies its finished run's model to "
                                                 "results/checkpoints/<agent>/<training env>/")
    shp.add_argument("--run", dest="source", required=True, help="a run's checkpoint.pt (baselines: the run folder)")
    shp.add_argument("--env", required=True, help="env the checkpoint serves (names the file; supplies action bounds)")
    shp.add_argument("--out", help="output file (default dfplan/checkpoints/<maze>.pt, or $DFPLAN_CHECKPOINT_DIR)")
    shp.add_argument("--force", action="store_true", help="replace an existing output file")
    shp.add_argument("--settings-from", help="start from the planner settings stored in this checkpoint (shipped name or "
                                             "path), e.g. a retrained model taking over its maze's settings")
    add_arguments(shp, PlannerConfig, "planner")
    shp.set_defaults(run=_ship)

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
    pln.add_argument("--executor", **EXECUTOR_FLAG)
    add_arguments(pln, PlannerConfig, "planner")
    pln.set_defaults(run=_plan)

    vid = commands.add_parser("video-clips", help="render an env's dataset into clips for python -m dfplan.video")
    vid.add_argument("--env", required=True, help=envs_help)
    vid.add_argument("--split", choices=("train", "test"), default="train")
    vid.add_argument("--frame-size", type=positive_int, default=32)
    vid.add_argument("--frame-skip", type=positive_int, default=10)
    vid.add_argument("--clip-frames", type=positive_int, default=256)
    vid.add_argument("--cache", help="the clip cache of python -m dfplan.video (default: its default)")
    vid.add_argument("--out", help="write the clips here instead of the cache")
    vid.set_defaults(run=_video_clips)

    for name, text in (("run", "the benchmark sweep (its flags: python -m benchmarks run --help)"),
                       ("report", "tables and plots from a results file (its flags: python -m benchmarks report --help)"),
                       ("train-walker", "train the AntMaze low-level walker, SAC on the ant's reaching task "
                                        "(its flags: python -m benchmarks train-walker --help)")):
        commands.add_parser(name, help=text, add_help=False)  # listed here; main() hands them to their module
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in FORWARDED:
        import importlib

        return importlib.import_module(FORWARDED[argv[0]]).main(argv[1:]) or 0
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
