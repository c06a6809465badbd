"""Score against training compute: each method's snapshots, evaluated on one env.

    python -m benchmarks.compute_curves --env maze2d-medium-v1 --episodes 50 \\
        --run df=runs/df-medium-curve --run diffuser=runs/diffuser-medium-cpu --run iql=runs/iql-medium

A training run keeps a copy of its model when its wall time passes 5, 10, 20, 40 and 80
minutes (``snapshots/`` in the run folder: ``python -m benchmarks train --snapshot-minutes
5,10,20,40,80`` for DF, always for Diffuser and IQL). This command evaluates every snapshot and the
run's final model on the suite protocol (reset seeds ``0 .. episodes-1``) and upserts one row
per (env, agent, model) into ``results/maze2d/compute_curves.json``; the report plots them
(``compute_curves.png``). A DF snapshot plans with the stored settings of the maze's shipped
planner (and its cost-to-go and inverse-dynamics head), so the curve measures the model, not the settings.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.evaluate import evaluate
from dfplan.files import atomic_savefig, read_json_rows, upsert_json_rows
from dfplan.provenance import command_line, stamp

CURVES_PATH = Path("results/maze2d/compute_curves.json")
KEY = ("env", "agent", "model")
WHAT = "compute-curves file"
AGENTS = ("df", "diffuser", "iql")
FINAL = {"df": "checkpoint.pt", "diffuser": "model.pt", "iql": "model.d3"}
_SNAPSHOT = re.compile(r"^(?:checkpoint|model)-([0-9.]+)min\.(?:pt|d3)$")


def run_models(agent: str, run: Path) -> list[tuple[str, Path]]:
    """``(label, model file)`` of a run: its snapshots by minutes, then its final model if finished."""
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; curves are drawn for {', '.join(AGENTS)}")
    if not run.is_dir():
        raise FileNotFoundError(f"no run folder {run}")
    snapshots = sorted(((float(m.group(1)), path) for path in (run / "snapshots").glob("*")
                        if (m := _SNAPSHOT.match(path.name))), key=lambda item: item[0])
    models = [(f"{minutes:g} min", path) for minutes, path in snapshots]
    final = run / FINAL[agent]
    if final.is_file() and _finished(agent, final):
        models.append(("final", final))
    if not models:
        raise FileNotFoundError(f"{run} holds no snapshots and no finished model")
    return models


def _finished(agent: str, final: Path) -> bool:
    """Whether a run's model file is its finished model (the baselines write theirs only at the end;
    a DF ``checkpoint.pt`` is finished when it has all the configured steps)."""
    if agent != "df":
        return True
    from dfplan.checkpoint import load_checkpoint

    meta = load_checkpoint(final)[1]
    return meta.get("steps_done") == meta.get("train_config", {}).get("steps")


def load_agent(agent: str, path: Path, env_id: str) -> tuple[Any, dict]:
    """The agent from a model file and its training facts (steps, wall time)."""
    if agent == "df":
        from dfplan.planner import DFPlanner
        from dfplan.shipped import maze_name

        shipped = DFPlanner.load(maze_name(env_id), device="cpu")  # its settings, cost-to-go and inverse head
        sidecars = {"cost_model": str(Path(shipped.checkpoint).with_suffix(".cost.pt"))}
        if shipped.config.action_mode == "inverse":
            sidecars["inverse_model"] = str(Path(shipped.checkpoint).with_suffix(".inverse.pt"))
        built = DFPlanner.load(path, device="cpu", config=shipped.config, **sidecars)
    else:
        from benchmarks.registry import get_baseline

        built = get_baseline(agent).load(path, "cpu")
    meta = built.meta
    return built, {"steps": meta.get("steps_done"), "train_wall_s": meta.get("train_wall_s"),
                   "device": meta.get("device"), "preset": meta.get("preset")}


def measure(env_id: str, runs: dict[str, Path], episodes: int, out: Path, command: str,
            skip_measured: bool = False) -> list[dict]:
    """Evaluate every model of every run; upsert and return the rows. ``skip_measured``: leave out a
    model whose row is already in ``out`` for the same file and episode count (extending a curve
    with a run's newer snapshots)."""
    measured = ({(row["env"], row["agent"], row["model"], row.get("file"), row.get("n_episodes"))
                 for row in read_json_rows(out, KEY, WHAT)} if skip_measured else set())
    rows = []
    for agent, run in runs.items():
        for label, path in run_models(agent, run):
            if (env_id, agent, label, str(path), episodes) in measured:
                print(f"{env_id} {agent} {label}: measured already, skipped", flush=True)
                continue
            built, facts = load_agent(agent, path, env_id)
            began = time.perf_counter()
            row = evaluate(built, env_id, episodes, 0, agent_name=agent, batch_size=min(episodes, 50)).row
            rows.append({"env": env_id, "agent": agent, "model": label, "run": str(run), "file": str(path),
                         **facts, "train_minutes": None if facts["train_wall_s"] is None else round(facts["train_wall_s"] / 60, 1),
                         "score_mean": round(row.score_mean, 2), "score_sem": round(row.score_sem, 2),
                         "success_rate": row.success_rate, "n_episodes": episodes,
                         **stamp(began, command, wall_key="eval_wall_s")})
            print(f"{env_id} {agent} {label}: {facts['steps']} steps, {rows[-1]['train_minutes']} min -> "
                  f"score {row.score_mean:.1f} ± {row.score_sem:.1f}", flush=True)
            upsert_json_rows([rows[-1]], out, KEY, WHAT, sort=True)
    return rows


def plot_curves(path: Path, png: Path) -> bool:
    """Score against training minutes per (env, agent) from the curves file; False when there is none."""
    rows = [row for row in read_json_rows(path, KEY, WHAT) if row.get("train_minutes") is not None]
    if not rows:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    envs = sorted({row["env"] for row in rows})
    fig = Figure(figsize=(4.5 * len(envs), 3.4))
    FigureCanvasAgg(fig)
    for k, env_id in enumerate(envs):
        ax = fig.add_subplot(1, len(envs), k + 1)
        for agent in sorted({row["agent"] for row in rows if row["env"] == env_id}):
            points = sorted((row["train_minutes"], row["score_mean"], row["score_sem"]) for row in rows
                            if row["env"] == env_id and row["agent"] == agent)
            minutes, scores, sems = zip(*points, strict=True)
            ax.errorbar(minutes, scores, yerr=sems, marker="o", capsize=3, label=agent)
        ax.set_xscale("log")
        longest = max(row["train_minutes"] for row in rows if row["env"] == env_id)
        ticks = [m for m in (5, 10, 20, 40, 80, 160, 320, 640) if m <= 2 * longest]
        ax.set_xticks(ticks, [f"{m:g}" for m in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("training wall time (min, one CPU thread)")
        ax.set_ylabel("D4RL-normalized score")
        ax.set_title(env_id)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, png, dpi=90, metadata={"Software": None})
    return True


def curves_table(path: Path) -> str:
    """A markdown table of the curves file (empty string when there is none)."""
    rows = read_json_rows(path, KEY, WHAT)
    if not rows:
        return ""
    lines = ["| env | agent | model | gradient steps | training min | score | success | episodes |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r["env"], r["agent"], r.get("train_minutes") or 0)):
        lines.append(f"| {row['env']} | {row['agent']} | {row['model']} | {row.get('steps')} | {row.get('train_minutes')} | "
                     f"{row['score_mean']:.1f} ± {row['score_sem']:.1f} | {row['success_rate']:.0%} | {row['n_episodes']} |")
    return "\n".join(lines)


def _run_argument(text: str) -> tuple[str, Path]:
    agent, sep, folder = text.partition("=")
    if not sep or not folder:
        raise argparse.ArgumentTypeError(f"--run takes AGENT=FOLDER, got {text!r}")
    return agent, Path(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compute_curves", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="maze2d-medium-v1")
    parser.add_argument("--run", dest="runs", type=_run_argument, action="append", required=True,
                        help="AGENT=RUN_FOLDER (agent: df, diffuser or iql); repeatable")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--out", type=Path, default=CURVES_PATH)
    parser.add_argument("--skip-measured", action="store_true",
                        help="leave out models whose row (same file, same episodes) is already in --out")
    args = parser.parse_args(argv)
    command = command_line("benchmarks.compute_curves", argv)
    try:
        measure(args.env, dict(args.runs), args.episodes, args.out, command, args.skip_measured)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    plot_curves(args.out, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
