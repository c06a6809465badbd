"""The AntMaze walker: the ant's reaching task, the exported SAC actor, and its resumable trainer."""

import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

import benchmarks.train_walker as train_walker
from envs.ant_reach import ANT_BODY_DIM, AntReachEnv
from envs.ant_walker import AntWalker, mlp
from envs.antmazes import torso_up


def test_reaching_task_draws_goals_in_range_and_pays_a_bonus_and_a_new_goal_on_arrival():
    env = AntReachEnv(goal_min=1.0, goal_max=5.0, reach_radius=0.2, reach_bonus=10.0)
    obs, info = env.reset(seed=0)
    assert obs.shape == (ANT_BODY_DIM + 2,) and info == {"reached": 0, "is_success": False, "flipped": False}
    assert 1.0 - 0.2 <= np.linalg.norm(obs[-2:]) <= 5.0 + 0.2  # the start's ±0.1 noise
    xy = env.ant.data.qpos[:2].copy()
    env.goal = xy + np.array([0.05, 0.0])
    obs, reward, terminated, truncated, info = env.step(np.zeros(8))
    assert info == {"reached": 1, "is_success": True, "flipped": False} and not terminated and not truncated
    assert reward > 5.0  # the bonus, less at most a few units of costs and lost progress
    assert 1.0 - 0.05 <= np.linalg.norm(obs[-2:]) <= 5.0 + 0.05 and not np.allclose(env.goal, xy + np.array([0.05, 0.0]))


def test_moving_towards_the_goal_is_rewarded_more_than_moving_away():
    env = AntReachEnv()
    env.reset(seed=1)
    xy = env.ant.data.qpos[:2].copy()
    rewards = []
    for goal in (xy + np.array([3.0, 0.0]), xy - np.array([3.0, 0.0])):
        env.reset(seed=1)
        env.goal = goal
        qvel = env.ant.data.qvel.copy()
        qvel[0] = 2.0  # push the torso along +x
        env.ant.set_state(env.ant.data.qpos.copy(), qvel)
        rewards.append(env.step(np.zeros(8))[1])
    assert rewards[0] > rewards[1] + 1.0


def test_speed_beyond_the_progress_cap_earns_nothing_more():
    rewards = {}
    for cap in (None, 1.0):
        env = AntReachEnv(progress_cap=cap)
        for push in (2.0, 4.0):
            env.reset(seed=1)
            env.goal = env.ant.data.qpos[:2] + np.array([3.0, 0.0])
            qvel = env.ant.data.qvel.copy()
            qvel[0] = push
            env.ant.set_state(env.ant.data.qpos.copy(), qvel)
            rewards[cap, push] = env.step(np.zeros(8))[1]
    assert rewards[None, 4.0] > rewards[None, 2.0] + 1.0
    assert rewards[1.0, 4.0] == pytest.approx(rewards[1.0, 2.0], abs=0.1)
    assert rewards[1.0, 2.0] < rewards[None, 2.0]


def _lay_on_its_back(env):
    qpos, qvel = env.ant.data.qpos.copy(), env.ant.data.qvel.copy()
    qpos[2], qpos[3:7] = 0.6, [0.0, 1.0, 0.0, 0.0]  # turned half a turn about x
    env.ant.set_state(qpos, qvel * 0)


def test_an_ant_on_its_back_is_healthy_to_gymnasium_but_ends_the_episode_when_it_must_stay_upright():
    assert torso_up(np.array([0.55, 1, 0, 0, 0] + [0] * 22)) == pytest.approx(1.0)
    assert torso_up(np.array([0.27, 0, 1, 0, 0] + [0] * 22)) == pytest.approx(-1.0)
    assert torso_up(np.array([0.3, 1, 1, 0, 0] + [0] * 22)) == pytest.approx(0.0)  # on its side (unnormalized)
    for upright_min, ends in ((None, False), (0.0, True)):
        env = AntReachEnv(upright_min=upright_min)
        env.reset(seed=0)
        _lay_on_its_back(env)
        steps = [env.step(np.zeros(8)) for _ in range(30)]
        assert all(info["flipped"] for *_, info in steps)
        assert any(terminated for _, _, terminated, _, _ in steps) == ends
        assert 0.2 < env.ant.data.qpos[2] < 0.35  # lying on its back, inside Gymnasium's healthy height


