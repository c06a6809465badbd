"""Waypoint controller, oracle and random agents, and the shared agent protocol."""

import numpy as np
import pytest

import envs
from agents import Agent, OracleAgent, RandomAgent
from envs.controller import grid_path, q_values
from envs.mazes import MAZES


@pytest.mark.parametrize("maze", ["umaze", "medium", "large"])
def test_grid_paths_are_valid_shortest_walks_for_every_pair(maze):
    spec = MAZES[maze]
    for goal in spec.free_cells:
        q_values.cache_clear()
        for start in spec.free_cells:
            path = grid_path(spec, start, goal)
            assert (path[-1] if path else start) == goal
            previous = start
            for cell in path:
                assert spec.is_free(cell), f"path through wall {cell}"
                assert abs(cell[0] - previous[0]) + abs(cell[1] - previous[1]) == 1
                previous = cell
            assert len(path) == len(set(path))  # no revisits


def test_q_values_reject_wall_goal():
    with pytest.raises(ValueError, match="wall"):
        q_values(MAZES["umaze"], (2, 1))


def _run_episode(env, agent, seed):
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    positions = [obs["observation"][:2]]
    while True:
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        positions.append(obs["observation"][:2])
        if terminated or truncated:
            return info, np.array(positions)


@pytest.mark.parametrize("env_id", ["maze2d-umaze-v1", "multi2d-medium-v1"])
def test_oracle_reaches_goal_without_entering_walls(env_id):
    env = envs.make(env_id)
    maze = envs.get_env_spec(env_id).maze
    agent = OracleAgent(env_id)
    for seed in range(3):
        info, positions = _run_episode(env, agent, seed)
        assert info["success"] and info["first_reach_step"] >= 0
        assert not maze.walls[tuple(maze.xy_to_cell(positions).T)].any()


def test_oracle_state_is_fresh_every_episode():
    # D4RL's expert kept its waypoints when the next episode had the same goal; ours must not.
    env = envs.make("maze2d-umaze-v1")
    agent = OracleAgent("maze2d-umaze-v1")
    far = MAZES["umaze"].cell_to_xy((3, 1))
    for _ in range(2):
        obs, _ = env.reset(seed=0, options={"start_xy": far})
        agent.reset(seed=0)
        for _ in range(300):
            obs, _, _, _, info = env.step(agent.act(obs))
        assert info["success"]


def test_oracle_replans_when_a_vector_env_resets_without_episode_start():
    agent = OracleAgent("maze2d-umaze-v1", seed=0)
    maze = MAZES["umaze"]
    obs = {
        "observation": np.array([[*maze.cell_to_xy((3, 1)), 0, 0]]),
        "desired_goal": maze.goal_xy[None],
    }
    agent.act(obs)
    first_plan = agent.waypoints()
    obs["observation"] = np.array([[*maze.cell_to_xy((1, 3)), 0, 0]])
    agent.act(obs)
    assert len(agent.waypoints()) < len(first_plan)


def test_agents_meet_protocol_and_batch_shapes():
    batch = {
        "observation": np.zeros((3, 4)),
        "desired_goal": np.ones((3, 2)),
        "achieved_goal": np.zeros((3, 2)),
    }
    for agent in (OracleAgent("maze2d-umaze-v1", seed=0), RandomAgent(seed=0)):
        assert isinstance(agent, Agent)
        assert agent.act(batch).shape == (3, 2)
        single = {k: v[0] for k, v in batch.items()}
        action = agent.act(single)
        assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
        assert agent.act(np.zeros(4)).shape == (2,)


@pytest.mark.parametrize("agent", [OracleAgent("maze2d-umaze-v1"), RandomAgent()])
def test_obs_info_tuple_gets_clear_error(agent):
    env = envs.make("maze2d-umaze-v1")
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.act(env.reset(seed=0))
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.predict(env.reset(seed=0))


def test_bad_observations_rejected():
    agent = RandomAgent()
    with pytest.raises(ValueError, match="NaN"):
        agent.act(np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros(5))
    with pytest.raises(ValueError, match="observation"):
        agent.act({"desired_goal": np.zeros(2)})


def test_random_agent_is_seeded():
    a, b = RandomAgent(seed=3), RandomAgent(seed=3)
    assert np.array_equal(a.act(np.zeros(4)), b.act(np.zeros(4)))
    a.reset(seed=5)
    b.reset(seed=5)
    assert np.array_equal(a.act(np.zeros(4)), b.act(np.zeros(4)))


def test_sb3_evaluate_policy_works_unchanged():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    vec_env = make_vec_env(lambda: envs.make("maze2d-umaze-v1"), n_envs=2, seed=0)
    mean_return, _ = evaluate_policy(
        OracleAgent("maze2d-umaze-v1", seed=0), vec_env, n_eval_episodes=2
    )
    assert mean_return > 50  # the oracle arrives and holds (random actions: ~36)
