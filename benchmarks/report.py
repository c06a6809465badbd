"""Generate the results report from ``results/maze2d/results.json`` only.

    python -m benchmarks.report            # results/maze2d/README.md + PNGs, and README.md's headline table
    python -m benchmarks.report --results results/antmaze/results.json   # the AntMaze report (its own module)

Every table and plot is computed from the results file (plus the published reference
numbers in ``benchmarks/published_maze2d.json``, copied from the papers with their
sources); nothing is edited by hand. The same results file always gives the same report.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from benchmarks.compute_curves import curves_table, plot_curves
from benchmarks.results import DEFAULT_RESULTS_PATH, ResultRow, load_rows
from benchmarks.variants import DF_VARIANTS, ROADMAP_VARIANTS
from dfplan.files import atomic_savefig, atomic_write_text
from envs.antmazes import ANTMAZE_IDS
from envs.mazes import ENV_IDS, get_env_spec

PUBLISHED_PATH = Path(__file__).with_name("published_maze2d.json")
HEADLINE_START, HEADLINE_END = "<!-- results:start -->", "<!-- results:end -->"
AGENT_ORDER = ("oracle", "roadmap", "df", "diffuser", "sac-her", "iql", "cql", "random")
SHORT = {env: env.replace("-v1", "").replace("maze2d-", "").replace("multi2d-", "multi ") for env in ENV_IDS}
ENV_STEPS = {env: get_env_spec(env).maze.episode_steps for env in ENV_IDS}


def _label(row: ResultRow) -> str:
    return row.agent if row.variant == "default" else f"{row.agent} ({row.variant})"


def _order(label_rows: dict[str, list[ResultRow]]) -> list[str]:
    def key(label: str) -> tuple[int, str]:
        agent = label_rows[label][0].agent
        return (AGENT_ORDER.index(agent) if agent in AGENT_ORDER else len(AGENT_ORDER), label)

    return sorted(label_rows, key=key)


def _by_label(rows: list[ResultRow]) -> dict[str, dict[str, ResultRow]]:
    table: dict[str, dict[str, ResultRow]] = defaultdict(dict)
    for row in rows:
        table[_label(row)][row.env] = row
    return table


def _fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{suffix}"


def _row_label(label: str, cells: dict[str, ResultRow], budget: bool = False) -> str:
    """``label (episodes ep.)``; with ``budget``, the training budget first when the rows record one
    (the same for every env, else a pointer to the budget table)."""
    episodes = "/".join(map(str, sorted({row.n_episodes for row in cells.values()})))
    found = sorted({row.extra.get("training", {}).get("budget") for row in cells.values()} - {None})
    text = found[0] if len(found) == 1 else ("budgets by maze below" if found else "")
    return f"{label} ({text}, {episodes} ep.)" if budget and text else f"{label} ({episodes} ep.)"


def metric_table(rows: list[ResultRow], metric: str, envs: tuple[str, ...] = ENV_IDS,
                 published: dict | None = None, budgets: bool = True) -> str:
    """A Markdown table: one line per agent variant, one column per env (``budgets``: each trained
    agent's training budget in its label)."""
    table = _by_label(rows)
    lines = ["| agent | " + " | ".join(SHORT[e] for e in envs) + " |", "|---|" + "---|" * len(envs)]
    order = _order({label: list(cells.values()) for label, cells in table.items()})
    for label in order:
        cells = []
        for env in envs:
            row = table[label].get(env)
            if row is None:
                cells.append("—")
            elif metric == "score":
                cells.append(f"{row.score_mean:.1f} ± {row.score_sem:.1f}")
            elif metric == "return":
                cells.append(f"{row.return_mean:.1f}")
            elif metric == "success":
                cells.append(f"{100 * row.success_rate:.0f} %")
            elif metric == "first_reach":
                cells.append(_fmt(row.first_reach_mean, 0))
            elif metric == "latency":
                replan = "" if row.replan_ms_median is None else f" / {row.replan_ms_median:.0f}"
                cells.append(f"{row.act_ms_median:.2f}{replan}")
            else:
                raise ValueError(f"unknown metric {metric!r}")
        shown = {env: table[label][env] for env in envs if env in table[label]}
        lines.append(f"| {_row_label(label, shown, budgets)} | " + " | ".join(cells) + " |")
    if published and metric == "score":
        for method in published["methods"]:
            cells = []
            for env in envs:
                value = published["results"].get(env, {}).get(method)
                cells.append("—" if value is None else (f"{value[0]:.1f}" + ("" if value[1] is None else f" ± {value[1]:.1f}")))
            lines.append(f"| *{method} (published)* | " + " | ".join(cells) + " |")
    return "\n".join(lines)


LEVER_ENVS = ("maze2d-medium-v1", "maze2d-large-v1")
SPEED_ENVS = ("maze2d-umaze-v1", *LEVER_ENVS)  # where the sampler and lever variants were measured
LEVERS = {**{name: v.legend for name, v in ROADMAP_VARIANTS.items()}, **{name: v.legend for name, v in DF_VARIANTS.items()}}
"""Legend of the lever table: variant name -> what it changes in the shipped planner."""


def lever_table(rows: list[ResultRow], envs: tuple[str, ...] = LEVER_ENVS) -> str:
    """The long-horizon ablation: every DF variant measured on ``envs`` (and the oracle as the
    target), with success, first reach, holding (share of the steps after the first reach
    spent at the goal), score and ``act`` latency side by side; '' if no DF
    variant besides the default was measured there."""
    chosen = [r for r in rows if r.env in envs and r.agent in ("df", "oracle", "roadmap")
              and r.extra.get("episode_steps") in (None, ENV_STEPS[r.env])]
    if not any(r.agent == "df" and r.variant != "default" for r in chosen):
        return ""
    table = _by_label(chosen)
    head = "| variant | " + " | ".join(f"{SHORT[e]}: success | first reach | holding | score | return | act ms"
                                     for e in envs) + " |"
    lines = [head, "|---|" + "---|---|---|---|---|---|" * len(envs)]
    for label in _order({label: list(cells.values()) for label, cells in table.items()}):
        cells = []
        for env in envs:
            row = table[label].get(env)
            hold = None if row is None else row.extra.get("hold_rate_mean")
            cells += (["—"] * 6 if row is None else
                      [f"{100 * row.success_rate:.0f} %", _fmt(row.first_reach_mean, 0),
                       _fmt(None if hold is None else 100 * hold, 0, " %"),
                       f"{row.score_mean:.1f} ± {row.score_sem:.1f}", f"{row.return_mean:.0f}", f"{row.act_ms_median:.1f}"])
        shown = {env: table[label][env] for env in envs if env in table[label]}
        lines.append(f"| {_row_label(label, shown)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budget_table(rows: list[ResultRow]) -> str:
    """Training budget per trained agent and maze: budget, training wall time and device."""
    mazes = ("umaze", "medium", "large")
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: r.env.startswith("multi2d")):  # maze2d rows first
        if row.variant != "default" or row.train_wall_s is None:
            continue
        maze = row.env.split("-")[1]
        training = row.extra.get("training", {})
        where = training.get("device", "")
        text = f"{training['budget']}; " if "budget" in training else ""
        text += f"{row.train_wall_s / 60:.0f} min" + (f" on {where}" if where else "")
        if len(row.train_seeds) > 1:
            text += f" (mean of {len(row.train_seeds)} seeds)"
        cells[row.agent].setdefault(maze, text)
    lines = ["| agent | U-Maze | Medium | Large |", "|---|---|---|---|"]
    for agent in sorted(cells, key=lambda a: AGENT_ORDER.index(a) if a in AGENT_ORDER else len(AGENT_ORDER)):
        lines.append(f"| {agent} | " + " | ".join(cells[agent].get(m, "—") for m in mazes) + " |")
    return "\n".join(lines)


def load_published() -> dict:
    data = json.loads(PUBLISHED_PATH.read_text())
    methods = ["Diffusion Forcing", "DF without MCG", "Diffuser", "Diffuser (diffused actions)",
               "Hierarchical Diffuser", "IQL", "CQL"]
    return {"results": data["results"], "sources": data["sources"], "methods": methods}


def protocol_lines(rows: list[ResultRow]) -> list[str]:
    lines = ["| env | agent | episodes | eval seeds | train seeds | device | commit | date | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r.env, _label(r))):
        seeds = f"{row.eval_seeds[0]}–{row.eval_seeds[-1]}" if row.eval_seeds else "—"
        lines.append(f"| {row.env} | {_label(row)} | {row.n_episodes} | {seeds} | {row.train_seeds or '—'} | "
                     f"{row.device} | `{row.commit[:8]}` | {row.date[:10]} | `{row.command}` |")
    if any(row.command.startswith("python -m dfplan eval") for row in rows):
        lines += ["", "Commands recorded as `python -m dfplan eval ...` predate the move of the suite's commands "
                  "out of the library: the same flags run today as `python -m benchmarks eval ...`."]
    return lines


def _savefig(fig, path: Path) -> None:
    atomic_savefig(fig, path, dpi=90, metadata={"Software": None})


def plot_scores(rows: list[ResultRow], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = _by_label(rows)
    labels = _order({label: list(cells.values()) for label, cells in table.items()})
    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        xs = [j + i * width for j, env in enumerate(ENV_IDS) if env in table[label]]
        ys = [table[label][env].score_mean for env in ENV_IDS if env in table[label]]
        es = [table[label][env].score_sem for env in ENV_IDS if env in table[label]]
        ax.bar(xs, ys, width, yerr=es, label=label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ENV_IDS))], [SHORT[e] for e in ENV_IDS])
    ax.set_ylabel("D4RL-normalized score")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _savefig(fig, path)