def test_bad_reaching_settings_are_rejected():
    with pytest.raises(ValueError, match="goal_min"):
        AntReachEnv(goal_min=3.0, goal_max=1.0)
    with pytest.raises(ValueError, match="reach_radius"):
        AntReachEnv(reach_radius=0.0)
    with pytest.raises(ValueError, match="unknown walker preset"):
        train_walker.get_preset("huge")
    with pytest.raises(ValueError, match="gamma"):
        train_walker.WalkerConfig(gamma=1.0)
    with pytest.raises(ValueError, match="train_freq"):
        train_walker.WalkerConfig(train_freq=0)
    with pytest.raises(ValueError, match="upright_min"):
        train_walker.WalkerConfig(upright_min=1.0)
    with pytest.raises(ValueError, match="upright_min"):
        AntReachEnv(upright_min=-2.0)
    with pytest.raises(ValueError, match="progress_cap"):
        AntReachEnv(progress_cap=0.0)
    with pytest.raises(ValueError, match="progress_cap"):
        train_walker.WalkerConfig(progress_cap=-1.0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("walker")
    path = train_walker.train(out, "tiny", seed=0, progress=False, final_episodes=3)
    return out, path


def test_tiny_preset_trains_a_self_describing_walker_and_a_rerun_reuses_it(tiny_run):
    out, path = tiny_run
    walker = AntWalker.load(path)
    meta = walker.meta
    assert meta["env_steps"] == 600 and meta["preset"] == "tiny" and meta["budget"] == "SAC, 0k env steps"
    assert set(meta["measured"]) >= {"success_0.5", "success_0.2", "flipped", "episodes"}
    assert not (out / "checkpoint.json").exists() and not list(out.glob("checkpoint-*"))
    stamp = path.stat().st_mtime_ns
    assert train_walker.train(out, "tiny", seed=0, progress=False) == path and path.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="another run"):
        train_walker.train(out, "tiny", seed=1, progress=False)


def test_exported_walker_acts_as_the_sac_actors_deterministic_action(tiny_run):
    from stable_baselines3 import SAC

    out, path = tiny_run
    model = SAC.load(out / "model.zip", device="cpu")
    walker = AntWalker.load(path)
    obs = np.random.default_rng(0).normal(size=(5, ANT_BODY_DIM + 2)) * 0.5
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(walker.act(obs[:, :-2], obs[:, -2:]), expected, atol=1e-5)
    single = walker.act(obs[0, :-2], obs[0, -2:])
    assert single.shape == (8,) and np.abs(single).max() <= 1.0


