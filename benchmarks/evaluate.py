"""Evaluate an agent on a suite env and record the row in the results file.

    python -m benchmarks.evaluate --agent oracle --env all --episodes 100

Episode ``i`` resets the env with seed ``seed + i``, so every agent meets the same starts
and goals. With ``batch_size = 1`` the agent is reset with the same seed before each
episode. With ``batch_size = B > 1`` the episodes run ``B`` at a time in lockstep through
one batched ``act`` call (the agent is reset once per batch, seeded with its first
episode's seed) — the same starts, many times faster for planners that batch their
sampling. ``act`` latency is always timed at batch 1: over the episodes themselves when
``batch_size = 1``, else over one extra batch-1 episode (seed ``seed``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import envs
from agents import OracleAgent, RandomAgent
from agents.protocol import Agent
from benchmarks.results import ResultRow, default_results_path, upsert_rows
from dfplan.provenance import command_line, git_commit, versions
from envs.scoring import EpisodeMetrics, episode_metrics

AGENTS: dict[str, Callable[[str, int], Agent]] = {
    "oracle": lambda env_id, seed: _oracle(env_id, seed),
    "random": lambda env_id, seed: _random(env_id, seed),
    "roadmap": lambda env_id, seed: _roadmap(env_id),
}
"""Agents the CLI can build: name -> factory(env_id, seed)."""


def _random(env_id: str, seed: int) -> Agent:
    """Uniform actions: 8 torques on AntMaze (27-number observations), else 2 forces."""
    return RandomAgent(action_dim=8, seed=seed, state_dim=27) if envs.is_antmaze(env_id) else RandomAgent(seed=seed)


def _oracle(env_id: str, seed: int) -> Agent:
    if envs.is_antmaze(env_id):
        from agents.ant_oracle import AntOracleAgent

        return AntOracleAgent(env_id, seed=seed)
    return OracleAgent(env_id, seed=seed)


def _roadmap(env_id: str) -> Agent:
    from benchmarks.registry import BuildRequest, get_agent_spec

    return get_agent_spec("roadmap").build(BuildRequest(env_id, 0)).agent


@dataclass(frozen=True)
class Evaluation:
    """A result row and the per-episode metrics behind it."""

    row: ResultRow
    episodes: list[EpisodeMetrics]


def evaluate(
    agent: Agent,
    env_id: str,
    n_episodes: int = 100,
    seed: int = 0,
    *,
    agent_name: str,
    variant: str = "default",
    train_seeds: list[int] | None = None,
    train_wall_s: float | None = None,
    device: str = "cpu",
    command: str | None = None,
    batch_size: int = 1,
    extra: dict | None = None,
    max_episode_steps: int | None = None,
    traces: list[dict[str, np.ndarray]] | None = None,
) -> Evaluation:
    """Run ``n_episodes`` full episodes of ``env_id`` with ``agent``; return the row and episodes.

    Episode ``i`` uses env reset seed ``seed + i`` (see the module doc for ``batch_size``).
    ``max_episode_steps`` cuts episodes shorter than the suite's (recorded in ``extra.episode_steps``;
    the D4RL-normalized score keeps the suite's constants, so compare such rows by raw return).
    Agents exposing ``latency_ms() -> {"act_ms", "replan_ms"}`` (the planners) report
    their own batch-1 medians, amortized over replans. ``traces`` (when given) receives each
    episode's path (see :func:`run_lockstep`).
    """
    if n_episodes < 1 or batch_size < 1:
        raise ValueError(f"n_episodes and batch_size must be positive, got {n_episodes} and {batch_size}")
    eval_seeds = [seed + i for i in range(n_episodes)]
    suite_steps = envs.get_suite_spec(env_id).maze.episode_steps
    if max_episode_steps is not None and max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
    steps = min(suite_steps, max_episode_steps or suite_steps)
    episodes: list[EpisodeMetrics] = []
    if batch_size == 1:
        act_times: list[float] = []
        for episode_seed in eval_seeds:
            episodes += run_lockstep(agent, env_id, [episode_seed], act_times, steps, traces=traces)
    else:
        for first in range(0, n_episodes, batch_size):
            episodes += run_lockstep(agent, env_id, eval_seeds[first : first + batch_size], None, steps, traces=traces)
        act_times = []
        run_lockstep(agent, env_id, [seed], act_times, steps)
    latency = agent.latency_ms() if hasattr(agent, "latency_ms") else {}
    row = ResultRow(
        env=envs.get_suite_spec(env_id).env_id,
        agent=agent_name,
        variant=variant,
        n_episodes=n_episodes,
        train_seeds=list(train_seeds or []),
        eval_seeds=eval_seeds,
        **episode_summary(episodes),
        act_ms_median=latency.get("act_ms", float(np.median(act_times) * 1e3)),
        replan_ms_median=latency.get("replan_ms"),
        train_wall_s=train_wall_s,
        device=device,
        commit=git_commit(),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=command or "python -c 'benchmarks.evaluate.evaluate(...)'",
        extra={"versions": versions(), "eval_batch_size": batch_size, "hold_rate_mean": hold_rate(episodes),
               "episode_steps": steps,
               **(extra or {})},
    )
    return Evaluation(row, episodes)


def hold_rate(episodes: list[EpisodeMetrics]) -> float | None:
    """Mean fraction of the steps after the first reach spent at the goal (reward 1), over the
    successful episodes (None if none). With the first reach it splits a score gap into
    arriving later and not staying: return = hold rate × (length − first reach + 1)."""
    # reaching the goal on step k (first_reach_step = k) earns that step's reward: k - 1 steps missed
    rates = [e.episode_return / (e.length - max(e.first_reach_step - 1, 0)) for e in episodes if e.success]
    return float(np.mean(rates)) if rates else None


def episode_summary(episodes: list[EpisodeMetrics]) -> dict[str, float | None]:
    """A row's episode statistics: ``score_mean``, ``score_sem``, ``success_rate``,
    ``first_reach_mean`` (over successful episodes; None if none) and ``return_mean``."""
    scores = np.array([e.score for e in episodes])
    reach = [e.first_reach_step for e in episodes if e.success]
    return {
        "score_mean": float(scores.mean()),
        "score_sem": float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0,
        "success_rate": float(np.mean([e.success for e in episodes])),
        "first_reach_mean": float(np.mean(reach)) if reach else None,
        "return_mean": float(np.mean([e.episode_return for e in episodes])),
    }


def run_lockstep(agent: Agent, env_id: str, seeds: list[int], act_times: list[float] | None = None,
                 episode_steps: int | None = None, states: list[np.ndarray] | None = None,
                 traces: list[dict[str, np.ndarray]] | None = None) -> list[EpisodeMetrics]:
    """Run one episode per seed, all envs stepped together through one batched ``act``.

    With a single seed the observation is passed unbatched (batch 1, as a user would).
    ``act_times`` (when given) collects the wall time of every ``act`` call; an agent with
    ``reset_latency`` has its own latency record cleared first, so it reports this run only.
    ``episode_steps``: episode length (default: the suite's). ``states`` (when given) receives
    each episode's observations ``(T + 1, O)``, the reset one first. An env whose episode has
    ended (AntMaze ends at the goal) is stepped no more; its last observation stays in the batch.
    ``traces`` (when given) receives each episode's ``observation`` ``(T + 1, O)``, ``achieved_goal``
    ``(T + 1, 2)`` and ``desired_goal`` ``(2,)`` (see :mod:`benchmarks.trace`).
    """
    batch = len(seeds) > 1
    env_list = [envs.make(env_id, max_episode_steps=episode_steps) for _ in seeds]
    observations = [env.reset(seed=s)[0] for env, s in zip(env_list, seeds, strict=True)]
    agent.reset(seed=seeds[0])
    if act_times is not None and hasattr(agent, "reset_latency"):
        agent.reset_latency()
    rewards = [[] for _ in seeds]
    visited = [[o["observation"]] for o in observations]
    reached = [[o["achieved_goal"]] for o in observations]
    infos: list[dict] = [{} for _ in seeds]
    ended = [False] * len(seeds)
    while not all(ended):
        obs = {key: np.stack([o[key] for o in observations]) for key in observations[0]} if batch else observations[0]
        start = time.perf_counter()
        actions = agent.act(obs)
        if act_times is not None:
            act_times.append(time.perf_counter() - start)
        actions = actions if batch else actions[None]
        for i, env in enumerate(env_list):
            if ended[i]:
                continue
            observations[i], reward, terminated, truncated, infos[i] = env.step(actions[i])
            rewards[i].append(reward)
            visited[i].append(observations[i]["observation"])
            reached[i].append(observations[i]["achieved_goal"])
            ended[i] = terminated or truncated
    for env in env_list:
        env.close()
    if states is not None:
        states += [np.asarray(v) for v in visited]
    if traces is not None:
        traces += [{"observation": np.asarray(v), "achieved_goal": np.asarray(a), "desired_goal": np.asarray(o["desired_goal"])}
                   for v, a, o in zip(visited, reached, observations, strict=True)]
    return [episode_metrics(env_id, r, info["first_reach_step"]) for r, info in zip(rewards, infos, strict=True)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--agent", required=True, choices=sorted(AGENTS))
    parser.add_argument("--env", required=True, help=f"'all' (the Maze2D suite), 'antmaze' or one of "
                        f"{', '.join(envs.ENV_IDS + envs.ANTMAZE_IDS)}")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument(
        "--seed", type=int, default=0, help="first eval seed (episode i uses seed + i)"
    )
    parser.add_argument("--results", type=Path, default=None,
                        help="results file (default: the suite's, results/maze2d/ or results/antmaze/results.json)")
    args = parser.parse_args(argv)
    env_ids = {"all": list(envs.ENV_IDS), "antmaze": list(envs.ANTMAZE_IDS)}.get(args.env, [args.env])
    for env_id in env_ids:
        try:
            envs.get_suite_spec(env_id)
        except ValueError as error:
            parser.error(str(error))
    command = command_line("benchmarks.evaluate", argv)
    for env_id in env_ids:
        start = time.perf_counter()
        result = evaluate(
            AGENTS[args.agent](env_id, args.seed),
            env_id,
            args.episodes,
            args.seed,
            agent_name=args.agent,
            command=command,
        )
        upsert_rows([result.row], args.results or default_results_path(result.row.env))
        row = result.row
        reach = "n/a" if row.first_reach_mean is None else f"{row.first_reach_mean:.1f}"
        print(
            f"{env_id:20s} {args.agent:8s} score {row.score_mean:6.1f} ± {row.score_sem:4.1f}  "
            f"success {row.success_rate:4.0%}  first reach {reach:>6s}  return {row.return_mean:6.1f}  "
            f"act {row.act_ms_median:.3f} ms  ({time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
