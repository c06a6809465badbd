"""The goal-conditioned denoiser: hindsight-goal windows, training, and planning with the goal as input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import envs
from dfplan import cli
from dfplan.data import HindsightGoals, Trajectories
from dfplan.planner import DFPlanner, PlannerConfig
from dfplan.sampler import SamplerConfig
from dfplan.tokens import TokenLayout

LAYOUT = TokenLayout(obs_dim=4, action_dim=2, use_reward=False, frame_stack=2)


def counting_episodes(lengths=(30, 50)) -> Trajectories:
    """Observations whose x is the episode number × 1000 + the step index: a goal tells where it came from."""
    episodes = []
    for e, n in enumerate(lengths):
        obs = np.zeros((n + 1, 4), np.float32)
        obs[:, 0] = 1000 * e + np.arange(n + 1)
        episodes.append({"observations": obs, "actions": np.zeros((n, 2)), "rewards": np.zeros(n)})
    return Trajectories.from_episodes(episodes)


def test_hindsight_goals_come_later_in_the_same_episode_and_repeat_over_the_tokens():
    goals = HindsightGoals(counting_episodes(), LAYOUT, horizon=4, reach=2.0)
    window = goals.sample(256, torch.Generator().manual_seed(0))
    assert window.token_cond.shape == (256, 4, 2)
    assert torch.equal(window.token_cond, window.token_cond[:, :1].expand(-1, 4, -1))
    start = window.cond[:, 0]
    goal = window.token_cond[:, 0, 0]
    ahead = goal - start
    assert torch.all(torch.floor(goal / 1000) == torch.floor(start / 1000))  # same episode
    assert torch.all(ahead >= 0) and torch.all(ahead <= 2 * 4 * 2)  # at most reach × window steps later
    assert (ahead > 8).any()  # sometimes beyond the window


def test_hindsight_goals_refuse_bad_settings():
    with pytest.raises(ValueError, match="goal_dims"):
        HindsightGoals(counting_episodes(), LAYOUT, horizon=4, goal_dims=5)
    with pytest.raises(ValueError, match="reach"):
        HindsightGoals(counting_episodes(), LAYOUT, horizon=4, reach=0)


@pytest.fixture(scope="module")
def goal_checkpoint(umaze_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gc")
    umaze_data.save(folder / "umaze.npz")
    code = cli.main(["train", "--data", str(folder / "umaze.npz"), "--goal-conditioned", "--out", str(folder / "run"),
                     "--device", "cpu", "--model.horizon", "6", "--model.denoiser.width", "32", "--model.denoiser.depth", "1",
                     "--model.denoiser.heads", "2", "--train.steps", "30", "--train.batch_size", "16",
                     "--train.warmup_steps", "5", "--train.checkpoint_every", "30"])
    assert code == 0
    return folder / "run" / "checkpoint.pt"


def test_a_goal_conditioned_model_plans_towards_the_goal_it_is_given(goal_checkpoint):
    config = PlannerConfig(horizon=4, guidance="none", sampler=SamplerConfig(num_steps=3, schedule="full_sequence"))
    planner = DFPlanner.load(goal_checkpoint, device="cpu", config=config)
    assert planner.token_cond == "goal" and planner.model.config.token_cond_dim == 2
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    plans = [planner.plan({**obs, "desired_goal": np.array(goal, np.float32)}).observations
             for goal in ((1.0, 1.0), (-1.0, -1.0))]
    assert not np.allclose(plans[0], plans[1])  # unguided: the goal input alone changes the plan
    planner = planner.with_config(dataclasses.replace(config, history_tokens=1, replan_every=10))
    env = envs.make("maze2d-umaze-v1")
    obs, _ = env.reset(seed=0)
    for _ in range(25):  # replans with a history token: the goal conditions the context too
        obs, *_ = env.step(planner.act(obs))
    with pytest.raises(ValueError, match="desired_goal"):
        planner.act(obs["observation"])


def test_a_model_with_per_token_conditioning_but_no_goal_is_refused(goal_checkpoint):
    model = DFPlanner.load(goal_checkpoint, device="cpu").model
    with pytest.raises(ValueError, match="per-token conditioning"):
        DFPlanner(model, PlannerConfig())
