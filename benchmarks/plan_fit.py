"""Does the plan start where the agent is? The first planned position against the state it was drawn from.

A DF plan is the tokens after the conditioning observation ``o_t``; its first planned state
``ô_{t+1}`` should lie one step from ``o_t`` (an AntMaze ant moves about 0.05 per step). This
samples one plan from each of ``--states`` dataset states (drawn at random from the env's
dataset, goals drawn from the dataset's positions too) and from each of ``--episodes`` env resets
(the evaluation's start and goal), and reports the median and 90th percentile of
``‖ô_{t+1}[:2] − o_t[:2]‖`` and of the plan's largest single step ``max_i ‖ô_{i+1}[:2] − ô_i[:2]‖``
(a jump no body makes). Planner settings come from the checkpoint, with ``--planner.*`` overrides
(e.g. ``--planner.anchor_weight 100``).

    python -m benchmarks.plan_fit --checkpoint antmaze-medium-diverse-v2 --env antmaze-medium-diverse-v2
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dfplan.config import add_arguments, positive_int, run_command


@dataclass(frozen=True)
class PlanFit:
    """Medians and 90th percentiles (position units) over the sampled plans of one group of start states."""

    plans: int
    first_error_median: float
    first_error_p90: float
    largest_step_median: float
    largest_step_p90: float

    def summary(self) -> str:
        return (f"{self.plans} plans: first planned position {self.first_error_median:.2f} from the state (median; "
                f"90th percentile {self.first_error_p90:.2f}), largest planned step {self.largest_step_median:.2f} "
                f"(90th percentile {self.largest_step_p90:.2f})")


def plan_fit(planner: Any, states: np.ndarray, goals: np.ndarray, position_dims: int = 2) -> PlanFit:
    """Sample one plan from each row of ``states (N, O)`` towards ``goals (N, G)`` and measure its fit."""
    if states.ndim != 2 or goals.ndim != 2 or len(states) != len(goals) or len(states) == 0:
        raise ValueError(f"states (N, O) and goals (N, G) with N >= 1 rows each, got {states.shape} and {goals.shape}")
    plan = planner.plan({"observation": states[:, position_dims:].astype(np.float32),
                         "achieved_goal": states[:, :position_dims].astype(np.float32),
                         "desired_goal": goals.astype(np.float32)})
    xy = plan.observations[..., :position_dims]  # (N, T, 2)
    first = np.linalg.norm(xy[:, 0] - states[:, :position_dims], axis=-1)
    largest = np.linalg.norm(np.diff(xy, axis=1), axis=-1).max(-1)
    return PlanFit(len(states), *(float(np.percentile(v, q)) for v in (first, largest) for q in (50, 90)))


def main(argv: list[str] | None = None) -> int:
    from dfplan.planner import PlannerConfig

    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_fit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a DF AntMaze checkpoint: shipped name or path")
    parser.add_argument("--env", required=True, help="an AntMaze env id, e.g. antmaze-medium-diverse-v2")
    parser.add_argument("--states", type=positive_int, default=64, help="dataset states to plan from")
    parser.add_argument("--episodes", type=positive_int, default=16, help="env resets to plan from")
    parser.add_argument("--seed", type=int, default=1000, help="first reset seed (selection seeds by default); "
                                                               "also seeds the draw of dataset states")
    parser.add_argument("--json", action="store_true", help="print the measures as JSON")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N")
    add_arguments(parser, PlannerConfig, "planner")

    def run(args: argparse.Namespace) -> int:
        import envs
        from agents.datasets import maze_trajectories
        from benchmarks.cli import load_planner

        if not envs.is_antmaze(args.env):
            raise ValueError(f"{args.env!r} is not an AntMaze env (the measure reads an ant's (x, y))")
        warnings.filterwarnings("ignore", message=".*standard deviations from the model's training data.*")
        data = maze_trajectories(args.env)
        if data is None:
            raise FileNotFoundError(f"no dataset for {args.env}: collect it first (python -m envs.ant_collect ...)")
        env = envs.make(args.env)
        planner = load_planner(args, env)
        rng = np.random.default_rng(args.seed)
        picks = rng.choice(len(data.observations), size=(2, args.states))
        planner.reset(seed=args.seed)
        on_data = plan_fit(planner, data.observations[picks[0]], data.observations[picks[1], :2])
        resets = [env.reset(seed=args.seed + i)[0] for i in range(args.episodes)]
        starts = np.stack([np.concatenate([o["achieved_goal"], o["observation"]]) for o in resets])
        at_reset = plan_fit(planner, starts, np.stack([o["desired_goal"] for o in resets]))
        env.close()
        if args.json:
            print(json.dumps({"dataset_states": asdict(on_data), "resets": asdict(at_reset)}))
        else:
            print(f"{args.env}, from dataset states: {on_data.summary()}")
            print(f"{args.env}, from the evaluation's resets: {at_reset.summary()}")
        return 0

    parser.set_defaults(run=run, executor="model")  # plans only: who would execute them does not matter
    return run_command(parser, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
