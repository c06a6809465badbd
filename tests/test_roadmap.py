"""The roadmap agent (learned cost-to-go + PD, no diffusion): reaches goals, meets the agent protocol."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from agents.protocol import Agent
from agents.roadmap import RoadmapAgent, RoadmapConfig
from dfplan.cost_to_go import CostToGo, CostToGoConfig, save_cost_to_go


@pytest.fixture(scope="module")
def umaze_roadmap(umaze_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("roadmap") / "umaze.cost.pt"
    save_cost_to_go(path, CostToGo.fit(umaze_data, CostToGoConfig()))
    return path


@pytest.mark.parametrize("config", [RoadmapConfig(), RoadmapConfig(route="path", keep_off=0.3)], ids=["ring", "path"])
def test_reaches_and_holds_the_goal_on_the_tiny_maze(umaze_roadmap, plain_loop_steps, config):
    agent = RoadmapAgent.load(umaze_roadmap, config)
    env = envs.make("multi2d-umaze-v1")
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        rewards = []
        for _ in range(300):
            obs, reward, *_ = env.step(agent.act(obs))
            rewards.append(reward)
        first = int(np.argmax(rewards))
        assert rewards[first] == 1 and first < 200  # arrives (random actions: ~12 % of episodes)
        assert np.mean(rewards[first:]) > 0.9  # and stays
    assert plain_loop_steps(agent, "maze2d-umaze-v1") == 300


@pytest.mark.parametrize("route", ["ring", "path"])
def test_goes_round_the_wall_not_into_it(umaze_roadmap, route):
    # U-Maze: start bottom left, goal top left, a wall between them: the first move is to the right
    agent = RoadmapAgent.load(umaze_roadmap, RoadmapConfig(route=route))
    maze = envs.get_env_spec("maze2d-umaze-v1").maze
    start, goal = maze.cell_to_xy((3, 1)), maze.cell_to_xy((1, 1))
    target = agent.targets(start[None], goal[None])[0]
    assert target[0] - start[0] > 0.3 and np.linalg.norm(target - start) <= agent.config.lookahead + 1e-5


def test_meets_the_protocol_for_single_and_batched_observations(umaze_roadmap):
    agent = RoadmapAgent.load(umaze_roadmap)
    assert isinstance(agent, Agent)
    batch = {"observation": np.zeros((3, 4)), "desired_goal": np.ones((3, 2)), "achieved_goal": np.zeros((3, 2))}
    assert agent.act(batch).shape == (3, 2)
    action, state = agent.predict({k: v[0] for k, v in batch.items()}, state="s", episode_start=np.array([True]))
    assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1) and state == "s"


def test_sb3_evaluate_policy_runs_it_unchanged(umaze_roadmap):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    vec_env = make_vec_env(lambda: envs.make("maze2d-umaze-v1"), n_envs=2, seed=0)
    mean_return, _ = evaluate_policy(RoadmapAgent.load(umaze_roadmap), vec_env, n_eval_episodes=2)
    assert mean_return > 100  # arrives and holds (random actions: ~36)


def test_bad_input_gets_clear_errors(umaze_roadmap, tmp_path):
    agent = RoadmapAgent.load(umaze_roadmap)
    env = envs.make("maze2d-umaze-v1")
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.act(env.reset(seed=0))
    with pytest.raises(ValueError, match="desired_goal"):
        agent.act(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        agent.act({"observation": np.array([0.0, np.nan, 0.0, 0.0]), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="shape"):
        agent.act({"observation": np.zeros(5), "desired_goal": np.zeros(2)})
    with pytest.raises(FileNotFoundError, match="train-cost"):
        RoadmapAgent.load(tmp_path / "missing.cost.pt")
    with pytest.raises(ValueError, match="lookahead"):
        RoadmapConfig(lookahead=0.0)
    with pytest.raises(ValueError, match="route must be one of"):
        RoadmapConfig(route="straight")
    with pytest.raises(ValueError, match="keep_off"):
        RoadmapConfig(route="path", keep_off=-1.0)
