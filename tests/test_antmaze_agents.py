"""AntMaze agents and plumbing: the oracle (waypoints + walker), random, lockstep evaluation, the suite."""

import dataclasses

import gymnasium
import numpy as np
import pytest
import torch

import envs
from agents.ant_oracle import AntOracleAgent
from benchmarks import evaluate as evaluate_module
from benchmarks import run as run_module
from benchmarks.variants import DF_WALKER
from envs.ant_walker import WALKER_ENV, AntWalker, mlp


@pytest.fixture(scope="module")
def walker_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("walker") / "walker.pt"
    AntWalker(mlp([29, 16, 8]), {"budget": "untrained", "goal_max": 5.0}).save(path)
    return path


def test_oracle_acts_in_a_plain_loop_until_the_episode_ends(walker_file, plain_loop_steps):
    agent = AntOracleAgent("antmaze-umaze-v2", walker=walker_file, seed=0)
    assert plain_loop_steps(agent, "antmaze-umaze-v2", action_dim=8) <= 700
    maze = envs.get_antmaze_spec("antmaze-umaze-v2").maze
    assert maze.is_free(tuple(maze.xy_to_cell(agent._controllers[0].waypoint)))


def test_the_walker_is_shown_its_waypoint_at_most_reach_away(walker_file):
    from envs.ant_controller import WALKER_REACH, AntWaypointController

    walker = AntWalker.load(walker_file)
    maze = envs.get_antmaze_spec("antmaze-umaze-v2").maze
    obs, _ = envs.make("antmaze-umaze-v2").reset(seed=0)
    body, xy, goal = obs["observation"], obs["achieved_goal"], obs["desired_goal"]
    near = AntWaypointController(maze, walker, seed=0)
    far = AntWaypointController(maze, walker, seed=0, reach=None)
    to_waypoint = far.target(xy, goal) - xy  # the first waypoint: the next cell's centre, ~4 away
    assert np.linalg.norm(to_waypoint) > 2 * WALKER_REACH
    shown = to_waypoint * WALKER_REACH / np.linalg.norm(to_waypoint)
    np.testing.assert_allclose(near.act(body, xy, goal), walker.act(body, shown), atol=1e-6)
    np.testing.assert_allclose(far.act(body, xy, goal), walker.act(body, to_waypoint), atol=1e-6)
    with pytest.raises(ValueError, match="reach"):
        AntWaypointController(maze, walker, reach=0.0)


