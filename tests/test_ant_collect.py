"""AntMaze data collection: D4RL's starts and goals by dataset kind, resumable shards, the Minari dataset."""

import numpy as np
import pytest
import torch

import envs.ant_collect as ant_collect
from envs.ant_walker import AntWalker, mlp
from envs.antmazes import PLAY_GOAL_CELLS, get_antmaze_spec

SMALL = ant_collect.AntCollectConfig(steps=120, episode_steps=30, shard_steps=60)


@pytest.fixture(scope="module")
def walker():
    torch.manual_seed(0)
    return AntWalker(mlp([29, 16, 8]), {"commit": "test", "budget": "untrained"})


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path / "minari"


def test_starts_and_goals_follow_the_dataset_kind():
    rng = np.random.default_rng(0)
    umaze = get_antmaze_spec("antmaze-umaze-v2")
    low, high = umaze.goal_box()
    for _ in range(20):
        start, goal = ant_collect.episode_start_and_goal(umaze, rng)
        np.testing.assert_array_equal(start, umaze.maze.cell_to_xy(umaze.maze.start_cell))
        assert (goal >= low).all() and (goal <= high).all()
    play = get_antmaze_spec("antmaze-large-play-v2")
    goal_cells = {tuple(play.maze.xy_to_cell(ant_collect.episode_start_and_goal(play, rng)[1])) for _ in range(200)}
    assert goal_cells == set(PLAY_GOAL_CELLS["large"])
    diverse = get_antmaze_spec("antmaze-medium-diverse-v2")
    pairs = [ant_collect.episode_start_and_goal(diverse, rng) for _ in range(300)]
    cells = {tuple(diverse.maze.xy_to_cell(p)) for pair in pairs for p in pair}
    assert cells == set(diverse.maze.free_cells)


def test_bad_collection_settings_are_rejected():
    with pytest.raises(ValueError, match="whole"):
        ant_collect.AntCollectConfig(steps=1000, episode_steps=300, shard_steps=600)
    with pytest.raises(ValueError, match="positive"):
        ant_collect.AntCollectConfig(steps=0)


def test_interrupted_collection_resumes_to_the_same_dataset(store, walker, monkeypatch):
    import minari

    spec = get_antmaze_spec("antmaze-umaze-diverse-v2")
    real = ant_collect.collect_shard
    calls = []

    def crash_on_second_shard(spec_, walker_, config, shard):
        calls.append(shard)
        if shard == 1 and calls.count(1) == 1:
            raise KeyboardInterrupt
        return real(spec_, walker_, config, shard)

    monkeypatch.setattr(ant_collect, "collect_shard", crash_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        ant_collect.collect(spec, walker, SMALL, "test/cut-v0", progress=False)
    paths, collected = ant_collect.collect(spec, walker, SMALL, "test/cut-v0", progress=False)
    assert calls == [0, 1, 1] and collected == 60  # the finished shard was not collected again
    ant_collect.write_dataset(spec, paths, SMALL, walker, "test/cut-v0")
    monkeypatch.setattr(ant_collect, "collect_shard", real)
    paths, _ = ant_collect.collect(spec, walker, SMALL, "test/whole-v0", progress=False)
    ant_collect.write_dataset(spec, paths, SMALL, walker, "test/whole-v0")
    assert not ant_collect.work_dir("test/cut-v0").exists()

    cut, whole = minari.load_dataset("test/cut-v0"), minari.load_dataset("test/whole-v0")
    assert cut.total_episodes == whole.total_episodes == 4 and cut.total_steps == 120
    for a, b in zip(cut.iterate_episodes(), whole.iterate_episodes(), strict=True):
        np.testing.assert_array_equal(a.observations["observation"], b.observations["observation"])
        np.testing.assert_array_equal(a.actions, b.actions)
        assert a.observations["observation"].shape == (31, 27) and a.actions.shape == (30, 8)
        assert a.truncations[-1] and not a.terminations.any()
        goal = a.observations["desired_goal"][0]
        expected = np.linalg.norm(a.observations["achieved_goal"][1:] - goal, axis=-1) <= 0.5
        np.testing.assert_array_equal(a.rewards, expected.astype(float))


def test_stored_states_replay_the_stored_steps_exactly(store, walker):
    import envs

    spec = get_antmaze_spec("antmaze-umaze-v2")
    arrays = ant_collect.collect_shard(spec, walker, SMALL, 0)
    episode = next(ant_collect.episode_buffers([_save(store, arrays)]))
    env = envs.make("antmaze-umaze-v2").unwrapped
    env.reset(seed=0)
    for t in (0, 7, 29):
        env.ant_env.set_state(episode.infos["qpos"][t], episode.infos["qvel"][t])
        obs = env.step(episode.actions[t].astype(np.float64))[0]
        np.testing.assert_allclose(obs["observation"], episode.observations["observation"][t + 1], atol=1e-12)


def _save(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shard.npz"
    np.savez(path, **arrays)
    return path


def test_a_folder_of_another_collection_is_refused(store, walker):
    spec = get_antmaze_spec("antmaze-umaze-v2")
    small = ant_collect.AntCollectConfig(steps=30, episode_steps=30, shard_steps=30)
    ant_collect.collect(spec, walker, small, "test/other-v0", progress=False)
    with pytest.raises(ValueError, match="another collection"):
        ant_collect.collect(spec, walker, ant_collect.AntCollectConfig(steps=30, episode_steps=30, shard_steps=30,
                                                                       seed=1), "test/other-v0", progress=False)


def test_command_line_rejects_unknown_envs_and_missing_walkers(store, tmp_path, capsys):
    with pytest.raises(SystemExit):
        ant_collect.main(["antmaze-tiny-v2", "--walker", str(tmp_path / "w.pt")])
    assert "antmaze-umaze-v2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ant_collect.main(["antmaze-umaze-v2", "--walker", str(tmp_path / "w.pt")])
    assert "train-walker" in capsys.readouterr().err


def test_collecting_with_a_walker_short_of_ready_warns_with_its_measured_success(store, walker, tmp_path):
    path = tmp_path / "w.pt"
    AntWalker(walker.net, {**walker.meta, "measured": {"success_0.5": 0.65}}).save(path)
    with pytest.warns(UserWarning, match="reaches 65% of nearby goals"):
        assert ant_collect.main(["antmaze-umaze-v2", "--walker", str(path), "--steps", "1000",
                                 "--shard-steps", "1000"]) == 0


def test_loaded_arrays_put_the_torso_position_first_as_d4rls_ant_state(store, walker):
    from envs.data import load_arrays

    spec = get_antmaze_spec("antmaze-umaze-v2")
    config = ant_collect.AntCollectConfig(steps=60, episode_steps=30, shard_steps=60)
    shard = ant_collect.collect_shard(spec, walker, config, 0)  # the one shard, as the collection draws it
    paths, _ = ant_collect.collect(spec, walker, config, progress=False)
    ant_collect.write_dataset(spec, paths, config, walker)
    arrays = load_arrays("antmaze-umaze-v2")
    assert arrays.observations.shape == (60, 29) and arrays.actions.shape == (60, 8)
    np.testing.assert_allclose(arrays.observations[:30, :2], shard["xy"][0, :30], atol=1e-6)
    np.testing.assert_allclose(arrays.observations[:30, 2:], shard["body"][0, :30], atol=1e-5)
    np.testing.assert_allclose(arrays.goals[:30], np.broadcast_to(shard["goals"][0], (30, 2)), atol=1e-6)
    assert arrays.timeouts.sum() == 2 and not arrays.terminals.any()


def test_episode_summary_tells_arrival_flips_and_rewards():
    body = np.zeros((5, 27))
    body[:, 1] = 1.0  # upright (quaternion w = 1)
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [1.8, 0.0], [2.0, 0.0], [2.0, 0.0]])
    rewards = np.array([0.0, 1.0, 1.0, 1.0])
    facts = ant_collect.episode_summary(body, xy, np.array([2.0, 0.0]), rewards)
    assert facts == {"reached": True, "steps_to_goal": 2.0, "flipped_end": False, "flipped_before_goal": False,
                     "rewarded": 0.75}
    body[1:, 1], body[1:, 2] = 0.0, 1.0  # on its back from step 1 (quaternion x = 1)
    facts = ant_collect.episode_summary(body, xy, np.array([9.0, 9.0]), np.zeros(4))
    assert not facts["reached"] and facts["flipped_end"] and facts["flipped_before_goal"] and facts["rewarded"] == 0


