"""SAC + HER baseline: online training with resume, the saved model, and the agent protocol."""

import json
import time
import zipfile

import gymnasium
import numpy as np
import pytest
import torch

import envs
from agents.protocol import Agent
from agents.sac_her import (
    CHECKPOINT_POINTER,
    MODEL_FILE,
    PRESETS,
    HerTrainingEnv,
    SACHERAgent,
    SACHERConfig,
    build_model,
    finished_model,
    make_training_env,
    read_meta,
    save_model,
    train,
)
from dfplan.checkpoint import CheckpointError
from envs.mazes import MAZES

TINY = SACHERConfig(umaze_steps=400, medium_steps=700, large_steps=900, learning_starts=300, batch_size=32,
                    net_width=32, net_depth=1, checkpoint_every=200)
"""A few seconds of training on U-Maze (100 gradient steps of a one-layer 32-unit net)."""


def _train_tiny(folder, seed=0, env_id="maze2d-umaze-v1"):
    return train(env_id, "quick", seed, folder, device="cpu", config=TINY)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return _train_tiny(tmp_path_factory.mktemp("sac_her"))


@pytest.fixture(scope="module")
def agent(tiny_model):
    return SACHERAgent.load(tiny_model, device="cpu")


def _probe_batch(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"observation": rng.uniform(-1.5, 1.5, (n, 4)), "desired_goal": rng.uniform(-1.5, 1.5, (n, 2)),
            "achieved_goal": np.zeros((n, 2))}


def test_train_writes_self_describing_model_on_the_multi2d_env(tiny_model):
    assert tiny_model.name == MODEL_FILE
    meta = read_meta(tiny_model)
    assert meta["agent"] == "sac-her" and meta["env"] == "multi2d-umaze-v1"  # maze2d id trains on multi2d
    assert meta["preset"] == "quick" and meta["seed"] == 0 and meta["env_steps"] == 400
    assert meta["budget"] == "400 env steps (online)" and meta["train_wall_s"] > 0
    assert meta["train_config"]["n_sampled_goal"] == 4 and meta["train_config"]["goal_selection_strategy"] == "future"
    assert not (tiny_model.parent / CHECKPOINT_POINTER).exists()
    assert not list(tiny_model.parent.glob("checkpoint-*"))


def test_finished_run_is_returned_without_training(tiny_model):
    before = tiny_model.stat().st_mtime_ns
    began = time.perf_counter()
    assert _train_tiny(tiny_model.parent) == tiny_model
    assert time.perf_counter() - began < 1.0 and tiny_model.stat().st_mtime_ns == before
    assert finished_model(tiny_model.parent) == tiny_model and finished_model(tiny_model.parent / "none") is None


def test_finished_run_of_another_seed_is_not_reused(tiny_model):
    with pytest.raises(ValueError, match="another run"):
        _train_tiny(tiny_model.parent, seed=1)


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import agents.sac_her as sac_her

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sac_her, "save_model", crash)
    with pytest.raises(KeyboardInterrupt):
        _train_tiny(tmp_path)
    pointer = json.loads((tmp_path / CHECKPOINT_POINTER).read_text())
    assert pointer["env_steps"] == 200 and (tmp_path / pointer["folder"] / "replay_buffer.pkl").is_file()
    monkeypatch.undo()
    meta = read_meta(_train_tiny(tmp_path))
    assert meta["env_steps"] == 400 and meta["train_wall_s"] >= round(pointer["train_wall_s"], 1)
    assert not (tmp_path / CHECKPOINT_POINTER).exists() and not list(tmp_path.glob("checkpoint-*"))


def test_model_uses_her_future_goals_and_relabelled_rewards_match_the_env():
    from stable_baselines3 import HerReplayBuffer

    model = build_model(TINY, "multi2d-umaze-v1", seed=0, device="cpu", buffer_size=400)
    assert isinstance(model.replay_buffer, HerReplayBuffer)
    assert model.replay_buffer.n_sampled_goal == 4 and model.replay_buffer.goal_selection_strategy.name == "FUTURE"
    model.learn(350)
    batch = model.replay_buffer.sample(256)
    reached = torch.linalg.norm(batch.next_observations["achieved_goal"] - batch.next_observations["desired_goal"], dim=1)
    expected = (reached <= 0.5).float()
    assert torch.equal(batch.rewards.flatten(), expected)
    assert expected.mean() > 0  # HER relabelled some transitions as successes