def test_far_waypoints_are_pulled_in_to_the_training_range(tiny_run):
    walker = AntWalker.load(tiny_run[1])
    body = np.zeros(ANT_BODY_DIM)
    np.testing.assert_allclose(walker.walker_input(body, [30.0, 40.0])[-2:], [3.0, 4.0])
    np.testing.assert_allclose(walker.walker_input(body, [0.3, 0.4])[-2:], [0.3, 0.4])


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    real_learn_calls = []
    from stable_baselines3 import SAC

    real_learn = SAC.learn

    def learn_then_crash(self, *args, **kwargs):
        if real_learn_calls:
            raise KeyboardInterrupt
        real_learn_calls.append(1)
        return real_learn(self, *args, **kwargs)

    monkeypatch.setattr(SAC, "learn", learn_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_walker.train(tmp_path, "tiny", seed=0, progress=False, final_episodes=2)
    assert (tmp_path / "checkpoint.json").is_file() and (tmp_path / "checkpoint-300").is_dir()
    monkeypatch.setattr(SAC, "learn", real_learn)
    path = train_walker.train(tmp_path, "tiny", seed=0, progress=False, final_episodes=2)
    assert AntWalker.load(path).meta["env_steps"] == 600


def test_missing_corrupt_and_foreign_walker_files_and_bad_inputs_get_clear_errors(tmp_path, tiny_run):
    with pytest.raises(FileNotFoundError, match="train-walker"):
        AntWalker.load(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable"):
        AntWalker.load(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an ant walker"):
        AntWalker.load(tmp_path / "other.pt")
    AntWalker(mlp([5, 8]), {}).save(tmp_path / "small.pt")
    with pytest.raises(ValueError, match="do not map"):
        AntWalker.load(tmp_path / "small.pt")
    walker = AntWalker.load(tiny_run[1])
    with pytest.raises(ValueError, match="body"):
        walker.act(np.zeros(29), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        walker.act(np.full(ANT_BODY_DIM, np.nan), np.zeros(2))


def test_a_run_saved_before_a_setting_existed_resumes_when_it_ran_with_todays_default(tmp_path):
    from dataclasses import asdict

    from agents.sb3_runs import check_same_run

    defaults = asdict(train_walker.WalkerConfig())
    run = {"env": "ant-reach", "seed": 0, "train_config": defaults}
    older = {"env": "ant-reach", "seed": 0, "train_config": {k: v for k, v in defaults.items() if k != "ent_coef"}}
    check_same_run(tmp_path, older, run, defaults)
    with pytest.raises(ValueError, match="another run"):
        check_same_run(tmp_path, older, {**run, "train_config": {**defaults, "ent_coef": "auto_0.1"}}, defaults)
    with pytest.raises(ValueError, match="another run"):
        check_same_run(tmp_path, older, run)  # without the defaults, a missing setting differs


def test_a_finished_walker_shipped_with_its_sac_model_trains_on_to_a_larger_budget(tiny_run, tmp_path):
    out, path = tiny_run
    ship = tmp_path / "shipped" / "walker.pt"
    assert train_walker.main(["--out", str(out), "--preset", "tiny", "--ship", str(ship)]) == 0
    assert ship.is_file() and train_walker.sac_path(ship).is_file()
    more = tmp_path / "more"
    refill = train_walker.REFILL_STEPS
    try:
        train_walker.REFILL_STEPS = 100
        assert train_walker.main(["--out", str(more), "--preset", "tiny", "--env-steps", "1000",
                                  "--from", str(ship)]) == 0
    finally:
        train_walker.REFILL_STEPS = refill
    sac = SAC.load(more / "model.zip")
    assert sac.train_freq.frequency == 2 and sac.gradient_steps == 1  # the preset's, restored after the refill
    meta = AntWalker.load(more / "walker.pt").meta
    assert meta["env_steps"] >= 1000 and meta["preset"] == "tiny"  # 600 + 100 refilled + 300 trained
    assert meta["train_wall_s"] > AntWalker.load(path).meta["train_wall_s"]
    assert not list(more.glob("checkpoint-*"))
    with pytest.raises(SystemExit):  # the folder holds a run now
        train_walker.main(["--out", str(more), "--preset", "tiny", "--from", str(ship)])


def test_a_shipped_walker_trains_on_under_a_task_only_change_with_its_lineage_but_not_under_other_sac_settings(
        tiny_run, tmp_path):
    out, path = tiny_run
    ship = tmp_path / "shipped" / "walker.pt"
    assert train_walker.main(["--out", str(out), "--preset", "tiny", "--ship", str(ship)]) == 0
    tiny = train_walker.get_preset("tiny")
    upright = train_walker.replace(tiny, upright_min=0.0, env_steps=900)
    refill = train_walker.REFILL_STEPS
    try:
        train_walker.REFILL_STEPS = 100
        train_walker.start_from(tmp_path / "up", ship, "tiny", 0, upright)
        walker = train_walker.train(tmp_path / "up", "tiny", config=upright, progress=False, final_episodes=2)
    finally:
        train_walker.REFILL_STEPS = refill
    meta = AntWalker.load(walker).meta
    assert meta["train_config"]["upright_min"] == 0.0 and meta["env_steps"] >= 900
    (parent,) = meta["lineage"]
    assert parent["train_config"]["upright_min"] is None and parent["env_steps"] == AntWalker.load(path).meta["env_steps"]
    with pytest.raises(ValueError, match="learning_rate"):
        train_walker.start_from(tmp_path / "other", ship, "tiny", 0, train_walker.replace(tiny, learning_rate=1e-3))
    with pytest.raises(ValueError, match="net_width"):
        train_walker.start_from(tmp_path / "other", ship, "cpu-progress5-upright")


def test_a_cut_budget_exports_the_live_checkpoint_and_a_finished_run_without_its_model_cannot_grow(
        tmp_path, monkeypatch):
    save = train_walker.save_checkpoint

    def save_then_stop(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_walker, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):  # stopped at the first checkpoint, 300 of 600 steps
        train_walker.train(tmp_path / "run", "tiny", progress=False)
    monkeypatch.setattr(train_walker, "save_checkpoint", save)
    cut = train_walker.replace(train_walker.get_preset("tiny"), env_steps=300)
    path = train_walker.train(tmp_path / "run", "tiny", progress=False, final_episodes=2, config=cut)
    assert AntWalker.load(path).meta["env_steps"] == 300 and not (tmp_path / "run" / "checkpoint.json").exists()
    (tmp_path / "run" / "model.zip").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.zip"):
        train_walker.train(tmp_path / "run", "tiny", progress=False)


def test_the_shipped_walker_loads_acts_and_carries_its_budget_measurement_and_sac_model():
    from envs.ant_walker import SHIPPED_WALKER

    walker = AntWalker.load(SHIPPED_WALKER)
    meta = walker.meta
    assert meta["budget"].startswith("SAC, ") and meta["env_steps"] >= 100_000 and meta["preset"] in train_walker.PRESETS
    assert meta["measured"]["episodes"] == 100 and 0 <= meta["measured"]["success_0.5"] <= 1
    sac = train_walker.sac_path(SHIPPED_WALKER)
    assert sac.is_file() and sac.stat().st_size <= 8 * 2**20 and SHIPPED_WALKER.stat().st_size <= 2**20
    env = AntReachEnv()
    obs, _ = env.reset(seed=0)
    action = walker.act(obs[:-2], obs[-2:])
    assert action.shape == (8,) and np.all(np.abs(action) <= 1)