def test_a_written_dataset_is_summarized_and_recorded(store, walker, tmp_path, capsys):
    record = tmp_path / "datasets.json"
    with pytest.raises(SystemExit):
        ant_collect.main(["antmaze-umaze-v2", "--summarize"])  # nothing written yet
    assert "no dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ant_collect.main(["antmaze-umaze-v2"])
    assert "--walker is needed" in capsys.readouterr().err
    path = tmp_path / "w.pt"
    walker.save(path)
    with pytest.warns(UserWarning):
        ant_collect.main(["antmaze-umaze-v2", "--walker", str(path), "--steps", "2000", "--shard-steps", "1000",
                          "--record-speed", str(record)])
    import json

    summary = json.loads(record.read_text())["dfplan/antmaze-umaze-v2"]["summary"]
    assert summary["episodes"] == 2 and 0 <= summary["reach_goal"] <= 1 and 0 <= summary["flipped_end"] <= 1
    assert "steps_per_second" in json.loads(record.read_text())["dfplan/antmaze-umaze-v2"]


def test_upright_only_cuts_each_episode_before_the_ants_first_flip():
    from agents.datasets import upright_only
    from dfplan.data import Trajectories

    lengths = np.array([5, 4, 3])
    observations = np.zeros((lengths.sum() + len(lengths), 29), np.float32)
    observations[:, 3] = 1.0  # quaternion w = 1: upright
    observations[:, 0] = np.arange(len(observations))  # x tells the rows apart
    observations[9:, 3], observations[9:, 4] = 0.0, 1.0  # episode 1 (rows 6-10) on its back from its 4th state on,
    # and episode 2 (rows 11-14) from its start
    data = Trajectories(observations, np.arange(12, dtype=np.float32)[:, None], np.zeros(12, np.float32), lengths)
    kept = upright_only(data)
    assert kept.episode_lengths.tolist() == [5, 2]  # episode 1 keeps the 2 steps between upright states; 2 is dropped
    assert kept.observations[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert kept.actions[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="29-number"):
        upright_only(Trajectories(np.zeros((3, 4), np.float32), np.zeros((2, 1), np.float32), np.zeros(2, np.float32),
                                  np.array([2])))