@pytest.mark.parametrize("terminate", [True, False])
def test_relabelled_transitions_end_where_their_own_goal_is_reached(terminate):
    import dataclasses

    config = dataclasses.replace(TINY, terminate_on_success=terminate)
    model = build_model(config, "multi2d-umaze-v1", seed=0, device="cpu", buffer_size=400)
    model.learn(350)
    batch = model.replay_buffer.sample(512)
    success = batch.rewards.flatten() > 0
    assert success.any() and (~success).any()
    # real and relabelled alike: done exactly where the (relabelled) goal is reached when episodes
    # end on success, and never (time limits are not terminal) when they do not
    assert torch.equal(batch.dones.flatten().bool(), success if terminate else torch.zeros_like(success))


def test_learning_starts_shorter_than_an_episode_is_rejected():
    with pytest.raises(ValueError, match="HER cannot sample"):
        build_model(TINY, "multi2d-medium-v1", seed=0, device="cpu")


def test_vec_env_compute_reward_is_vectorized_and_matches_the_env_reward():
    from stable_baselines3.common.env_util import make_vec_env

    vec_env = make_vec_env(lambda: make_training_env("multi2d-umaze-v1"), n_envs=1, seed=0)
    achieved = np.array([[0.0, 0.0], [0.0, 0.49], [0.3, 0.4], [1.0, 1.0]])
    desired = np.zeros((4, 2))
    rewards = vec_env.env_method("compute_reward", achieved, desired, [{}] * 4, indices=[0])[0]
    np.testing.assert_array_equal(rewards, [1.0, 1.0, 1.0, 0.0])
    env = make_training_env("multi2d-umaze-v1")
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        obs, reward, terminated, _, _ = env.step(env.action_space.sample())
        assert reward == env.compute_reward(obs["achieved_goal"], obs["desired_goal"], {})
        if terminated:
            break


def test_training_env_terminates_on_success_only_when_asked_and_the_evaluation_env_never():
    goal = MAZES["umaze"].cell_to_xy((1, 1))
    options = {"goal_xy": goal, "start_xy": goal + 0.1}
    assert make_training_env("maze2d-umaze-v1").terminate_on_success is False  # the default: as evaluated
    assert SACHERConfig(1, 1, 1).terminate_on_success is False
    training, evaluation = make_training_env("maze2d-umaze-v1", True), envs.make("multi2d-umaze-v1")
    assert isinstance(training, HerTrainingEnv) and training.unwrapped.suite_spec.multi_goal
    for env, ends in ((training, True), (make_training_env("maze2d-umaze-v1"), False), (evaluation, False)):
        env.reset(seed=0, options=options)
        _, reward, terminated, truncated, info = env.step(np.zeros(2))
        assert reward == 1.0 and info["success"] and terminated is ends and not truncated
    far_options = {"goal_xy": goal, "start_xy": MAZES["umaze"].cell_to_xy((3, 1))}
    training.reset(seed=0, options=far_options)
    assert training.step(np.zeros(2))[2] is False


def test_full_episode_in_a_plain_while_loop(agent, plain_loop_steps):
    assert plain_loop_steps(agent, "maze2d-umaze-v1") == 300


def test_sb3_evaluate_policy_works_unchanged(agent):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    assert isinstance(agent, Agent)
    vec_env = make_vec_env(lambda: envs.make("multi2d-umaze-v1"), n_envs=2, seed=0)
    mean_return, _ = evaluate_policy(agent, vec_env, n_eval_episodes=2)
    assert 0.0 <= mean_return <= 300.0


def test_vector_env_batch_matches_single_observations(agent):
    vec_env = gymnasium.vector.SyncVectorEnv([lambda: envs.make("multi2d-umaze-v1")] * 3)
    obs, _ = vec_env.reset(seed=0)
    actions = agent.act(obs)
    assert actions.shape == (3, 2) and actions.dtype == np.float32 and np.all(np.abs(actions) <= 1)
    for i in range(3):
        single = {key: value[i] for key, value in obs.items()}
        np.testing.assert_allclose(agent.act(single), actions[i], atol=1e-6)


