"""Search over partially denoised plans: deterministic, never worse than its first candidate, better on average."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import envs
from dfplan.planner import DFPlanner, PlannerConfig
from dfplan.sampler import SamplerConfig, sample
from dfplan.search import SearchConfig, search

SAMPLER = SamplerConfig(num_steps=6, schedule="full_sequence", eta=1.0, guidance_scale=0.5)
WIDE = SearchConfig(width=2, branches=4, branch_points=2)


def upwards(model):
    """Cost: minus the mean planned observation (the walk should climb)."""
    return lambda x0: -model.layout.observations(x0).mean(dim=(1, 2))


def test_search_is_deterministic_for_a_seed(trained_walk_model):
    model, cond = trained_walk_model, torch.zeros(8, 1)
    runs = [search(model, cond, 8, SAMPLER, WIDE, upwards(model), generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    assert torch.equal(runs[0].tokens, runs[1].tokens) and torch.equal(runs[0].cost, runs[1].cost)


def test_search_never_returns_a_plan_worse_than_its_first_candidate(trained_walk_model):
    model, cond = trained_walk_model, torch.zeros(64, 1)
    target = torch.linspace(-1, 1, 64)  # a different target per batch row: each plan is scored against its own

    def cost(x0):
        return (model.layout.observations(x0)[..., 0] - target[:, None]).pow(2).mean(-1)

    found = search(model, cond, 8, SAMPLER, WIDE, cost, generator=torch.Generator().manual_seed(0))
    plain = sample(model, cond, 8, SAMPLER, cost=cost, generator=torch.Generator().manual_seed(0))
    assert torch.equal(found.first_cost, cost(plain))  # the first candidate is the plain sample of the same seed
    assert torch.all(found.cost <= found.first_cost)
    assert torch.allclose(found.cost, cost(found.tokens))
    assert found.cost.mean() < 0.9 * found.first_cost.mean()  # and it finds better plans on average
    assert (~found.chose_first).any()
    assert found.evaluated == 1 + 4 + 2 * 4


def test_children_spread_their_guidance_scale_and_bad_settings_are_refused():
    assert SearchConfig(branches=3, scale_spread=1.0).child_scales(0.5) == [0.0, 0.5, 1.0]
    assert SearchConfig(branches=1).child_scales(0.5) == [0.5]
    for bad in ({"width": -1}, {"branches": 0}, {"branch_points": 0}, {"scale_spread": 1.5}):
        with pytest.raises(ValueError):
            SearchConfig(**bad)
    with pytest.raises(ValueError, match="candidates"):
        PlannerConfig(search=WIDE, candidates=2)
    with pytest.raises(ValueError, match="guidance"):
        PlannerConfig(search=WIDE, guidance="none")


def test_the_planner_plans_with_search_through_the_agent_protocol(tiny_maze_checkpoint):
    env = envs.make("maze2d-umaze-v1")
    config = PlannerConfig(horizon=4, replan_every=5, sampler=SAMPLER, search=WIDE)
    planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config, env=env)
    plain = planner.with_config(dataclasses.replace(config, search=SearchConfig()))
    first, _ = env.reset(seed=0)
    second, _ = env.reset(seed=1)
    obs = {key: np.stack([first[key], second[key]]) for key in first}  # two envs, each with its own goal
    costs = {}
    for name, agent in (("searched", planner), ("plain", plain)):
        agent.reset(seed=0)
        costs[name] = agent.plan(obs).cost
    assert np.all(costs["searched"] <= costs["plain"])  # same seed: the first candidate is the unsearched plan
    planner.reset(seed=0)
    actions = [planner.act(obs) for _ in range(6)]
    assert np.isfinite(actions).all() and np.shape(actions) == (6, 2, 2) and planner.latency_ms()["replan_ms"] > 0
    merged = DFPlanner.load(tiny_maze_checkpoint, device="cpu", search={"width": 1})
    assert merged.config.search == SearchConfig(width=1)
