"""When the executed part of a plan settles, row by row of the scheduling matrix, and what guidance did to it.

    python -m benchmarks.settling --envs maze2d-medium-v1,maze2d-large-v1 \\
        --agents df/inverse+episode-end,df/inverse+pyramid,df/inverse+pyramid-mcg4

The DF paper's case for the pyramid matrix and Monte Carlo Guidance is about *when* tokens are
fixed: the near future is denoised first and the far future stays uncertain. This measures it
on the planner an agent name builds (``df`` or ``df/<variant>``), from the reset observations of
``--seeds`` (selection seeds, not the evaluation's): for every row ``m`` of the matrix it takes
the clean-token prediction the row stepped with (:func:`dfplan.sampler.sample`'s ``on_row``) and
the positions of the steps the agent executes before it replans (the plan's first
``replan_every`` steps). Per agent and env:

- ``settled_at``: the share of the rows done when the executed positions come, and stay, within
  ``--tolerance`` of where they end (0 = fixed by the first row, 1 = moving until the last);
- ``remaining``: the mean distance from each row's executed positions to the final ones, per row;
- ``guidance_shift``: the mean distance between the executed positions of the guided plan and of
  the same planner unguided (guidance scale 0, the same seed: the same noise without MCG; MCG's
  extra draws make its two plans differ in noise too);
- ``progress`` / ``progress_unguided``: the learned steps-to-go gained over the executed part
  (start minus its end; the maze's shipped cost-to-go), guided and unguided.

Writes ``results/maze2d/settling.json`` (replacing rows of the same env and agent).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import envs
from benchmarks.motion import build_agent
from benchmarks.registry import get_agent_spec
from dfplan.files import read_json_rows, upsert_json_rows
from dfplan.provenance import command_line, stamp

DEFAULT_SETTLING_PATH = Path("results/maze2d/settling.json")


def executed_positions(planner: Any, observations: np.ndarray) -> np.ndarray:
    """Positions ``(B, S, 2)`` of the first ``replan_every`` planned steps of ``observations (B, N, O)``."""
    return observations[:, : planner.config.replan_every, :2]


def measure(planner: Any, starts: list[dict[str, np.ndarray]], seed: int, tolerance: float) -> dict[str, Any]:
    """Settling statistics of ``planner`` over ``starts`` (dict observations), one plan each, seeded ``seed + i``."""
    if planner.config.guidance == "none":
        raise ValueError("the planner is unguided: there is no guidance to measure")
    unguided = planner.with_config(dataclasses.replace(
        planner.config, sampler=dataclasses.replace(planner.config.sampler, guidance_scale=0.0)))
    rows_x0: list[np.ndarray] = []  # per start: (M, S, 2)
    finals, plain, progress, progress_plain = [], [], [], []
    cost = planner.cost_to_go if planner.config.guidance == "learned" else None
    for i, obs in enumerate(starts):
        seen: list[np.ndarray] = []

        def on_row(m: int, x0: torch.Tensor, k: torch.Tensor, seen=seen) -> None:
            seen.append(executed_positions(planner, planner.layout.observations(x0).cpu().numpy())[0])

        planner.reset(seed=seed + i)
        final = executed_positions(planner, planner.plan(obs, on_row=on_row).observations)[0]
        unguided.reset(seed=seed + i)
        base = executed_positions(unguided, unguided.plan(obs).observations)[0]
        rows_x0.append(np.stack(seen))
        finals.append(final)
        plain.append(base)
        progress.append(_progress(cost, obs, final))
        progress_plain.append(_progress(cost, obs, base))
    trail = np.stack(rows_x0)  # (starts, M, S, 2)
    final = np.stack(finals)
    remaining = np.linalg.norm(trail - final[:, None], axis=-1).mean(axis=(0, 2))  # (M,)
    moving = np.nonzero(remaining > tolerance)[0]
    settled = 0 if len(moving) == 0 else (int(moving[-1]) + 1) / len(remaining)
    return {
        "rows": len(remaining),
        "settled_at": round(float(settled), 3),
        "remaining": [round(float(r), 4) for r in remaining],
        "guidance_shift": round(float(np.linalg.norm(final - np.stack(plain), axis=-1).mean()), 4),
        "progress": None if cost is None else round(float(np.mean(progress)), 2),
        "progress_unguided": None if cost is None else round(float(np.mean(progress_plain)), 2),
    }


def _progress(cost: Any, obs: dict[str, np.ndarray], executed: np.ndarray) -> float:
    """Learned steps-to-go from the start minus at the end of the executed positions (NaN without a cost)."""
    if cost is None:
        return float("nan")
    points = np.zeros((1, 2, cost.obs_dim), np.float32)
    points[0, 0, :2], points[0, 1, :2] = obs["observation"][:2], executed[-1]
    with torch.no_grad():
        steps = cost.steps(torch.from_numpy(points), torch.as_tensor(obs["desired_goal"][None, None], dtype=torch.float32))
    return float(steps[0, 0] - steps[0, 1])


def build_planner(name: str, env_id: str) -> Any:
    """The planner an agent name of the registry builds (``df`` or ``df/<variant>``)."""
    if get_agent_spec(name).model_agent != "df":
        raise ValueError(f"{name!r} is not a DF agent: settling measures a DF planner's sampling")
    planner = build_agent(name, env_id, 0)
    if planner.config.search.width:
        raise ValueError(f"{name!r} searches over many sampling runs; settling follows one")
    return planner


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.settling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="df/inverse+episode-end,df/inverse+pyramid,df/inverse+pyramid-mcg4")
    parser.add_argument("--envs", default="maze2d-medium-v1,maze2d-large-v1")
    parser.add_argument("--starts", type=int, default=20, help="reset observations measured (seeds --seed ...)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (selection seeds, not the evaluation's 0-99)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="distance (units of position) counted as settled")
    parser.add_argument("--out", type=Path, default=DEFAULT_SETTLING_PATH)
    args = parser.parse_args(argv)
    if args.starts < 1 or not args.tolerance > 0:
        parser.error("--starts must be >= 1 and --tolerance > 0")
    try:
        env_ids = [envs.get_env_spec(e).env_id for e in args.envs.split(",")]
        agents = args.agents.split(",")
        for name in agents:
            get_agent_spec(name)
        read_json_rows(args.out, ("env", "agent"), "settling file")  # a corrupt file fails first, and is kept
    except ValueError as error:
        parser.error(str(error))
    command = command_line("benchmarks.settling", argv)
    for env_id in env_ids:
        starts = [envs.make(env_id).reset(seed=args.seed + i)[0] for i in range(args.starts)]
        rows = []
        for name in agents:
            began = time.perf_counter()
            try:
                planner = build_planner(name, env_id)
                stats = measure(planner, starts, args.seed, args.tolerance)
            except ValueError as error:
                parser.error(f"{name} on {env_id}: {error}")
            rows.append({"env": env_id, "agent": name, **stats, "schedule": planner.config.sampler.schedule,
                         "mcg_samples": planner.config.sampler.mcg_samples, "executed_steps": planner.config.replan_every,
                         "starts": args.starts, "seeds": [args.seed, args.seed + args.starts - 1],
                         "tolerance": args.tolerance, **stamp(began, command)})
            print(f"{env_id} {name:26s} rows {stats['rows']:3d}  settled at {stats['settled_at']:.2f}  "
                  f"guidance shift {stats['guidance_shift']:.3f}  progress {stats['progress']} "
                  f"(unguided {stats['progress_unguided']})")
        upsert_json_rows(rows, args.out, ("env", "agent"), "settling file", sort=True)


if __name__ == "__main__":
    main()