def test_oracle_batches_take_dicts_or_d4rl_flat_states_and_match_single_calls(walker_file):
    agent = AntOracleAgent("antmaze-medium-play-v2", walker=walker_file, seed=0)
    env = envs.make("antmaze-medium-play-v2")
    observations = [env.reset(seed=s)[0] for s in range(3)]
    batch = {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    actions = agent.act(batch)
    assert actions.shape == (3, 8)
    single = AntOracleAgent("antmaze-medium-play-v2", walker=walker_file, seed=0)
    np.testing.assert_allclose(single.act(observations[0]), actions[0], atol=1e-6)  # env 0 draws the same jitter
    flat = np.concatenate([observations[0]["achieved_goal"], observations[0]["observation"]])
    fresh = AntOracleAgent("antmaze-medium-play-v2", walker=walker_file, seed=0)
    assert fresh.act(flat).shape == (8,)  # no goal given: the env's fixed goal cell


def test_oracle_works_with_sb3_evaluate_policy(walker_file):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([lambda: gymnasium.wrappers.TimeLimit(envs.make("antmaze-umaze-v2").unwrapped, 50)])
    mean, _ = evaluate_policy(AntOracleAgent("antmaze-umaze-v2", walker=walker_file), vec, n_eval_episodes=2)
    assert 0.0 <= mean <= 1.0


def test_bad_observations_and_missing_walkers_get_clear_errors(walker_file, tmp_path, monkeypatch):
    agent = AntOracleAgent("antmaze-umaze-v2", walker=walker_file)
    with pytest.raises(ValueError, match=r"shape \(27,\)"):
        agent.act({"observation": np.zeros(4), "achieved_goal": np.zeros(2), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="achieved_goal"):
        agent.act({"observation": np.zeros(27), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="NaN"):
        agent.act({"observation": np.full(27, np.nan), "achieved_goal": np.zeros(2), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match=r"shape \(29,\)"):
        agent.act(np.zeros(27))
    monkeypatch.setenv(WALKER_ENV, str(tmp_path / "none.pt"))
    with pytest.raises(FileNotFoundError, match="train-walker"):
        AntOracleAgent("antmaze-umaze-v2")
    with pytest.raises(ValueError, match="antmaze-umaze-v2"):
        AntOracleAgent("maze2d-umaze-v1", walker=walker_file)


def test_random_agent_acts_with_eight_torques_and_scores_success_times_100():
    result = evaluate_module.evaluate(evaluate_module.AGENTS["random"]("antmaze-umaze-v2", 0), "antmaze-umaze-v2",
                                      n_episodes=1, agent_name="random")
    row = result.row
    assert row.env == "antmaze-umaze-v2" and row.score_mean == 100.0 * row.success_rate
    assert result.episodes[0].length == 700


class _EndsAt(gymnasium.Env):
    """A stand-in env that terminates after ``seed + 2`` steps."""

    observation_space = gymnasium.spaces.Dict({"observation": gymnasium.spaces.Box(-1, 1, (27,)),
                                               "achieved_goal": gymnasium.spaces.Box(-1, 1, (2,)),
                                               "desired_goal": gymnasium.spaces.Box(-1, 1, (2,))})
    action_space = gymnasium.spaces.Box(-1, 1, (8,))
    steps_taken: list = []  # noqa: RUF012 (shared by the test's instances)

    def reset(self, *, seed=None, options=None):
        self.end, self.t = seed + 2, 0
        return {"observation": np.zeros(27), "achieved_goal": np.zeros(2), "desired_goal": np.zeros(2)}, {}

    def step(self, action):
        self.t += 1
        _EndsAt.steps_taken.append(self.end)
        done = self.t >= self.end
        obs = {"observation": np.zeros(27), "achieved_goal": np.zeros(2), "desired_goal": np.zeros(2)}
        return obs, float(done), done, False, {"first_reach_step": self.t if done else -1}


def test_lockstep_batches_step_each_env_until_its_own_episode_ends(monkeypatch):
    monkeypatch.setattr(evaluate_module.envs, "make", lambda env_id, **kwargs: _EndsAt())
    _EndsAt.steps_taken = []
    agent = evaluate_module.AGENTS["random"]("antmaze-umaze-v2", 0)
    episodes = evaluate_module.run_lockstep(agent, "antmaze-umaze-v2", [1, 4, 2])
    assert [e.length for e in episodes] == [3, 6, 4]
    assert all(e.success and e.episode_return == 1.0 for e in episodes)
    assert sorted(_EndsAt.steps_taken) == sorted([3] * 3 + [6] * 6 + [4] * 4)


def test_the_antmaze_suite_runs_its_agents_and_refuses_others(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_module.main(["--suite", "antmaze", "--agents", "sac-her", "--results", str(tmp_path / "r.json")])
    assert "cannot run on the antmaze suite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_module.main(["--suite", "antmaze", "--agents", "random", "--envs", "maze2d-umaze-v1",
                         "--results", str(tmp_path / "r.json")])
    assert "not in the antmaze suite" in capsys.readouterr().err
    assert run_module.default_agents("antmaze") == ("df", "iql", "roadmap", "oracle", "random")


@pytest.fixture(scope="module")
def ant_cost_file(walker_file, tmp_path_factory):
    """A cost-to-go fitted on a few collected AntMaze episodes (torso positions first)."""
    from agents.datasets import to_trajectories
    from dfplan.cost_to_go import CostToGoConfig, fit_cost_to_go
    from envs import ant_collect
    from envs.data import MazeArrays

    spec = envs.get_antmaze_spec("antmaze-umaze-diverse-v2")
    config = ant_collect.AntCollectConfig(steps=200, episode_steps=50, shard_steps=200)
    shard = ant_collect.collect_shard(spec, AntWalker.load(walker_file), config, 0)
    states = np.concatenate([shard["xy"], shard["body"]], axis=-1)  # (E, T + 1, 29)
    arrays = MazeArrays("test", states[:, :-1].reshape(-1, 29), shard["actions"].reshape(-1, 8),
                        np.zeros(200, np.float32), states[:, 1:].reshape(-1, 29), np.zeros((200, 2), np.float32),
                        np.zeros(200, bool), np.zeros(200, bool))
    path = tmp_path_factory.mktemp("cost") / "antmaze.cost.pt"
    fit_cost_to_go(to_trajectories(arrays), CostToGoConfig(spacing=0.8, neighbour_radius=1.2, min_visits=1), path)
    return path


def test_ant_roadmap_walks_along_the_learned_route_and_meets_the_protocol(ant_cost_file, walker_file):
    from agents.roadmap import AntRoadmapAgent

    agent = AntRoadmapAgent.load(ant_cost_file, walker=walker_file)
    env = envs.make("antmaze-umaze-v2")
    obs, _ = env.reset(seed=0)
    action = agent.act(obs)
    assert action.shape == (8,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
    target = agent.targets(obs["achieved_goal"][None], obs["desired_goal"][None])[0]
    assert 0 < np.linalg.norm(target - obs["achieved_goal"]) <= agent.config.lookahead + 1e-5  # 1.0 along the route
    assert agent.config.route == "path"
    batch = {key: np.stack([obs[key], obs[key]]) for key in obs}
    np.testing.assert_allclose(agent.act(batch), np.stack([action, action]), atol=1e-6)
    with pytest.raises(ValueError, match="desired_goal"):
        agent.act(np.concatenate([obs["achieved_goal"], obs["observation"]]))
    with pytest.raises(ValueError, match=r"shape \(27,\)"):
        agent.act({**obs, "observation": np.zeros(4)})
    with pytest.raises(FileNotFoundError, match="train-cost"):
        AntRoadmapAgent.load(ant_cost_file.with_name("none.cost.pt"), walker=walker_file)


def _tiny_ant_model(walker_file, folder, delta_dims=0):
    """A tiny DF model of D4RL's ant state and 8 torques, trained a few steps on collected episodes."""
    from dfplan.data import Trajectories
    from dfplan.denoisers import DenoiserConfig
    from dfplan.model import ModelConfig
    from dfplan.tokens import TokenLayout
    from dfplan.training import TrainConfig, train
    from envs import ant_collect

    spec = envs.get_antmaze_spec("antmaze-umaze-diverse-v2")
    config = ant_collect.AntCollectConfig(steps=400, episode_steps=100, shard_steps=400)
    shard = ant_collect.collect_shard(spec, AntWalker.load(walker_file), config, 0)
    states = np.concatenate([shard["xy"], shard["body"]], axis=-1).astype(np.float32)  # (E, T + 1, 29)
    data = Trajectories(observations=states.reshape(-1, 29), actions=shard["actions"].reshape(-1, 8),
                        rewards=np.zeros(400, np.float32), episode_lengths=np.full(4, 100))
    layout = TokenLayout(obs_dim=29, action_dim=8, use_reward=False, frame_stack=5, delta_dims=delta_dims)
    model = ModelConfig(layout=layout, horizon=4, denoiser=DenoiserConfig(backbone="transformer", width=32, depth=1,
                                                                          heads=2))
    train(model, TrainConfig(steps=20, batch_size=8, warmup_steps=2, checkpoint_every=20, device="cpu"), data,
          folder, progress=False)
    return folder / "checkpoint.pt"


@pytest.fixture(scope="module")
def ant_df_checkpoint(walker_file, tmp_path_factory):
    return _tiny_ant_model(walker_file, tmp_path_factory.mktemp("ant_df"))


def _ant_planner(checkpoint, env=None):
    import warnings

    from dfplan import DFPlanner

    warnings.filterwarnings("ignore", message=".*standard deviations from the model's training data.*")
    return DFPlanner.load(checkpoint, env=env, action_mode="diffused", guidance="goal", velocity_weight=0.0,
                          horizon=4)


def test_df_planner_acts_with_the_models_own_torques_in_an_ant_env(ant_df_checkpoint):
    env = envs.make("antmaze-umaze-v2")
    planner = _ant_planner(ant_df_checkpoint, env)  # the env's 27 + achieved_goal's 2 = the model's 29
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    for _ in range(12):  # past a replan
        action = planner.act(obs)
        assert action.shape == (8,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
        obs, _, terminated, truncated, _ = env.step(action)
        assert not (terminated or truncated)
    plan = planner.plan(obs)
    assert plan.observations.shape[-1] == 29


def test_df_planner_on_an_ant_env_works_with_sb3_evaluate_policy(ant_df_checkpoint):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([lambda: gymnasium.wrappers.TimeLimit(envs.make("antmaze-umaze-v2").unwrapped, 20)] * 2)
    mean, _ = evaluate_policy(_ant_planner(ant_df_checkpoint), vec, n_eval_episodes=2)
    assert 0.0 <= mean <= 1.0


def test_df_planner_rejects_an_observation_of_the_wrong_size_for_its_checkpoint(ant_df_checkpoint):
    planner = _ant_planner(ant_df_checkpoint)
    point = envs.make("maze2d-umaze-v1").reset(seed=0)[0]  # a point-mass observation for an ant model
    with pytest.raises(ValueError, match=r"shape \(29,\)"):
        planner.act(point)
    with pytest.raises(ValueError, match="NaN"):
        planner.act({"observation": np.full(27, np.nan), "achieved_goal": np.zeros(2), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="observations of size 29 and actions of size 8; this env has 4 and 2"):
        _ant_planner(ant_df_checkpoint, envs.make("maze2d-umaze-v1"))


def test_the_antmaze_suite_evaluates_df_and_the_roadmap_from_each_envs_shipped_files(
        ant_df_checkpoint, ant_cost_file, walker_file, tmp_path, monkeypatch, capsys):
    import json
    import shutil

    from benchmarks import cli
    from dfplan.planner import resolve_checkpoint

    monkeypatch.setenv("DFPLAN_CHECKPOINT_DIR", str(tmp_path / "ship"))
    monkeypatch.setenv(WALKER_ENV, str(walker_file))
    env_id = "antmaze-umaze-v2"
    shipped = resolve_checkpoint(env_id)
    assert shipped == tmp_path / "ship" / f"{env_id}.pt"  # one checkpoint per AntMaze env
    assert cli.main(["ship", "--run", str(ant_df_checkpoint), "--env", env_id, "--planner.action_mode", "diffused",
                     "--planner.guidance", "goal", "--planner.velocity_weight", "0", "--planner.horizon", "4"]) == 0
    shutil.copyfile(ant_cost_file, shipped.with_suffix(".cost.pt"))
    results = tmp_path / "results.json"
    run_module.main(["--suite", "antmaze", "--agents", "df,df/walker,roadmap,oracle", "--envs", env_id, "--episodes",
                     "1", "--workers", "0", "--no-progress", "--no-report", "--results", str(results)])
    assert "beside the committed rows (results/antmaze/results.json)" in capsys.readouterr().out
    rows = {row["agent"] + ("" if row["variant"] == "default" else "/" + row["variant"]): row
            for row in json.loads(results.read_text())}
    assert set(rows) == {"df", "df/walker", "roadmap", "oracle"} and all(row["env"] == env_id for row in rows.values())
    assert rows["oracle"]["extra"]["walker"]["budget"] == "untrained" and rows["oracle"]["extra"]["walker_reach"] > 0
    assert rows["df"]["extra"]["planner"]["action_mode"] == "diffused"
    walked = rows["df/walker"]["extra"]  # the same shipped plans, walked by the walker the lead ahead
    assert walked["executor"] == "walker" and walked["walker"]["budget"] == "untrained"
    assert walked["planner"]["action_mode"] == "inverse" and walked["planner"]["inverse_lead"] == DF_WALKER["inverse_lead"]
    assert rows["roadmap"]["extra"]["roadmap"]["route"] == "path" and rows["roadmap"]["extra"]["walker"]["budget"] == "untrained"
    shipped.with_suffix(".cost.pt").unlink()
    code = run_module.main(["--suite", "antmaze", "--agents", "roadmap", "--envs", env_id, "--episodes", "1",
                            "--workers", "0", "--no-progress", "--no-report", "--rerun", "--results", str(results)])
    assert code != 0 and "no cost-to-go file" in capsys.readouterr().err


def test_iql_trains_on_ant_episodes_and_acts_with_eight_torques(walker_file, tmp_path):
    pytest.importorskip("d3rlpy")
    import json
    import shutil

    from agents import offline_rl
    from dfplan.checkpoint import CheckpointError
    from dfplan.data import Trajectories
    from envs import ant_collect

    spec = envs.get_antmaze_spec("antmaze-umaze-diverse-v2")
    config = ant_collect.AntCollectConfig(steps=200, episode_steps=50, shard_steps=200)
    shard = ant_collect.collect_shard(spec, AntWalker.load(walker_file), config, 0)
    states = np.concatenate([shard["xy"], shard["body"]], axis=-1).astype(np.float32)
    data = Trajectories(observations=states.reshape(-1, 29), actions=shard["actions"].reshape(-1, 8),
                        rewards=np.zeros(200, np.float32), episode_lengths=np.full(4, 50))
    path = offline_rl.train("antmaze-umaze-diverse-v2", "quick", 0, tmp_path / "run", data=data, progress=False,
                            max_steps=10)
    agent = offline_rl.OfflineRLAgent.load(path)
    obs, _ = envs.make("antmaze-umaze-diverse-v2").reset(seed=0)
    action = agent.act(obs)
    assert action.shape == (8,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
    assert agent.act({key: np.stack([value] * 3) for key, value in obs.items()}).shape == (3, 8)
    with pytest.raises(ValueError, match=r"shape \(27,\)"):
        agent.act({**obs, "observation": np.zeros(4)})
    meta = json.loads(path.with_suffix(".json").read_text())
    shutil.copy(path, tmp_path / "mislabelled.d3")  # ant weights under a Maze2D env's metadata
    (tmp_path / "mislabelled.json").write_text(json.dumps({**meta, "env": "maze2d-umaze-v1"}))
    with pytest.raises(CheckpointError, match=r"expected iql on \(6,\) -> 2"):
        offline_rl.OfflineRLAgent.load(tmp_path / "mislabelled.d3")


def test_upright_weight_adds_the_tipped_body_penalty_to_the_planners_guidance_cost(ant_df_checkpoint):
    from dfplan import DFPlanner
    from dfplan.costs import upright_cost

    planner = DFPlanner.load(ant_df_checkpoint, action_mode="diffused", guidance="none", horizon=4)
    start = torch.zeros(1, 29)
    assert planner._cost(None, start) is None  # no guidance at all
    steps = planner.layout.frame_stack * 2  # two tokens of env steps
    obs = torch.zeros(1, steps, 29)
    obs[0, :, 3] = 1.0  # upright ...
    obs[0, steps // 2 :, 3:5] = torch.tensor([0.0, 1.0])  # ... then on its back
    tokens = planner.layout.to_tokens(torch.zeros(1, steps, 8), None, obs)
    tipped = upright_cost(planner.layout, 3)(tokens)
    assert tipped.item() > 0
    upright = planner.with_config(dataclasses.replace(planner.config, upright_weight=2.0))
    assert torch.allclose(upright._cost(None, start)(tokens), 2.0 * tipped)
    goal = torch.tensor([[4.0, 0.0]])
    both = planner.with_config(dataclasses.replace(planner.config, guidance="goal", upright_weight=2.0))
    plain = planner.with_config(dataclasses.replace(planner.config, guidance="goal"))
    assert torch.allclose(both._cost(goal, start)(tokens), plain._cost(goal, start)(tokens) + 2.0 * tipped)


def test_anchor_weight_adds_the_first_planned_positions_distance_from_the_state_to_the_cost(ant_df_checkpoint):
    from dfplan import DFPlanner
    from dfplan.costs import anchor_cost

    planner = DFPlanner.load(ant_df_checkpoint, action_mode="diffused", guidance="goal", velocity_weight=0.0,
                             horizon=4)
    steps = planner.layout.frame_stack * 2
    obs = torch.zeros(2, steps, 29)
    obs[:, 0, :2] = torch.tensor([[3.0, 4.0], [1.0, 2.0]])  # the first planned (x, y); later steps anywhere
    obs[:, 1:, :2] = 7.0
    obs[:, 0, 2] = 9.0  # an entry past anchor_dims: not anchored
    tokens = planner.layout.to_tokens(torch.zeros(2, steps, 8), None, obs).requires_grad_(True)
    start = torch.zeros(2, 29)
    anchored = anchor_cost(planner.layout, start, 2)(tokens)
    assert torch.allclose(anchored, torch.tensor([25.0, 5.0]))
    (grad,) = torch.autograd.grad(anchored.sum(), tokens)  # only the first planned state's (x, y) is pulled
    assert torch.count_nonzero(grad).item() == 4
    goal = torch.tensor([[4.0, 0.0], [4.0, 0.0]])
    both = planner.with_config(dataclasses.replace(planner.config, anchor_weight=3.0))
    assert torch.allclose(both._cost(goal, start)(tokens), planner._cost(goal, start)(tokens) + 3.0 * anchored)
    with pytest.raises(ValueError, match="anchor_dims=30 exceeds"):
        planner.with_config(dataclasses.replace(planner.config, anchor_weight=1.0, anchor_dims=30))
    with pytest.raises(ValueError, match="anchor_weight must be >= 0"):
        dataclasses.replace(planner.config, anchor_weight=-1.0)


def test_upright_guidance_refuses_an_observation_without_room_for_a_quaternion(tiny_maze_checkpoint):
    from dfplan import DFPlanner

    with pytest.raises(ValueError, match="does not fit observations of size 4"):
        DFPlanner.load(tiny_maze_checkpoint, device="cpu", upright_weight=1.0)
    with pytest.raises(ValueError, match="upright_weight and upright_quat_at must be >= 0"):
        DFPlanner.load(tiny_maze_checkpoint, device="cpu", upright_weight=-1.0)


def test_plan_flips_counts_the_plans_made_before_and_after_a_flip(ant_df_checkpoint):
    from benchmarks.plan_flips import count_plan_flips

    env = envs.make("antmaze-umaze-v2")
    planner = _ant_planner(ant_df_checkpoint, env)
    assert planner.current_plan() == []
    counts = count_plan_flips(planner, env, [0, 1], max_steps=25)  # replans every 10 steps: 3 plans an episode
    assert counts.episodes == 2 and counts.plans == 6 and planner.current_plan()[0].shape[-1] == 29
    assert counts.plans_before_flip <= counts.plans and counts.tipped_before_flip <= counts.tipped <= counts.plans
    assert counts.flipped <= 2 and "plans made before the ant's first flip" in counts.summary()
    assert counts.replans == counts.plans - counts.episodes and 0 <= counts.swings <= counts.replans


def test_a_replan_swings_the_aim_when_the_new_plans_point_lead_steps_ahead_lies_in_another_direction():
    from benchmarks.plan_flips import SWING_ANGLE, aim_swing

    east = np.stack([np.arange(30) * 0.1, np.zeros(30)], -1)  # a plan walking east at 0.1 a step
    here = np.zeros(2)
    assert aim_swing(east, east[5:], here, since=5, lead=10) == pytest.approx(0.0)  # the same route: no swing
    north = np.stack([np.zeros(30), np.arange(30) * 0.1], -1)
    assert aim_swing(east, north, here, since=5, lead=10) == pytest.approx(np.pi / 2) and np.pi / 2 > SWING_ANGLE
    assert aim_swing(east, -east, here, since=29, lead=10) == pytest.approx(np.pi)  # past the old plan's end: its last point


def _walker_planner(checkpoint, walker_file, env=None, **overrides):
    import warnings

    from agents.df_walker import load_df_walker

    warnings.filterwarnings("ignore", message=".*standard deviations from the model's training data.*")
    return load_df_walker(checkpoint, "cpu", env=env, walker=walker_file, guidance="goal", velocity_weight=0.0,
                          horizon=4, inverse_lead=7, **overrides)


def test_df_walker_walks_the_ant_towards_the_planned_position_inverse_lead_steps_ahead(ant_df_checkpoint, walker_file):
    from envs.ant_controller import WALKER_REACH

    env = envs.make("antmaze-umaze-v2")
    planner, walker = _walker_planner(ant_df_checkpoint, walker_file, env), AntWalker.load(walker_file)
    assert planner.config.action_mode == "inverse" and planner.config.pd_near == 0.0
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    for step in range(12):  # 4 tokens x frame_stack 5 = 20 planned steps; replans every 10
        action = planner.act(obs)
        plan, index = planner.current_plan()[0], step % planner.config.replan_every
        target = plan[min(index + planner.config.inverse_lead - 1, len(plan) - 1), :2]
        expected = walker.act(obs["observation"], target - obs["achieved_goal"], reach=WALKER_REACH)
        assert action.shape == (8,) and action.dtype == np.float32
        np.testing.assert_allclose(action, expected, atol=1e-5)
        obs, *_ = env.step(action)


def test_df_walker_in_pursuit_aims_lookahead_ahead_along_the_planned_path(ant_df_checkpoint, walker_file):
    from dfplan.planner import pursuit_index
    from envs.ant_controller import WALKER_REACH

    env = envs.make("antmaze-umaze-v2")
    planner = _walker_planner(ant_df_checkpoint, walker_file, env, action_mode="pursuit", lookahead=0.3)
    walker = AntWalker.load(walker_file)
    assert planner.config.action_mode == "pursuit" and planner.config.pursuit_dims == 2
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    progress = 0
    for step in range(12):
        action = planner.act(obs)
        plan = planner.current_plan()[0]
        progress = 0 if step % planner.config.replan_every == 0 else progress  # a new plan is followed from its start
        ahead, progress = pursuit_index(plan[:, :2], obs["achieved_goal"], 0.3, progress)
        expected = walker.act(obs["observation"], plan[ahead, :2] - obs["achieved_goal"], reach=WALKER_REACH)
        np.testing.assert_allclose(action, expected, atol=1e-5)
        obs, *_ = env.step(action)
    with pytest.raises(ValueError, match="'inverse' or 'pursuit'"):
        _walker_planner(ant_df_checkpoint, walker_file, env, action_mode="pd")


def test_df_walker_refuses_a_model_that_does_not_plan_an_ant_and_bad_states(tiny_maze_checkpoint, ant_df_checkpoint,
                                                                            walker_file):
    from agents.df_walker import WalkerHead, load_df_walker

    with pytest.raises(ValueError, match="the walker walks an ant"):
        load_df_walker(tiny_maze_checkpoint, "cpu", walker=walker_file)
    head = WalkerHead(AntWalker.load(walker_file))
    with pytest.raises(ValueError, match=r"\(B, 29\) ant states"):
        head.act(np.zeros((1, 29)), np.zeros((1, 4)), 1)
    with pytest.raises(ValueError, match="reach must be positive"):
        WalkerHead(head.walker, reach=0.0)
    with pytest.raises(FileNotFoundError):
        _walker_planner(ant_df_checkpoint, walker_file.parent / "missing.pt")


def test_eval_with_the_walker_as_executor_records_it_on_the_row(ant_df_checkpoint, walker_file, tmp_path, monkeypatch):
    import json
    import warnings

    from benchmarks import cli

    warnings.filterwarnings("ignore", message=".*standard deviations from the model's training data.*")
    monkeypatch.setenv(WALKER_ENV, str(walker_file))
    results = tmp_path / "results.json"
    assert cli.main(["eval", "--checkpoint", str(ant_df_checkpoint), "--env", "antmaze-umaze-v2", "--episodes", "1",
                     "--episode-steps", "15", "--executor", "walker", "--device", "cpu", "--results", str(results),
                     "--variant", "walker", "--planner.horizon", "4", "--planner.guidance", "goal"]) == 0
    (row,) = json.loads(results.read_text())
    assert row["variant"] == "walker" and row["extra"]["executor"] == "walker"
    assert row["extra"]["planner"]["action_mode"] == "inverse"


def test_plan_fit_measures_how_far_the_first_planned_position_lies_from_the_state(ant_df_checkpoint):
    from benchmarks.plan_fit import plan_fit

    env = envs.make("antmaze-umaze-v2")
    planner = _ant_planner(ant_df_checkpoint, env)
    obs = [env.reset(seed=seed)[0] for seed in (0, 1, 2)]
    states = np.stack([np.concatenate([o["achieved_goal"], o["observation"]]) for o in obs])
    goals = np.stack([o["desired_goal"] for o in obs])
    planner.reset(seed=0)
    fit = plan_fit(planner, states, goals)
    planner.reset(seed=0)
    plan = planner.plan({"observation": states[:, 2:], "achieved_goal": states[:, :2], "desired_goal": goals})
    first = np.linalg.norm(plan.observations[:, 0, :2] - states[:, :2], axis=-1)
    assert fit.plans == 3 and fit.first_error_median == pytest.approx(np.median(first), rel=1e-5)
    assert fit.first_error_median <= fit.first_error_p90 and fit.largest_step_median <= fit.largest_step_p90
    assert "first planned position" in fit.summary()
    with pytest.raises(ValueError, match=r"states \(N, O\) and goals"):
        plan_fit(planner, states, goals[:2])


def test_plan_fit_refuses_an_env_without_an_ant(ant_df_checkpoint, capsys):
    from benchmarks.plan_fit import main

    assert main(["--checkpoint", str(ant_df_checkpoint), "--env", "maze2d-umaze-v1"]) == 2
    assert "is not an AntMaze env" in capsys.readouterr().err


def test_a_displacement_model_plans_positions_from_where_the_ant_is_and_is_guided_on_them(walker_file,
                                                                                        tmp_path):
    from dfplan import DFPlanner
    from dfplan.costs import goal_cost

    checkpoint = _tiny_ant_model(walker_file, tmp_path, delta_dims=2)
    env = envs.make("antmaze-umaze-v2")
    planner = _ant_planner(checkpoint, env)
    assert planner.layout.delta_dims == 2
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    plan = planner.plan(obs)
    start = np.concatenate([obs["achieved_goal"], obs["observation"]])
    moves = planner.layout.observations(torch.from_numpy(plan.tokens))[0, :, :2].numpy()  # stored displacements
    np.testing.assert_allclose(plan.observations[0, :, :2], start[:2] + np.cumsum(moves, 0), atol=1e-4)
    rows = []  # what a row of the matrix predicts (benchmarks.settling reads it) has positions, as the plan does
    planner.reset(seed=0)
    again = planner.plan(obs, on_row=lambda m, x0, k: rows.append(planner.layout.observations(x0)[0, :, :2].numpy()))
    np.testing.assert_allclose(again.observations[0, :, :2], plan.observations[0, :, :2], atol=1e-5)
    np.testing.assert_allclose(rows[-1], plan.observations[0, :, :2], atol=1e-3)  # the last row's x0 is the plan
    tokens, states = torch.from_numpy(plan.tokens), torch.from_numpy(start[None].astype(np.float32))
    goal = torch.from_numpy(obs["desired_goal"][None].astype(np.float32))
    guided = planner.with_config(dataclasses.replace(planner.config, guidance="goal"))
    on_positions = goal_cost(planner.layout, goal, 0.0, 0.5)(planner.layout.absolute(tokens, states))
    torch.testing.assert_close(guided._cost(goal, states)(tokens), on_positions)
    action = planner.act(obs)
    assert action.shape == (8,) and np.all(np.isfinite(action))
    with pytest.raises(ValueError, match="set goal_rest=0"):
        DFPlanner.load(checkpoint, guidance="learned", goal_rest=1.0, cost_model=str(checkpoint))
