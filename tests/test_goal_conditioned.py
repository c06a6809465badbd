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


def test_goal_rewards_are_relabelled_to_arrival_at_the_hindsight_goal():
    layout = dataclasses.replace(LAYOUT, use_reward=True)
    goals = HindsightGoals(counting_episodes(), layout, horizon=4, reach=1.0, reward_radius=1.5)
    window = goals.sample(128, torch.Generator().manual_seed(0))
    x = layout.observations(window.tokens)[..., 0]  # (B, 8) next positions
    goal = window.token_cond[:, 0, :1]
    expected = ((x - goal).abs() < 1.5).float()  # y is 0 throughout: distance is |x − g|
    assert torch.equal(layout.rewards(window.tokens), expected)
    assert (expected.sum(-1) > 0).all()  # reach 1: every goal lies inside its window, so every window arrives
    assert 0 < goals.trajectories.rewards.mean() < 1  # the normalizer sees relabelled rewards, not the stream's zeros
    with pytest.raises(ValueError, match="reward channel"):
        HindsightGoals(counting_episodes(), LAYOUT, horizon=4, reward_radius=0.5)


def test_goal_values_are_the_discounted_steps_to_the_first_arrival():
    layout = dataclasses.replace(LAYOUT, use_reward=True)
    goals = HindsightGoals(counting_episodes(), layout, horizon=4, reach=3.0, reward_radius=0.5, discount=0.9)
    window = goals.sample(128, torch.Generator().manual_seed(0))
    x = layout.observations(window.tokens)[..., 0]  # (B, 8) next positions: x counts the steps
    goal = window.token_cond[:, 0, :1]
    to_go = goal - x  # steps from each next position to the goal's (radius 0.5 < one step: exact arrival)
    expected = torch.where(to_go >= 0, 0.9 ** to_go.clamp_min(0), torch.zeros(()))  # passed it: never again
    real = window.mask.repeat_interleave(layout.frame_stack, dim=1)
    assert torch.allclose(layout.rewards(window.tokens)[real], expected[real])
    assert (to_go[real] > 8).any()  # goals beyond the window still give a value, where the sparse reward is 0
    assert 0 < goals.trajectories.rewards.mean() < 1
    with pytest.raises(ValueError, match="discount"):
        HindsightGoals(counting_episodes(), layout, horizon=4, discount=0.9)  # a value needs an arrival radius
    with pytest.raises(ValueError, match="discount"):
        HindsightGoals(counting_episodes(), layout, horizon=4, reward_radius=0.5, discount=1.0)


def test_goal_value_flag_trains_a_value_channel_and_refits_only_its_normalizer_from_a_reward_model(
        umaze_data, tmp_path, capsys):
    umaze_data.save(tmp_path / "umaze.npz")
    tiny = ["--data", str(tmp_path / "umaze.npz"), "--device", "cpu", "--model.horizon", "6", "--model.denoiser.width", "32",
            "--model.denoiser.depth", "1", "--model.denoiser.heads", "2", "--train.steps", "10", "--train.batch_size", "8",
            "--train.warmup_steps", "2", "--train.checkpoint_every", "10", "--goal-conditioned"]
    assert cli.main(["train", *tiny, "--goal-value", "0.99", "--out", str(tmp_path / "a")]) != 0
    assert "add --goal-reward" in capsys.readouterr().err
    assert cli.main(["train", *tiny, "--goal-reward", "0.5", "--out", str(tmp_path / "sparse")]) == 0
    sparse = tmp_path / "sparse" / "checkpoint.pt"
    assert cli.main(["train", *tiny, "--goal-reward", "0.5", "--goal-value", "0.99", "--hindsight-reach", "4",
                     "--train.init_from", str(sparse), "--train.init_refit_rewards", "true",
                     "--out", str(tmp_path / "value")]) == 0
    before = DFPlanner.load(sparse, device="cpu", guidance="none").model.normalizer
    planner = DFPlanner.load(tmp_path / "value" / "checkpoint.pt", device="cpu", guidance="none")
    after = planner.model.normalizer
    assert planner.meta["reward"] == {"kind": "hindsight-goal-value", "radius": 0.5, "discount": 0.99}
    assert planner.meta["hindsight_reach"] == 4.0
    channel = planner.layout.action_dim
    keep = [i for i in range(len(after.step_loc)) if i != channel]
    assert torch.equal(after.step_loc[keep], before.step_loc[keep])  # the source's units, but for the rewards
    assert after.step_loc[channel] != before.step_loc[channel]  # refit on the values
    assert cli.main(["train", *tiny, "--train.init_refit_rewards", "true", "--out", str(tmp_path / "b")]) != 0
    assert "set init_from" in capsys.readouterr().err
    plain = [arg for arg in tiny if arg != "--goal-conditioned"]
    assert cli.main(["train", *plain, "--hindsight-reach", "4", "--out", str(tmp_path / "c")]) != 0
    assert "add --goal-conditioned" in capsys.readouterr().err
    plain += ["--model.layout.use_reward", "false"]
    assert cli.main(["train", *plain, "--out", str(tmp_path / "plain")]) == 0  # no reward channel to refit
    assert cli.main(["train", *plain, "--train.init_from", str(tmp_path / "plain" / "checkpoint.pt"),
                     "--train.init_refit_rewards", "true", "--out", str(tmp_path / "d")]) != 0
    assert "needs a model with the reward channel" in capsys.readouterr().err


def test_goal_reward_flag_trains_a_reward_channel_and_needs_goal_conditioning(umaze_data, tiny_maze_checkpoint, tmp_path, capsys):
    umaze_data.save(tmp_path / "umaze.npz")
    tiny = ["--device", "cpu", "--model.horizon", "6", "--model.denoiser.width", "32", "--model.denoiser.depth", "1",
            "--model.denoiser.heads", "2", "--train.steps", "10", "--train.batch_size", "8", "--train.warmup_steps", "2",
            "--train.checkpoint_every", "10"]
    assert cli.main(["train", "--data", str(tmp_path / "umaze.npz"), "--goal-reward", "0.5", "--out", str(tmp_path / "a"),
                     *tiny]) != 0
    assert "add --goal-conditioned" in capsys.readouterr().err
    assert cli.main(["train", "--data", str(tmp_path / "umaze.npz"), "--goal-conditioned", "--goal-reward", "0.5",
                     "--out", str(tmp_path / "run"), *tiny]) == 0
    env = envs.make("maze2d-umaze-v1")
    planner = DFPlanner.load(tmp_path / "run" / "checkpoint.pt", device="cpu", env=env,
                             config=PlannerConfig(horizon=4, guidance="goal", reward_weight=1.0,
                                                  sampler=SamplerConfig(num_steps=3, schedule="full_sequence")))
    assert planner.layout.use_reward and planner.meta["reward"] == {"kind": "hindsight-goal", "radius": 0.5}
    obs, _ = env.reset(seed=0)
    plan = planner.plan(obs)
    assert plan.rewards.shape == plan.observations.shape[:2] and np.isfinite(plan.cost).all()
    with pytest.raises(ValueError, match="reward channel"):  # a model without one cannot be reward-guided
        DFPlanner.load(tiny_maze_checkpoint, device="cpu", reward_weight=1.0)