def plot_success_vs_reach(rows: list[ResultRow], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, cells in sorted(_by_label(rows).items()):
        points = [(r.first_reach_mean, 100 * r.success_rate) for r in cells.values() if r.first_reach_mean is not None]
        if points:
            ax.scatter(*zip(*points, strict=True), label=label, s=18)
    ax.set_xlabel("mean time to first reach (env steps)")
    ax.set_ylabel("success rate (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _savefig(fig, path)


def _log_minor_label(value: float, _position: int) -> str:
    """Label the 2 and 5 minor ticks of a log axis (plain numbers), leave the others blank."""
    leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return f"{value:g}" if leading in (2, 5) else ""


def plot_speed(rows: list[ResultRow], path: Path, envs: tuple[str, ...] = SPEED_ENVS) -> bool:
    """Score against ``act`` latency for the DF variants of each of ``envs`` that has several."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    df = [r for r in rows if r.agent == "df" and r.act_ms_median is not None and r.env in envs]
    envs = sorted({r.env for r in df if sum(1 for s in df if s.env == r.env) > 1})
    if not envs:
        return False
    fig = Figure(figsize=(5 * len(envs), 4))
    FigureCanvasAgg(fig)
    for i, env in enumerate(envs):
        ax = fig.add_subplot(1, len(envs), i + 1)
        for row in sorted((r for r in df if r.env == env), key=lambda r: r.variant):
            ax.errorbar(row.act_ms_median, row.score_mean, yerr=row.score_sem, fmt="o")
            ax.annotate(row.variant, (row.act_ms_median, row.score_mean), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(_log_minor_label))
        ax.set_xlabel("act latency, ms per env step (batch 1, CPU)")
        ax.set_ylabel("D4RL-normalized score")
        ax.set_title(env)
    fig.tight_layout()
    _savefig(fig, path)
    return True


TARGET_METHODS = ("Diffusion Forcing", "Diffuser")
"""Published methods the shipped DF planner is held against, beside the roadmap and the oracle."""


def target_table(rows: list[ResultRow], published: dict, envs: tuple[str, ...] = ENV_IDS) -> str:
    """The shipped DF planner against its bars, per env: its score, return and success, then its
    score minus the roadmap's (the strongest agent without diffusion with the same information),
    the oracle's (same env and seeds) and each published method's mean; '' without DF rows."""
    cells = _by_label([r for r in rows if r.variant == "default" and r.agent in ("df", "oracle", "roadmap")])
    df = cells.get("df", {})
    if not df:
        return ""
    bars = ("roadmap", "oracle")
    head = ("| env | df score | df return | success | " + " | ".join(f"{b} | Δ {b}" for b in bars) + " | "
            + " | ".join(f"{m} (published) | Δ" for m in TARGET_METHODS))
    lines = [head + " |", "|---|" + "---|" * (3 + 2 * len(bars) + 2 * len(TARGET_METHODS))]

    def versus(value: float | None, score: float) -> list[str]:
        return ["—", "—"] if value is None else [f"{value:.1f}", f"{score - value:+.1f}"]

    for env in envs:
        row = df.get(env)
        if row is None:
            continue
        line = [SHORT[env], f"{row.score_mean:.1f} ± {row.score_sem:.1f}", f"{row.return_mean:.0f}",
                f"{100 * row.success_rate:.0f} %"]
        for bar in bars:
            other = cells.get(bar, {}).get(env)
            line += versus(None if other is None else other.score_mean, row.score_mean)
        for method in TARGET_METHODS:
            value = published["results"].get(env, {}).get(method)
            line += versus(None if value is None else value[0], row.score_mean)
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def paper_protocol_table(rows: list[ResultRow], published: dict) -> str:
    """The published Diffusion Forcing column read two ways: as a D4RL-normalized score of the
    suite's episodes, and as the raw return the paper's code logs (600-step Large episodes): this
    project's DF and roadmap rows under both protocols; '' without a 600-step row."""
    cut = {(r.env, r.agent): r for r in rows if r.variant == "paper-protocol"}
    if not cut:
        return ""
    full = {(r.env, r.agent): r for r in rows if r.variant == "default"}
    lines = ["| env | agent | suite episodes: score | return | paper protocol: steps | return | score (D4RL constants) "
             "| DF published | Δ score (suite) | Δ return (paper protocol) |", "|---|" + "---|" * 9]
    for env in ENV_IDS:
        for agent in ("df", "roadmap"):
            base, short = full.get((env, agent)), cut.get((env, agent))
            if base is None and short is None:
                continue
            if short is None and ENV_STEPS[env] <= 600:
                short = base  # the paper's episodes are the suite's here
            value = published["results"].get(env, {}).get("Diffusion Forcing")
            ref = None if value is None else value[0]
            line = [SHORT[env], agent,
                    "—" if base is None else f"{base.score_mean:.1f}", "—" if base is None else f"{base.return_mean:.1f}",
                    "—" if short is None else str(short.extra.get("episode_steps", ENV_STEPS[env])),
                    "—" if short is None else f"{short.return_mean:.1f}",
                    "—" if short is None else f"{short.score_mean:.1f}", _fmt(ref),
                    "—" if base is None or ref is None else f"{base.score_mean - ref:+.1f}",
                    "—" if short is None or ref is None else f"{short.return_mean - ref:+.1f}"]
            lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def motion_table(path: Path) -> str:
    """What arrival is made of (``python -m benchmarks.motion``): path length, speed and slow share
    before the first reach, and the hold rate after it; '' without a motion file."""
    from benchmarks.motion import load_motion

    rows = load_motion(path)
    if not rows:
        return ""
    lines = ["| env | agent | episodes | path to first reach | mean speed | share of steps slower than 1 | holding |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        hold = row.get("hold_rate")
        lines.append(f"| {SHORT.get(row['env'], row['env'])} | {row['agent']} | {row['episodes'] or 'stream'} | "
                     f"{_fmt(row.get('path_length'), 2)} | {_fmt(row.get('speed'), 2)} | "
                     f"{_fmt(None if row.get('slow_share') is None else 100 * row['slow_share'], 0, ' %')} | "
                     f"{_fmt(None if hold is None else 100 * hold, 0, ' %')} |")
    return "\n".join(lines)


def settling_table(path: Path) -> str:
    """When the executed steps of a plan settle (``python -m benchmarks.settling``); '' without a settling file."""
    from dfplan.files import read_json_rows

    rows = read_json_rows(path, ("env", "agent"), "settling file")
    if not rows:
        return ""
    lines = ["| env | agent | matrix | rows | executed steps fixed after | guidance moved them | learned steps-to-go "
             "gained over them, guided / unguided |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        matrix = row["schedule"] + (f" + MCG {row['mcg_samples']}" if row["mcg_samples"] > 1 else "")
        lines.append(f"| {SHORT.get(row['env'], row['env'])} | {row['agent']} | {matrix} | {row['rows']} | "
                     f"{100 * row['settled_at']:.0f} % of the rows | {row['guidance_shift']:.2f} | "
                     f"{_fmt(row.get('progress'), 1)} / {_fmt(row.get('progress_unguided'), 1)} "
                     f"(in {row['executed_steps']} steps) |")
    return "\n".join(lines)


def headline_table(rows: list[ResultRow], published: dict) -> str:
    """README's headline: D4RL-normalized score, then raw return, of every agent's default row."""
    main = [r for r in rows if r.variant == "default"]
    return "\n".join([metric_table(main, "score", published={**published, "methods": ["Diffusion Forcing", "Diffuser"]}),
                      "", "Raw return (steps spent within 0.5 of the goal; episodes of 300 / 600 / 800 steps):", "",
                      metric_table(main, "return", budgets=False)])


def build_report(results_path: Path, out_dir: Path) -> str:
    rows = load_rows(results_path)
    published = load_published()
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_scores([r for r in rows if r.variant == "default"], out_dir / "scores.png")
    plot_success_vs_reach([r for r in rows if r.variant == "default"], out_dir / "success_vs_reach.png")
    speed = plot_speed(rows, out_dir / "speed.png")
    sources = "\n".join(f"- {method}: {source}" for method, source in published["sources"].items())
    parts = [
        "# Maze2D / Multi2D results",
        "",
        f"Generated by `python -m benchmarks.report` from `{results_path}` — do not edit by hand.",
        "Protocol: DESIGN.md section 5 (D4RL maze2d-v1 semantics on Gymnasium-Robotics PointMaze, "
        "D4RL-normalized score ×100, mean ± standard error over episodes). Rows in *italics* are "
        "published numbers measured on the original D4RL stack, not by this project.",
        "",
        "## D4RL-normalized score", "", metric_table(rows, "score", published=published), "",
        "![scores](scores.png)", "",
        "## Raw return (steps spent at the goal)", "", metric_table(rows, "return"), "",
        "## The shipped DF planner against its bars", "",
        "Bars: the roadmap agent (the learned cost-to-go followed by PD, no diffusion model: the strongest agent "
        "with the DF planner's information), the oracle on the same env and seeds, and the published Diffusion "
        "Forcing and Diffuser numbers. Δ = this project's DF score minus the bar (negative: below it by that much).", "",
        target_table(rows, published), "",
        "## Success rate (goal reached at least once)", "", metric_table(rows, "success"), "",
        "## Mean time to first reach (env steps, successful episodes)", "", metric_table(rows, "first_reach"), "",
        "![success vs time to first reach](success_vs_reach.png)", "",
        "## `act` latency (ms per env step amortized over replans / ms per replan; batch 1, CPU)", "",
        metric_table(rows, "latency"), "",
    ]
    if speed:
        parts += ["![score vs latency](speed.png)", ""]
    levers = lever_table(rows)
    if levers:
        present = {r.variant for r in rows if r.agent in ("df", "roadmap") and r.env in LEVER_ENVS}
        measured = [name for name in LEVERS if name in present]
        parts += ["## Levers (Medium and Large)", "",
                  "One row per lever, each changing one option of the DF planner guided by the cost-to-go learned "
                  "from the data (`df` is the shipped setting); planner options need no retraining, the goal-conditioned and "
                  "frame-stack rows are models trained with the same budget. Holding: share of the steps after the "
                  "first reach spent at the goal (the D4RL score counts them). The `roadmap` row is the bar: the same "
                  "cost-to-go followed with no diffusion model. `act ms` was measured with other jobs sharing the "
                  "2 CPU cores in most rows (the shipped settings measured alone: 3.2–4.6 ms per step with the inverse head on U-Maze and Medium, 6.2 / 6.9 ms on Large / Multi Large replanning every 7 steps, up to 2× that on a slower day of the same machine; 8–25 ms shared), so "
                  "differences under ~25 % are noise. Rows list the `benchmarks.run` agent (`df/<variant>`) or "
                  "`eval` command that made them (protocol table below).", "", levers,
                  "", *[f"- `{name}`: {LEVERS[name]}" for name in measured], ""]
        costs = sorted((out_dir / "cost_to_go").glob("*.png")) if (out_dir / "cost_to_go").is_dir() else []
        if costs:
            parts += ["Learned cost-to-go to each maze's goal (`python -m benchmarks.cost_check --png`):", "",
                      " ".join(f"![{p.stem}](cost_to_go/{p.name})" for p in costs), ""]
    paper = paper_protocol_table(rows, published)
    if paper:
        parts += ["## The published Diffusion Forcing column, read two ways", "",
                  "The DF paper's Maze2D code logs the *raw* episode reward and runs Large for 600 steps, not 800. "
                  "Its column is compared here both as a D4RL-normalized score of the suite's episodes and as a raw "
                  "return of the paper's episodes (U-Maze 300, Medium 600, Large 600 steps; the `paper-protocol` "
                  "rows, Large only, since the other two are already that long).", "", paper, ""]
    motion = motion_table(out_dir / "motion.json")
    if motion:
        parts += ["## What arrival is made of (`python -m benchmarks.motion`)", "",
                  "Before the first reach: the path driven, the mean speed on it and the share of steps slower than "
                  "1 unit/s; after it, the share of steps at the goal. The `data` rows describe the dataset's "
                  "collector stream (every step), the distribution the DF model learned its speeds from.", "",
                  motion, ""]
    settling = settling_table(out_dir / "settling.json")
    if settling:
        parts += ["## When the executed steps settle (`python -m benchmarks.settling`)", "",
                  "Per scheduling matrix, from the reset observations of selection seeds: the share of the matrix's "
                  "rows after which the positions of the steps executed before the next replan stop moving (within "
                  "0.05), how far guidance moved them from the same plan unguided (same noise; units of position), "
                  "and how many learned steps-to-go they gain (at the data's median speed an env step gains one).",
                  "", settling, ""]
    parts += ["## Training budget per maze (one model per maze serves its maze2d and multi2d env)", "",
              budget_table(rows), ""]
    curves = results_path.parent / "compute_curves.json"
    if curves.is_file() and plot_curves(curves, out_dir / "compute_curves.png"):
        parts += ["## Score against training compute", "",
                  "Each method's training snapshots (5 / 10 / 20 / 40 / 80 min of training wall time, and the "
                  "finished model) evaluated on the same seeds (`python -m benchmarks.compute_curves`, "
                  "`compute_curves.json`). DF snapshots plan with the shipped planner's settings.", "",
                  curves_table(curves), "", "![score against training compute](compute_curves.png)", ""]
    gallery = sorted((out_dir / "gallery").glob("*.png")) if (out_dir / "gallery").is_dir() else []
    if gallery:
        parts += ["## Gallery: the first sampled plan (dashed) and the executed episode (solid)", "",
                  "Made by `python -m benchmarks.gallery` with the shipped checkpoints; GIFs of one episode per "
                  "maze beside them in `gallery/`.", "",
                  " ".join(f"![{p.stem}](gallery/{p.name})" for p in gallery), ""]
    parts += ["## Protocol of every measured row", "", *protocol_lines(rows), "", "## Sources of published numbers", "",
              sources, ""]
    text = "\n".join(parts)
    atomic_write_text(out_dir / "README.md", text)
    return headline_table(rows, published)


def update_readme(readme: Path, table: str) -> bool:
    """Replace the text between the headline markers of ``readme``; False if it has none."""
    text = readme.read_text()
    if HEADLINE_START not in text or HEADLINE_END not in text:
        return False
    head, rest = text.split(HEADLINE_START, 1)
    _, tail = rest.split(HEADLINE_END, 1)
    atomic_write_text(readme, f"{head}{HEADLINE_START}\n{table}\n{HEADLINE_END}{tail}")
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS_PATH)
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: beside the results file)")
    parser.add_argument("--readme", type=Path, default=None,
                        help="README whose headline table to update (default: README.md for the default results "
                             "file, none for another; '-' to skip)")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        parser.error(f"--results {args.results}: no such file")
    if any(row.env in ANTMAZE_IDS for row in load_rows(args.results)):  # the AntMaze suite has its own report
        from benchmarks import antmaze_report

        print(f"report: {antmaze_report.build_report(args.results, args.out or args.results.parent)}")
        return
    readme = args.readme
    if readme is None and args.results.resolve() == Path(DEFAULT_RESULTS_PATH).resolve():
        readme = Path("README.md")  # another results file must not rewrite the project's headline table
    try:
        table = build_report(args.results, args.out or args.results.parent)
    except ValueError as error:  # a malformed results or motion file, named in the message
        parser.error(str(error))
    if readme is not None and str(readme) != "-" and readme.exists():
        updated = update_readme(readme, table)
        print(f"headline table {'copied into' if updated else 'NOT copied (no markers) into'} {readme}")
    print(f"report: {(args.out or args.results.parent) / 'README.md'}")


if __name__ == "__main__":
    main()
