"""Planner-setting selection: a grid of ``--planner.*`` values, each evaluated on the selection seeds.

``python -m benchmarks select`` evaluates every combination of the ``--grid`` values on
episodes that are not the benchmark's (seeds 1000 and up by default, the rows use 0-99), and
keeps one table per selection: a JSON file with one entry per setting (score, success, first
reach, act latency, failures by kind), rewritten atomically after each setting. A cut
selection resumes: settings already in the table for the same checkpoint, env, episodes and
seed are not evaluated again. The chosen setting is then shipped (``benchmarks ship``) and
evaluated on seeds 0-99 by ``benchmarks.run``.

    python -m benchmarks select --checkpoint runs/antmaze-large-play-v2-quick-seed0/checkpoint.pt \\
        --env antmaze-large-play-v2 --out runs/sel/large-play.json --trace-dir runs/sel/large-play \\
        --planner.action_mode inverse --grid planner.sampler.guidance_scale=0.01,0.02 \\
        --grid planner.replan_every=5,10
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dfplan.files import atomic_write_text

SELECTION_SEED = 1000  # the benchmark rows use seeds 0-99; selection never sees them
FIELDS = ("score_mean", "success_rate", "first_reach_mean", "act_ms_median")


def parse_grid(items: list[str], typed: Callable[[str, str], Any]) -> list[tuple[str, list[Any]]]:
    """``["planner.replan_every=5,10"]`` as ``[("planner.replan_every", [5, 10])]``.

    ``typed(key, text)`` converts one value with the flag's own type and raises ``ValueError``
    for an unknown flag or a bad value; every value is checked before anything is evaluated.
    """
    grid: list[tuple[str, list[Any]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().removeprefix("--")
        texts = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not texts:
            raise ValueError(f"--grid {item!r}: expected KEY=V1,V2,... e.g. planner.replan_every=5,10")
        if not key.startswith("planner."):
            raise ValueError(f"--grid {item!r}: only planner settings (planner.*) can be selected")
        if key in (k for k, _ in grid):
            raise ValueError(f"--grid names {key} twice")
        grid.append((key, [typed(key, text) for text in texts]))
    return grid


def settings(grid: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (one empty setting for an empty grid)."""
    keys = [key for key, _ in grid]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(values for _, values in grid))]


def label(setting: dict[str, Any]) -> str:
    """A short, file-name-safe name of a setting: ``guidance_scale=0.02_replan_every=5`` (``default`` if empty)."""
    return "_".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in setting.items()) or "default"


def load_table(path: str | Path) -> dict[str, Any]:
    """The selection table at ``path`` (an empty one if absent); ``ValueError`` naming a file that is not one."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a .json file")
    if not path.exists():
        return {"entries": []}
    try:
        table = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a selection table: {err}") from None
    if not isinstance(table, dict) or not isinstance(table.get("entries"), list):
        raise ValueError(f"{path} is not a selection table (no 'entries' list)")
    return table


def _key(entry: dict[str, Any]) -> tuple:
    return (entry["checkpoint"], entry["env"], entry["episodes"], entry["seed"],
            json.dumps(entry.get("fixed", {}), sort_keys=True), json.dumps(entry["setting"], sort_keys=True))


def done(table: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Whether ``table`` already holds ``entry``'s setting for the same checkpoint, env, episodes, seed and
    fixed planner flags (the ``--planner.*`` given outside the grid)."""
    return any(_key(e) == _key(entry) for e in table["entries"])


def record(path: str | Path, table: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Add (or replace) ``entry`` in ``table`` and write the table atomically; returns the table."""
    table["entries"] = [e for e in table["entries"] if _key(e) != _key(entry)] + [entry]
    atomic_write_text(path, json.dumps(table, indent=1) + "\n")
    return table


def markdown(entries: list[dict[str, Any]]) -> str:
    """The entries as a Markdown table, best success first (then score)."""
    lines = ["| setting | episodes | success | score | first reach | act ms | failures |", "|---|---|---|---|---|---|---|"]
    for e in sorted(entries, key=lambda e: (-e["success_rate"], -e["score_mean"])):
        reach = "n/a" if e["first_reach_mean"] is None else f"{e['first_reach_mean']:.0f}"
        lines.append(f"| {label(e['setting'])} | {e['episodes']} (seed {e['seed']}+) | {e['success_rate']:.0%} | "
                     f"{e['score_mean']:.1f} | {reach} | {e['act_ms_median']:.1f} | {e.get('failures') or ''} |")
    return "\n".join(lines)


def fixed_flags(args: argparse.Namespace, grid: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    """The ``--planner.*`` flags given on the command line outside the grid, and an executor other than the
    model's own (part of what a setting is)."""
    varied = {key for key, _ in grid}
    fixed = {key: value for key, value in sorted(vars(args).items())
             if key.startswith("planner.") and value is not None and key not in varied}
    if args.executor != "model":
        fixed["executor"] = args.executor
    return fixed


def selection_entry(args: argparse.Namespace, fixed: dict[str, Any], setting: dict[str, Any],
                    row: dict[str, Any] | None = None, failures: str | None = None) -> dict[str, Any]:
    """One table entry: what was evaluated (checkpoint, env, seeds, fixed flags, setting) and, given
    its ``row``, what it scored."""
    entry = {"checkpoint": str(args.checkpoint), "env": args.env, "episodes": args.episodes, "seed": args.seed,
             "fixed": fixed, "setting": setting}
    if row is not None:
        entry.update({field: row[field] for field in FIELDS}, failures=failures,
                     planner=row.get("extra", {}).get("planner"), commit=row.get("commit"), date=row.get("date"))
    return entry