def test_goal_comes_from_desired_goal_and_flat_observations_use_the_fixed_goal(agent):
    state = np.array([0.5, -1.0, 0.0, 0.0])
    fixed = {"observation": state, "desired_goal": MAZES["umaze"].goal_xy}
    np.testing.assert_array_equal(agent.act(state), agent.act(fixed))
    batch = _probe_batch()
    moved = {**batch, "desired_goal": -batch["desired_goal"]}
    assert not np.array_equal(agent.act(batch), agent.act(moved))


def test_same_seed_trains_identical_policies_and_another_seed_differs(tiny_model, tmp_path):
    again = SACHERAgent.load(_train_tiny(tmp_path / "again"), device="cpu")
    other = SACHERAgent.load(_train_tiny(tmp_path / "other", seed=1), device="cpu")
    batch = _probe_batch()
    reference = SACHERAgent.load(tiny_model, device="cpu").act(batch)
    np.testing.assert_array_equal(again.act(batch), reference)
    assert not np.array_equal(other.act(batch), reference)


def test_save_load_round_trip_gives_identical_actions(agent, tmp_path):
    path = tmp_path / "copy.zip"
    save_model(agent.model, path, agent.meta)
    copy = SACHERAgent.load(path, device="cpu")
    assert copy.meta == agent.meta
    batch = _probe_batch()
    np.testing.assert_array_equal(copy.act(batch), agent.act(batch))


def test_missing_corrupt_and_foreign_files_get_clear_errors(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        SACHERAgent.load(tmp_path / "missing.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(tiny_model.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        SACHERAgent.load(truncated)
    foreign = tmp_path / "checkpoint.pt"
    torch.save({"format": "dfplan.diffusion_forcing"}, foreign)
    with pytest.raises(CheckpointError, match="not a sac-her model"):
        SACHERAgent.load(foreign)
    other_agent = tmp_path / "other.zip"
    with zipfile.ZipFile(other_agent, "w") as archive:
        archive.writestr("dfplan_meta.json", json.dumps({"agent": "iql", "format_version": 1}))
    with pytest.raises(ValueError, match="'iql' model, not a sac-her model"):
        SACHERAgent.load(other_agent)


def test_bad_observations_and_arguments_rejected(agent, tmp_path):
    env = envs.make("maze2d-umaze-v1")
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.act(env.reset(seed=0))
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.predict(env.reset(seed=0))
    with pytest.raises(ValueError, match="NaN"):
        agent.act({"observation": np.array([0.0, np.nan, 0.0, 0.0]), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="shape"):
        agent.act({"observation": np.zeros(5), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="desired_goal"):
        agent.act({"observation": np.zeros((2, 4)), "desired_goal": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="Unknown env id"):
        train("maze2d-tiny-v1", "quick", 0, tmp_path)
    with pytest.raises(ValueError, match="unknown preset"):
        train("maze2d-umaze-v1", "huge", 0, tmp_path)
    with pytest.raises(ValueError, match="goal_selection_strategy"):
        SACHERConfig(umaze_steps=1, medium_steps=1, large_steps=1, goal_selection_strategy="past")


def test_presets_budget_quick_and_cpu_runs_per_maze_and_the_full_run_at_one_million_steps():
    from agents.sac_her import budget_label

    assert set(PRESETS) == {"quick", "cpu", "full"}
    for maze in ("umaze", "medium", "large"):
        assert PRESETS["full"].steps_for(maze) == 1_000_000
        assert 10_000 <= PRESETS["quick"].steps_for(maze) <= 60_000
        assert PRESETS["quick"].steps_for(maze) < PRESETS["cpu"].steps_for(maze) < PRESETS["full"].steps_for(maze)
        assert PRESETS["quick"].learning_starts >= MAZES[maze].episode_steps
    assert budget_label(1_000_000) == "1M env steps (online)"
    assert budget_label(25_000) == "25k env steps (online)"
