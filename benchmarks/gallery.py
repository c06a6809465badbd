"""A gallery of sampled DF plans and executed episodes on each maze, from the shipped checkpoints.

    python -m benchmarks.gallery            # results/maze2d/gallery/*.png and one GIF per maze

For every maze and a few fixed seeds: the first plan the planner samples (dashed) over the
episode it then executes (solid), and one episode GIF per maze.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import envs
from dfplan.planner import DFPlanner, resolve_checkpoint
from envs.render import render_gif, render_png


def run_episode(planner: DFPlanner, env_id: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(start, goal, first plan positions (N, 2), executed positions (T+1, 2), success)."""
    env = envs.make(env_id)
    planner.check_env(env)
    obs, _ = env.reset(seed=seed)
    planner.reset(seed=seed)
    start, goal = obs["observation"].copy(), obs["desired_goal"].copy()
    positions, first_plan, info = [start[:2].copy()], None, {}
    while True:
        action = planner.act(obs)
        if first_plan is None:
            first_plan = planner.current_plan()[0][:, :2]
        obs, _, terminated, truncated, info = env.step(action)
        positions.append(obs["observation"][:2].copy())
        if terminated or truncated:
            break
    env.close()
    return start, goal, first_plan, np.array(positions), info.get("first_reach_step", -1) >= 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gallery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/maze2d/gallery"))
    parser.add_argument("--seeds", default="0,1,2", help="episode seeds per maze")
    parser.add_argument("--envs", default="maze2d-umaze-v1,maze2d-medium-v1,maze2d-large-v1,multi2d-large-v1")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for env_id in args.envs.split(","):
        if not resolve_checkpoint(env_id).exists():
            print(f"{env_id}: no shipped checkpoint, skipped")
            continue
        planner = DFPlanner.load(env_id, device=args.device)
        for k, seed in enumerate(int(s) for s in args.seeds.split(",")):
            start, goal, plan, positions, success = run_episode(planner, env_id, seed)
            title = f"{env_id} seed {seed}: {'reached' if success else 'missed'} the goal"
            print(render_png(env_id, args.out / f"{env_id}_seed{seed}.png", agent_xy=start[:2], goal_xy=goal[:2],
                             trajectory=positions, plan=plan, title=title))
            if k == 0:
                print(render_gif(env_id, args.out / f"{env_id}.gif", positions, goal))


if __name__ == "__main__":
    main()
