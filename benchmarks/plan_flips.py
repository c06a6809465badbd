"""Do the ant's flips start in the plan? Plans holding a tipped state, and replans that swing the aim, counted
against executed flips.

Runs a DF planner on AntMaze episodes one at a time and counts, for every plan it samples, whether
a planned state lies on the ant's side or back (``torso_up < 0``), separately for the plans made
before the ant's first flip (those that could have caused it) and after (a flipped ant plans from
a flipped state), and, at every replan, whether the new plan turns the aim (its point ``inverse_lead``
steps ahead) away from where the previous plan aimed for the same step. Planner settings come from the
checkpoint, with ``--planner.*`` overrides.

    python -m benchmarks.plan_flips --checkpoint antmaze-medium-diverse-v2 --env antmaze-medium-diverse-v2 \\
        --episodes 6 --planner.upright_weight 5
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


@dataclass
class PlanFlips:
    """Counts over the episodes: plans (all / before the first flip) and how many held a tipped state."""

    episodes: int = 0
    reached: int = 0
    flipped: int = 0
    plans: int = 0
    tipped: int = 0
    plans_before_flip: int = 0
    tipped_before_flip: int = 0
    replans: int = 0
    swings: int = 0

    def summary(self) -> str:
        return (f"{self.tipped_before_flip} of {self.plans_before_flip} plans made before the ant's first flip hold "
                f"a tipped state ({self.tipped} of {self.plans} in all); {self.swings} of {self.replans} replans swung "
                f"the aim by more than {SWING_ANGLE} rad; {self.flipped} of {self.episodes} episodes flipped, "
                f"{self.reached} reached the goal")


SWING_ANGLE = 0.3
"""A replan *swings* the aim when the direction from the ant to the plan's point ``inverse_lead`` steps ahead
turns by more than this (radians, ~17°) from the previous plan's point for the same step. Within a plan the
aim turns smoothly; a planner whose successive samples disagree turns the executor at every replan."""


def aim_swing(old_plan: np.ndarray, new_plan: np.ndarray, position: np.ndarray, since: int, lead: int) -> float:
    """The angle (radians) between the aims of the previous plan (made ``since`` steps ago) and the new one,
    both at the point ``lead`` steps ahead of now, seen from the ant's (x, y) ``position``."""
    old = old_plan[min(since + lead - 1, len(old_plan) - 1), :2] - position
    new = new_plan[min(lead - 1, len(new_plan) - 1), :2] - position
    return float(abs(np.angle(np.exp(1j * (np.arctan2(new[1], new[0]) - np.arctan2(old[1], old[0]))))))


def count_plan_flips(planner: Any, env: Any, seeds: list[int], max_steps: int | None = None) -> PlanFlips:
    """Run ``planner`` (a DF planner on an AntMaze env, one episode per seed) and count tipped plans, replans that
    swing the aim (:data:`SWING_ANGLE`) and flips."""
    from envs.antmazes import torso_up

    counts = PlanFlips()
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        planner.reset(seed=seed)
        last_plan, flipped, step, planned_at = None, False, 0, 0
        while True:
            position = np.asarray(obs["achieved_goal"], np.float64)
            obs, _, terminated, truncated, info = env.step(planner.act(obs))
            step += 1
            plan = planner.current_plan()[0]
            if plan is not None and plan is not last_plan:
                if last_plan is not None:
                    counts.replans += 1
                    swing = aim_swing(last_plan, plan, position, step - planned_at, planner.config.inverse_lead)
                    counts.swings += swing > SWING_ANGLE
                last_plan, tipped, planned_at = plan, bool((torso_up(plan[:, 2:]) < 0).any()), step
                counts.plans += 1
                counts.tipped += tipped
                if not flipped:
                    counts.plans_before_flip += 1
                    counts.tipped_before_flip += tipped
            if not flipped and torso_up(obs["observation"]) < 0:
                flipped = True
                counts.flipped += 1
            if terminated or truncated or (max_steps is not None and step >= max_steps):
                break
        counts.episodes += 1
        counts.reached += bool(info.get("success", False))
    return counts


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cli import EXECUTOR_FLAG
    from dfplan.planner import PlannerConfig

    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_flips", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a DF AntMaze checkpoint: shipped name or path")
    parser.add_argument("--env", required=True, help="an AntMaze env id, e.g. antmaze-medium-diverse-v2")
    parser.add_argument("--episodes", type=positive_int, default=6)
    parser.add_argument("--seed", type=int, default=1000, help="first seed (selection seeds by default)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--executor", **EXECUTOR_FLAG)
    add_arguments(parser, PlannerConfig, "planner")

    def run(args: argparse.Namespace) -> int:
        import envs
        from benchmarks.cli import load_planner

        if not envs.is_antmaze(args.env):
            raise ValueError(f"{args.env!r} is not an AntMaze env: flips are a body's")
        warnings.filterwarnings("ignore", message=".*standard deviations from the model's training data.*")
        env = envs.make(args.env)
        planner = load_planner(args, env)
        counts = count_plan_flips(planner, env, list(range(args.seed, args.seed + args.episodes)))
        print(json.dumps(asdict(counts)) if args.json else f"{args.env}: {counts.summary()}")
        return 0

    parser.set_defaults(run=run)
    return run_command(parser, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
