"""Offline IQL / CQL baselines: hindsight relabelling, training, resume, the agent protocol, errors."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

import envs
from agents.hindsight import hindsight_relabel
from dfplan.checkpoint import CheckpointError, atomic_torch_save
from dfplan.data import Trajectories
from envs.collect import collect_stream
from envs.mazes import MAZES

ENV = "maze2d-umaze-v1"
GOAL = MAZES["umaze"].goal_xy
SEGMENT = 100
INSTALL = ("d3rlpy is installed without its pins: pip install gym structlog colorama dataclasses-json click "
           "scikit-learn h5py && pip install --no-deps d3rlpy==2.8.1")


@pytest.fixture(scope="module")
def stream() -> Trajectories:
    """2000 steps of the U-Maze collector as one continuous run."""
    raw = collect_stream(MAZES["umaze"], 2000, seed=0, progress=False)
    return Trajectories(observations=raw.observations.astype(np.float32), actions=raw.actions.astype(np.float32),
                        rewards=np.zeros(len(raw.actions), np.float32), episode_lengths=np.array([len(raw.actions)]))


def _two_runs(stream: Trajectories, split: int = 1250) -> Trajectories:
    """The stream as two runs (as if discontinuous at ``split``)."""
    obs = stream.observations
    return Trajectories(observations=np.concatenate([obs[: split + 1], obs[split:]]), actions=stream.actions,
                        rewards=stream.rewards, episode_lengths=np.array([split, stream.num_steps - split]))


def _copies(transitions):
    rows = transitions.copy_lengths + 1
    first = np.cumsum(rows) - rows
    return [slice(a, a + n) for a, n in zip(first, rows, strict=True)]


def test_relabelled_rewards_are_one_exactly_where_the_next_position_is_within_half_a_unit(stream):
    transitions = hindsight_relabel(stream, GOAL, SEGMENT, future_goals=3, seed=0)
    assert transitions.rewards.sum() > 0 and (transitions.rewards == 0).any()
    for rows in _copies(transitions):
        obs, rewards = transitions.observations[rows], transitions.rewards[rows]
        assert np.all(obs[:, 4:] == obs[0, 4:])  # one goal per copy
        expected = (np.linalg.norm(obs[1:, :2] - obs[:-1, 4:], axis=1) <= 0.5).astype(np.float32)
        np.testing.assert_array_equal(rewards[:-1], expected)
        assert rewards[-1] == 0 and np.all(transitions.actions[rows][-1] == 0)
        assert transitions.timeouts[rows][-1] and not transitions.timeouts[rows][:-1].any()


@pytest.mark.parametrize("two_runs", [False, True])
def test_relabelled_goals_are_positions_reached_later_in_the_same_segment(stream, two_runs):
    data = _two_runs(stream) if two_runs else stream
    run_starts = np.concatenate([[0], np.cumsum(data.episode_lengths)[:-1]])
    transitions = hindsight_relabel(data, GOAL, SEGMENT, future_goals=2, seed=1)
    assert len(transitions.copy_lengths) == 3 * sum(-(-n // SEGMENT) for n in data.episode_lengths)
    for rows, start, length, fixed in zip(_copies(transitions), transitions.copy_starts, transitions.copy_lengths,
                                          transitions.fixed_goal, strict=True):
        run = int(np.searchsorted(run_starts, start, side="right") - 1)
        offset = start - run_starts[run]
        assert offset % SEGMENT == 0  # copies start at a segment start ...
        assert offset + length <= min(offset + SEGMENT, data.episode_lengths[run])  # ... and stay inside it
        stream_rows = data.observations[start + run : start + run + length + 1]  # run r's rows sit at step + r
        np.testing.assert_array_equal(transitions.observations[rows][:, :4], stream_rows)
        np.testing.assert_array_equal(transitions.actions[rows][:-1], data.actions[start : start + length])
        goal = transitions.observations[rows][0, 4:]
        if fixed:
            assert length == min(SEGMENT, data.episode_lengths[run] - offset)
            np.testing.assert_allclose(goal, GOAL, atol=1e-6)
        else:  # the position reached after the copy's last step, which is in the segment
            np.testing.assert_array_equal(goal, stream_rows[-1, :2])


def test_relabelling_subsamples_whole_segments_under_the_cap(stream):
    full = hindsight_relabel(stream, GOAL, SEGMENT, future_goals=2, seed=0)
    capped = hindsight_relabel(stream, GOAL, SEGMENT, future_goals=2, max_transitions=full.num_transitions // 2, seed=0)
    assert 0 < capped.num_transitions <= full.num_transitions // 2
    assert capped.fixed_goal.sum() == len(capped.copy_lengths) // 3  # every kept segment has all its copies
    assert np.all(np.diff(capped.copy_starts) >= 0)  # stream order kept
    again = hindsight_relabel(stream, GOAL, SEGMENT, future_goals=2, max_transitions=full.num_transitions // 2, seed=0)
    np.testing.assert_array_equal(capped.observations, again.observations)


def test_relabelling_rejects_bad_settings(stream):
    with pytest.raises(ValueError, match="segment_length"):
        hindsight_relabel(stream, GOAL, 0, future_goals=1)
    with pytest.raises(ValueError, match="fixed_goal"):
        hindsight_relabel(stream, np.zeros(3), SEGMENT, future_goals=1)
    with pytest.raises(ValueError, match="max_transitions"):
        hindsight_relabel(stream, GOAL, SEGMENT, future_goals=1, max_transitions=5)


def test_training_without_d3rlpy_says_how_to_install_it(stream, tmp_path, monkeypatch):
    from agents import offline_rl

    monkeypatch.setitem(sys.modules, "d3rlpy", None)
    with pytest.raises(ImportError, match="--no-deps d3rlpy"):
        offline_rl.train(ENV, "quick", 0, tmp_path, "cpu", offline_rl.OfflineTrainConfig(iql_steps=1, cql_steps=1),
                         data=stream)


# --- training and the agent (need d3rlpy) ---------------------------------------------------------


@pytest.fixture(scope="module")
def offline_rl():
    pytest.importorskip("d3rlpy", reason=INSTALL)
    from agents import offline_rl

    return offline_rl


def _config(offline_rl, algorithm: str, steps: int = 20):
    return offline_rl.OfflineTrainConfig(iql_steps=steps, cql_steps=steps, algorithm=algorithm, batch_size=32,
                                         checkpoint_every=10, segment_length=SEGMENT)


def _train(offline_rl, stream, out, algorithm="iql", seed=0, **config):
    return offline_rl.train(ENV, "quick", seed, out, "cpu", _config(offline_rl, algorithm, **config),
                            data=stream, progress=False)


@pytest.fixture(scope="module")
def models(offline_rl, stream, tmp_path_factory):
    """A tiny IQL and CQL model (20 gradient steps of batch 32), trained from a clean working folder."""
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        paths = {alg: _train(offline_rl, stream, tmp_path_factory.mktemp(alg), alg) for alg in ("iql", "cql")}
    assert list(cwd.iterdir()) == []  # d3rlpy wrote no log folder
    return paths


def _probe_inputs(n: int = 16):
    rng = np.random.default_rng(0)
    return {"observation": rng.uniform(-1.5, 1.5, (n, 4)), "desired_goal": rng.uniform(-1.5, 1.5, (n, 2))}


@pytest.mark.parametrize("algorithm", ["iql", "cql"])
def test_trained_model_is_self_describing(offline_rl, models, algorithm):
    path = models[algorithm]
    assert path == offline_rl.finished_model(path.parent)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.d3", "model.json"]  # checkpoints removed
    agent = offline_rl.OfflineRLAgent.load(path)
    meta = agent.meta
    assert meta["agent"] == meta["algorithm"] == algorithm
    assert (meta["env"], meta["preset"], meta["seed"]) == (ENV, "quick", 0)
    assert meta["budget"] == "20 gradient steps × batch 32" and meta["train_wall_s"] > 0
    assert meta["train_config"]["algorithm"] == algorithm and meta["steps_done"] == 20
    assert meta["d3rlpy_config"]["batch_size"] == 32 and len(meta["history"]) == 2
    assert meta["d3rlpy_config"]["gamma"] == 0.995  # a horizon for 300-800-step episodes
    if algorithm == "cql":  # the Lagrange multiplier is fixed
        assert meta["d3rlpy_config"]["alpha_learning_rate"] == 0.0
    assert offline_rl.OfflineRLAgent.load(path.parent).meta == meta  # a run folder loads too


def test_presets_budgets_and_config_validation(offline_rl, stream, models, tmp_path):
    assert set(offline_rl.PRESETS) == {"quick", "cpu", "full"}
    quick, cpu, full = offline_rl.PRESETS["quick"], offline_rl.PRESETS["cpu"], offline_rl.PRESETS["full"]
    assert quick.iql_steps < cpu.iql_steps < full.iql_steps and quick.cql_steps < cpu.cql_steps < full.cql_steps
    assert (cpu.gamma, cpu.batch_size) == (quick.gamma, quick.batch_size)  # the same settings, longer
    assert full.iql_steps == full.cql_steps == 1_000_000
    assert offline_rl.get_preset("quick", "cql").gradient_steps == offline_rl.PRESETS["quick"].cql_steps
    assert offline_rl.budget_label(20_000, 256) == "20k gradient steps × batch 256"
    assert offline_rl.budget_label(1_000_000, 256) == "1M gradient steps × batch 256"
    with pytest.raises(ValueError, match="preset"):
        offline_rl.get_preset("slow")
    with pytest.raises(ValueError, match="algorithm"):
        offline_rl.OfflineTrainConfig(iql_steps=1, cql_steps=1, algorithm="bc")
    with pytest.raises(ValueError, match="gamma"):
        offline_rl.OfflineTrainConfig(iql_steps=1, cql_steps=1, gamma=1.5)
    with pytest.raises(ValueError, match="contradicts"):
        offline_rl.train(ENV, "quick", 0, tmp_path, "cpu", _config(offline_rl, "iql"), "cql", data=stream)
    with pytest.raises(ValueError, match="different run"):  # a finished IQL folder is not a CQL run
        _train(offline_rl, stream, models["iql"].parent, "cql")


def test_finished_run_is_returned_without_training(offline_rl, stream, models, monkeypatch):
    before = models["iql"].stat().st_mtime_ns
    monkeypatch.setattr(offline_rl, "hindsight_relabel", None)  # training would fail
    assert _train(offline_rl, stream, models["iql"].parent) == models["iql"]
    assert models["iql"].stat().st_mtime_ns == before


def test_interrupted_run_resumes_to_the_same_model(offline_rl, stream, models, tmp_path, monkeypatch):
    real_save = offline_rl._save_checkpoint

    def save_then_crash(*args):
        real_save(*args)
        raise KeyboardInterrupt("simulated crash after the first checkpoint")

    monkeypatch.setattr(offline_rl, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _train(offline_rl, stream, tmp_path)
    assert offline_rl.finished_model(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-000000010.d3", "checkpoint_state.pt"]
    monkeypatch.setattr(offline_rl, "_save_checkpoint", real_save)
    resumed = offline_rl.OfflineRLAgent.load(_train(offline_rl, stream, tmp_path))
    straight = offline_rl.OfflineRLAgent.load(models["iql"])
    np.testing.assert_array_equal(resumed.act(_probe_inputs()), straight.act(_probe_inputs()))
    assert [row["step"] for row in resumed.meta["history"]] == [10, 20]
    assert resumed.meta["train_wall_s"] >= resumed.meta["history"][0]["wall_s"] > 0


def test_snapshots_keep_a_loadable_model_at_each_passed_minute_mark(offline_rl, stream, tmp_path):
    model = offline_rl.train(ENV, "quick", 0, tmp_path, "cpu", _config(offline_rl, "iql"), data=stream,
                             progress=False, snapshot_minutes=(0, 1e6))
    (snapshot,) = sorted((tmp_path / "snapshots").glob("*.d3"))  # the first mark passed at the first checkpoint
    agent = offline_rl.OfflineRLAgent.load(snapshot)
    assert snapshot.name == "model-0min.d3" and agent.meta["steps_done"] == 10 and agent.meta["snapshot_minutes"] == 0
    assert offline_rl.OfflineRLAgent.load(model).meta["steps_done"] == 20


def test_same_seed_gives_identical_actions_and_another_seed_differs(offline_rl, stream, models, tmp_path):
    first = offline_rl.OfflineRLAgent.load(models["cql"])
    again = offline_rl.OfflineRLAgent.load(_train(offline_rl, stream, tmp_path / "again", "cql", seed=0))
    other = offline_rl.OfflineRLAgent.load(_train(offline_rl, stream, tmp_path / "other", "cql", seed=1))
    np.testing.assert_array_equal(first.act(_probe_inputs()), again.act(_probe_inputs()))
    assert not np.array_equal(first.act(_probe_inputs()), other.act(_probe_inputs()))


def test_save_load_round_trip_gives_identical_actions(offline_rl, models, tmp_path):
    agent = offline_rl.OfflineRLAgent.load(models["iql"])
    copy = tmp_path / "model.d3"
    agent.algo.save(str(copy))
    shutil.copy(models["iql"].with_suffix(".json"), tmp_path / "model.json")
    np.testing.assert_array_equal(agent.act(_probe_inputs()), offline_rl.OfflineRLAgent.load(copy).act(_probe_inputs()))


@pytest.mark.parametrize("algorithm", ["iql", "cql"])
def test_full_episode_in_a_plain_loop(offline_rl, models, algorithm, plain_loop_steps):
    agent = offline_rl.OfflineRLAgent.load(models[algorithm])
    assert plain_loop_steps(agent, ENV) == MAZES["umaze"].episode_steps


def test_sb3_evaluate_policy_works_unchanged(offline_rl, models):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    vec_env = make_vec_env(lambda: envs.make(ENV), n_envs=2, seed=0)
    mean_return, _ = evaluate_policy(offline_rl.OfflineRLAgent.load(models["iql"]), vec_env, n_eval_episodes=2)
    assert 0 <= mean_return <= MAZES["umaze"].episode_steps


def test_vector_env_batch_matches_single_observations(offline_rl, models):
    import gymnasium

    agent = offline_rl.OfflineRLAgent.load(models["cql"])
    vec_env = gymnasium.vector.SyncVectorEnv([lambda: envs.make("multi2d-umaze-v1")] * 3)
    obs, _ = vec_env.reset(seed=0)
    actions = agent.act(obs)
    assert actions.shape == (3, 2) and actions.dtype == np.float32 and np.all(np.abs(actions) <= 1)
    singles = np.stack([agent.act({key: value[i] for key, value in obs.items()}) for i in range(3)])
    np.testing.assert_allclose(actions, singles, atol=1e-6)
    flat = obs["observation"][0]  # no goal: the training env's fixed goal
    np.testing.assert_array_equal(agent.act(flat), agent.act({"observation": flat, "desired_goal": GOAL}))
    vec_env.close()


def test_bad_observations_get_clear_errors(offline_rl, models):
    agent = offline_rl.OfflineRLAgent.load(models["iql"])
    env = envs.make(ENV)
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.act(env.reset(seed=0))
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.predict(env.reset(seed=0))
    with pytest.raises(ValueError, match="NaN"):
        agent.act({"observation": np.array([0.0, np.nan, 0.0, 0.0]), "desired_goal": GOAL})
    with pytest.raises(ValueError, match="shape"):
        agent.act({"observation": np.zeros(5), "desired_goal": GOAL})
    with pytest.raises(ValueError, match="desired_goal"):
        agent.act({"observation": np.zeros((2, 4)), "desired_goal": np.zeros((3, 2))})


def test_missing_corrupt_or_foreign_files_get_clear_errors(offline_rl, models, tmp_path):
    load = offline_rl.OfflineRLAgent.load
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.d3")
    with pytest.raises(FileNotFoundError, match="no finished"):
        load(tmp_path)
    foreign = tmp_path / "checkpoint.pt"  # a Diffusion Forcing checkpoint has no offline-RL metadata
    atomic_torch_save({"format": "dfplan.diffusion_forcing"}, foreign)
    with pytest.raises(CheckpointError, match="not an offline-RL model"):
        load(foreign)
    meta = json.loads(models["iql"].with_suffix(".json").read_text())
    (tmp_path / "corrupt.d3").write_bytes(b"not a pickle")
    (tmp_path / "corrupt.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupt"):
        load(tmp_path / "corrupt.d3")
    shutil.copy(models["cql"], tmp_path / "swapped.d3")  # CQL weights under IQL metadata
    (tmp_path / "swapped.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cql"):
        load(tmp_path / "swapped.d3")
    shutil.copy(models["iql"], tmp_path / "other.d3")
    (tmp_path / "other.json").write_text(json.dumps({"format": "sb3.sac_her", "agent": "sac-her"}))
    with pytest.raises(CheckpointError, match="format"):
        load(tmp_path / "other.d3")
    (tmp_path / "other.json").write_text("{truncated")
    with pytest.raises(CheckpointError, match="JSON"):
        load(tmp_path / "other.d3")
