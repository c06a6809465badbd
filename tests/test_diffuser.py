"""Diffuser baseline: U-Net shapes, data cutting, inpainting, DDPM step, training/resume, agent protocol."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import envs
from agents import Agent
from agents.diffuser import (
    PRESETS,
    DiffuserAgent,
    DiffuserConfig,
    DiffuserTrainConfig,
    MazeBudget,
    TemporalUNet,
    TrajectoryDiffusion,
    UNetConfig,
    WindowDataset,
    finished_model,
    load_model,
    segment_bounds,
    train,
    window_starts,
)
from agents.diffuser import training as diffuser_training
from dfplan.checkpoint import CheckpointError, atomic_torch_save
from dfplan.noise import NoiseConfig, NoiseSchedule
from envs.collect import collect_stream
from envs.data import MazeArrays
from envs.mazes import MAZES

TINY_UNET = UNetConfig(dim=8, dim_mults=(1, 2), groups=4)
TINY = DiffuserTrainConfig(umaze=MazeBudget(horizon=16, diffusion_steps=8, train_steps=6), batch_size=4,
                           grad_accumulation=2, ema_every=1, ema_start=2, unet=TINY_UNET, checkpoint_every=2,
                           log_every=2)


def _arrays(observations: np.ndarray, actions: np.ndarray) -> MazeArrays:
    """A stream ``observations (N + 1, 4)``, ``actions (N, 2)`` as MazeArrays."""
    n = len(actions)
    return MazeArrays(dataset_id="test", observations=observations[:-1].astype(np.float32),
                      actions=actions.astype(np.float32), rewards=np.zeros(n, np.float32),
                      next_observations=observations[1:].astype(np.float32),
                      goals=np.zeros((n, 2), np.float32), terminals=np.zeros(n, bool), timeouts=np.zeros(n, bool))


@pytest.fixture(scope="module")
def tiny_stream() -> MazeArrays:
    stream = collect_stream(MAZES["umaze"], 1500, seed=0, progress=False)
    return _arrays(stream.observations, stream.actions)


@pytest.fixture(scope="module")
def tiny_model_path(tiny_stream, tmp_path_factory):
    return train("maze2d-umaze-v1", "quick", 0, tmp_path_factory.mktemp("diffuser"), "cpu", TINY,
                 data=tiny_stream, progress=False)


def _tiny_model(horizon: int = 16, levels: int = 8) -> TrajectoryDiffusion:
    torch.manual_seed(0)
    model = TrajectoryDiffusion(DiffuserConfig(horizon=horizon, diffusion_steps=levels, unet=TINY_UNET))
    rng = np.random.default_rng(0)
    return model.fit_normalizer(rng.uniform(-2, 2, (100, 4)), rng.uniform(-1, 1, (100, 2))).eval()


# ---------------------------------------------------------------------- U-Net
@pytest.mark.parametrize("horizon", [128, 256, 384])
def test_unet_output_shape_equals_input_shape_for_maze_horizons(horizon):
    unet = TemporalUNet(6)
    x = torch.randn(1, horizon, 6)
    assert unet(x, torch.tensor([3])).shape == x.shape


def test_unet_has_diffusers_maze2d_size():
    unet = TemporalUNet(6)
    assert [block[0].first[0].out_channels for block in unet.downs] == [32, 128, 256]
    assert 3.5e6 < sum(p.numel() for p in unet.parameters()) < 3.9e6  # Diffuser's maze2d U-Net: ~3.7M


def test_unet_and_config_reject_horizon_not_divisible_by_four():
    with pytest.raises(ValueError, match="divisible by 4"):
        TemporalUNet(6)(torch.randn(1, 130, 6), torch.tensor([1]))
    with pytest.raises(ValueError, match="divisible by 4"):
        DiffuserConfig(horizon=130)


# ---------------------------------------------------------------------- data
def test_segments_start_where_the_agent_leaves_the_goal_ball():
    far, near = [3.0, 3.0], [0.1, 0.0]
    # at goal:      0    1    2     3     4    5    6     7    8
    positions = np.array([far, far, near, near, far, far, near, far, far])
    bounds = segment_bounds(positions, np.zeros(2), radius=0.5)
    assert bounds.tolist() == [[0, 4], [4, 7], [7, 9]]  # timeouts at t=3 and t=6 (entering cuts nothing)
    assert window_starts(bounds, 3).tolist() == [0, 1, 4]  # no window crosses a cut; [7, 9) is too short
    assert window_starts(bounds, 10).tolist() == []
    breaks = np.zeros(9, bool)
    breaks[1] = True  # a discontinuity after step 1 cuts too
    assert segment_bounds(positions, np.zeros(2), 0.5, breaks).tolist() == [[0, 2], [2, 4], [4, 7], [7, 9]]


def test_window_dataset_draws_normalized_windows_inside_segments():
    rng = np.random.default_rng(0)
    positions = np.concatenate([np.linspace([3, 3], [0, 0], 12), np.linspace([0, 0], [3, 0], 9)])
    observations = np.concatenate([positions, rng.normal(size=(21, 2))], axis=1)  # (21, 4): 20 steps
    arrays = _arrays(observations, rng.uniform(-1, 1, (20, 2)))
    model = TrajectoryDiffusion(DiffuserConfig(horizon=4, diffusion_steps=4, unet=TINY_UNET))
    model.fit_normalizer(arrays.observations, arrays.actions)
    dataset = WindowDataset(arrays, np.zeros(2), model)
    segments = dataset.bounds.tolist()
    assert len(segments) == 2 and segments[0][0] == 0 and segments[-1][1] == 20
    windows = dataset.sample(64, torch.Generator().manual_seed(0))
    assert windows.shape == (64, 4, 6)
    assert windows.min() >= -1 - 1e-6 and windows.max() <= 1 + 1e-6
    raw = model.normalizer.unnormalize(windows).numpy()
    starts = np.array([np.flatnonzero(np.all(np.isclose(arrays.actions, w[0, :2], atol=1e-5), axis=1))[0] for w in raw])
    assert all(any(a <= s and s + 4 <= b for a, b in segments) for s in starts)
    np.testing.assert_allclose(raw[:, :, 2:], arrays.observations[starts[:, None] + np.arange(4)], atol=1e-5)
    with pytest.raises(ValueError, match="no training windows"):
        WindowDataset(arrays, np.zeros(2), TrajectoryDiffusion(DiffuserConfig(horizon=16, diffusion_steps=4, unet=TINY_UNET)).fit_normalizer(arrays.observations, arrays.actions))


def test_limits_normalizer_maps_dataset_range_to_unit_interval():
    rng = np.random.default_rng(1)
    observations, actions = rng.uniform(-3, 5, (50, 4)), rng.uniform(-1, 1, (50, 2))
    model = TrajectoryDiffusion(DiffuserConfig(horizon=8, diffusion_steps=4, unet=TINY_UNET))
    model.fit_normalizer(observations, actions)
    normalized = model.normalizer.normalize(torch.tensor(np.concatenate([actions, observations], 1), dtype=torch.float32))
    np.testing.assert_allclose(normalized.min(0).values, -1, atol=1e-5)
    np.testing.assert_allclose(normalized.max(0).values, 1, atol=1e-5)


# ---------------------------------------------------------------------- diffusion
def test_ancestral_step_is_the_ddpm_posterior_sample():
    schedule = NoiseSchedule(NoiseConfig(levels=64, beta_schedule="cosine", prediction="x0"))
    x, x0 = torch.randn(2, 5, 6, dtype=torch.float64), torch.randn(2, 5, 6, dtype=torch.float64)
    k = 40
    levels = torch.full((2, 5), k)
    stepped = schedule.step(x, x0, levels, levels - 1, eta=1.0, generator=torch.Generator().manual_seed(0))
    ab, ab_prev, beta = schedule.alpha_bar[k], schedule.alpha_bar[k - 1], schedule.betas[k]
    mean = beta * ab_prev.sqrt() / (1 - ab) * x0 + (1 - ab_prev) * (1 - beta).sqrt() / (1 - ab) * x  # DDPM eq. 7
    std = ((1 - ab_prev) / (1 - ab) * beta).sqrt()
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(stepped, mean + std * w)


def test_inpainting_fixes_start_and_goal_in_sampled_plans():
    model = _tiny_model()
    start = torch.tensor([[0.5, -1.0, 0.3, -0.2], [1.5, 1.0, 0.0, 0.1]])
    goal = torch.tensor([[1.0, 1.0], [-1.5, 0.5]])
    plan = model.plan(start, goal, torch.Generator().manual_seed(0))  # (2, 16, 6) raw
    assert plan.shape == (2, 16, 6)
    torch.testing.assert_close(plan[:, 0, 2:], start, atol=1e-5, rtol=0)
    torch.testing.assert_close(plan[:, -1, 2:4], goal, atol=1e-5, rtol=0)
    torch.testing.assert_close(plan[:, -1, 4:], torch.zeros(2, 2), atol=1e-5, rtol=0)


def test_loss_is_conditioned_mse_on_x0():
    model = _tiny_model()
    x0 = torch.rand(3, 16, 6) * 2 - 1
    loss = model.loss(x0, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    with pytest.raises(ValueError, match="expected windows"):
        model.loss(torch.zeros(3, 8, 6))


# ---------------------------------------------------------------------- presets and training
def test_full_preset_is_diffusers_maze2d_budget_and_quick_is_smaller():
    full, quick, cpu = PRESETS["full"], PRESETS["quick"], PRESETS["cpu"]
    for maze in MAZES:  # the CPU preset: the paper's horizons, levels, batch and EMA schedule on a small U-Net
        assert (cpu.for_maze(maze).horizon, cpu.for_maze(maze).diffusion_steps) == (full.for_maze(maze).horizon,
                                                                                    full.for_maze(maze).diffusion_steps)
    assert (cpu.batch_size, cpu.ema_decay, cpu.ema_every, cpu.ema_start) == (32, 0.995, 10, 2000)
    assert cpu.unet.dim < full.unet.dim and cpu.holdout_fraction > 0
    assert [(full.for_maze(m).horizon, full.for_maze(m).diffusion_steps) for m in MAZES] == [(128, 64), (256, 256), (384, 256)]
    assert all(full.for_maze(m).train_steps == 2_000_000 for m in MAZES)
    assert (full.batch_size, full.grad_accumulation, full.lr, full.ema_decay) == (32, 2, 2e-4, 0.995)
    for maze in MAZES:
        assert quick.for_maze(maze).horizon == full.for_maze(maze).horizon
        assert quick.for_maze(maze).train_steps < full.for_maze(maze).train_steps
    assert diffuser_training.budget_text(full, "large") == "2M gradient steps × batch 64 (32 × 2 accumulated)"
    long = PRESETS["cpu-long"]  # the cpu preset, five times as long
    assert long == cpu.with_train_steps(150_000) and long.unet == cpu.unet
    assert all(long.for_maze(m).train_steps == 5 * cpu.for_maze(m).train_steps for m in MAZES)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        cpu.with_train_steps(0)
    with pytest.raises(ValueError, match="unknown preset"):
        diffuser_training.get_preset("slow")
    with pytest.raises(ValueError, match="unknown maze"):
        full.for_maze("huge")


def test_train_writes_self_describing_model(tiny_model_path):
    model, meta = load_model(tiny_model_path)
    assert finished_model(tiny_model_path.parent) == tiny_model_path
    assert meta["agent"] == "diffuser" and meta["env"] == "maze2d-umaze-v1"
    assert (meta["preset"], meta["seed"], meta["steps_done"]) == ("quick", 0, 6)
    assert meta["train_wall_s"] > 0 and "6 gradient steps" in meta["budget"]
    assert meta["train_config"]["umaze"]["horizon"] == 16 and meta["n_windows"] > 0
    assert model.config.horizon == 16 and model.config.unet == TINY_UNET
    assert not (tiny_model_path.parent / "train_state.pt").exists()


def test_finished_run_is_returned_without_training_and_other_runs_are_refused(tiny_model_path, tiny_stream, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(diffuser_training, "WindowDataset", fail)
    before = tiny_model_path.stat().st_mtime_ns
    # multi2d maps to the same maze2d model
    assert train("multi2d-umaze-v1", "quick", 0, tiny_model_path.parent, "cpu", TINY, data=tiny_stream) == tiny_model_path
    assert tiny_model_path.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="another Diffuser run"):
        train("maze2d-umaze-v1", "quick", 1, tiny_model_path.parent, "cpu", TINY, data=tiny_stream)


def test_ema_is_a_copy_of_the_weights_before_its_start_step_then_an_average_every_few_steps():
    config = dataclasses.replace(TINY, ema_every=10, ema_start=20, ema_decay=0.9)
    model, ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.weight.fill_(0.0)
    diffuser_training._update_ema(ema, model, 5, config)  # not an EMA step: untouched
    assert torch.equal(ema.weight, torch.zeros(2, 3))
    diffuser_training._update_ema(ema, model, 10, config)  # before ema_start: a copy
    assert torch.equal(ema.weight, model.weight)
    with torch.no_grad():
        model.weight.fill_(3.0)
    diffuser_training._update_ema(ema, model, 25, config)  # after ema_start but off the schedule
    assert torch.equal(ema.weight, torch.ones(2, 3))
    diffuser_training._update_ema(ema, model, 20, config)  # from ema_start: decay 0.9 towards the weights
    assert torch.allclose(ema.weight, torch.full((2, 3), 0.9 * 1.0 + 0.1 * 3.0))


def test_interrupted_training_resumes_to_the_same_model(tiny_stream, tmp_path, monkeypatch):
    reference = train("maze2d-umaze-v1", "quick", 0, tmp_path / "straight", "cpu", TINY, data=tiny_stream, progress=False)
    update = diffuser_training._update_ema

    def crash_at_step_4(ema, model, step, config):
        if step == 4:
            raise KeyboardInterrupt
        update(ema, model, step, config)

    monkeypatch.setattr(diffuser_training, "_update_ema", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train("maze2d-umaze-v1", "quick", 0, tmp_path / "resumed", "cpu", TINY, data=tiny_stream, progress=False)
    assert torch.load(tmp_path / "resumed" / "train_state.pt", weights_only=True)["step"] == 4
    assert finished_model(tmp_path / "resumed") is None
    monkeypatch.setattr(diffuser_training, "_update_ema", update)
    resumed = train("maze2d-umaze-v1", "quick", 0, tmp_path / "resumed", "cpu", TINY, data=tiny_stream, progress=False)
    expected, got = load_model(reference)[0].state_dict(), load_model(resumed)[0].state_dict()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)

    def curve(run):
        return [(row["step"], row["loss"]) for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]

    assert curve(tmp_path / "resumed") == curve(tmp_path / "straight")
    assert [step for step, _ in curve(tmp_path / "resumed")] == [2, 4, 6]  # no line twice after the resume


def test_held_out_windows_never_overlap_training_windows(tiny_stream):
    model = TrajectoryDiffusion(DiffuserConfig(horizon=16, diffusion_steps=8, unet=TINY_UNET))
    model.fit_normalizer(tiny_stream.observations, tiny_stream.actions)
    windows = WindowDataset(tiny_stream, MAZES["umaze"].goal_xy, model)
    training, held_out = windows.split(0.1)
    boundary = round(len(tiny_stream) * 0.9)
    assert (training.starts + 16 <= boundary).all() and (held_out.starts >= boundary).all()
    assert len(training) + len(held_out) <= len(windows) and len(held_out) > 0
    assert windows.split(0.0) == (windows, None)
    with pytest.raises(ValueError, match="leaves a side without 16-step windows"):
        windows.split(0.001)


def test_denoising_diagnostic_compares_the_model_with_the_identity_per_level(tiny_stream):
    model = TrajectoryDiffusion(DiffuserConfig(horizon=16, diffusion_steps=8, unet=TINY_UNET))
    model.fit_normalizer(tiny_stream.observations, tiny_stream.actions)
    windows = WindowDataset(tiny_stream, MAZES["umaze"].goal_xy, model)
    rows = diffuser_training.denoising_diagnostic(model, windows, seed=3, batch_size=8)
    assert [row["level"] for row in rows] == [1, 2, 4, 8]
    identity = [row["identity"] for row in rows]
    assert identity == sorted(identity) and identity[0] < 0.1 < 0.5 < identity[-1]  # near x0 at level 1, noise at K
    assert rows == diffuser_training.denoising_diagnostic(model, windows, seed=3, batch_size=8)  # fixed windows, noise
    x0 = windows.sample(4, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="level must be in \\[1, 8\\]"):
        model.x0_errors(x0, 0)


def test_a_run_with_a_held_out_part_logs_the_diagnostic(tiny_stream, tmp_path):
    config = dataclasses.replace(TINY, holdout_fraction=0.1, diagnose_every=2)
    path = train("maze2d-umaze-v1", "cpu", 0, tmp_path / "run", "cpu", config, data=tiny_stream, progress=False,
                 snapshot_minutes=(0, 1e6))
    (snapshot,) = (tmp_path / "run" / "snapshots").iterdir()  # the first mark passed at step 1, the second never
    assert snapshot.name == "model-0min.pt" and load_model(snapshot)[1]["steps_done"] == 1
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4, 6] and all(len(row["ema_x0_mse"]) == 4 for row in rows)
    meta = load_model(path)[1]
    assert meta["diagnostic"]["windows"] == "held out" and meta["diagnostic"]["ema_x0_mse"] == rows[-1]["ema_x0_mse"]


# ---------------------------------------------------------------------- agent
def _episode(env, agent, seed, agent_seed=None):
    obs, _ = env.reset(seed=seed)
    agent.reset(seed=seed if agent_seed is None else agent_seed)
    actions = []
    while True:
        action = agent.act(obs)
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return np.array(actions), info


@pytest.mark.parametrize("mode", ["track", "diffused"])
def test_agent_runs_a_full_episode_in_a_plain_loop(tiny_model_path, mode):
    agent = DiffuserAgent.load(tiny_model_path, "cpu", actions=mode)
    assert isinstance(agent, Agent) and agent.meta["env"] == "maze2d-umaze-v1"
    actions, info = _episode(envs.make("maze2d-umaze-v1"), agent, seed=0)
    assert actions.shape == (300, 2) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 1) and "first_reach_step" in info
    latency = agent.latency_ms()
    assert latency["act_ms"] > 0 and latency["replan_ms"] > latency["act_ms"]


def test_agent_works_with_sb3_evaluate_policy(tiny_model_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    vec_env = make_vec_env(lambda: envs.make("multi2d-umaze-v1"), n_envs=2, seed=0)
    mean_return, _ = evaluate_policy(DiffuserAgent.load(tiny_model_path, "cpu"), vec_env, n_eval_episodes=2)
    assert np.isfinite(mean_return)


def test_vector_env_batch_is_planned_in_one_sampling_call(tiny_model_path, monkeypatch):
    import gymnasium

    agent = DiffuserAgent.load(tiny_model_path, "cpu")
    calls = []
    plan = agent.model.plan
    monkeypatch.setattr(agent.model, "plan", lambda start, goal, generator: calls.append(len(start)) or plan(start, goal, generator))
    vec_env = gymnasium.vector.SyncVectorEnv([lambda: envs.make("multi2d-umaze-v1")] * 3)
    obs, _ = vec_env.reset(seed=0)
    for _ in range(5):
        actions = agent.act(obs)
        assert actions.shape == (3, 2) and actions.dtype == np.float32 and np.all(np.abs(actions) <= 1)
        obs, *_ = vec_env.step(actions)
    assert calls == [3]
    goals = np.array([plan[-1, :2] for plan in agent.current_plan()])
    np.testing.assert_allclose(goals, obs["desired_goal"], atol=1e-5)  # each env planned to its own goal
    agent.predict(obs, episode_start=np.array([False, True, False]))
    assert calls == [3, 1]
    vec_env.close()


def test_agent_is_deterministic_for_a_seed_and_round_trips_through_a_file(tiny_model_path, tmp_path):
    env = envs.make("multi2d-umaze-v1")
    first, _ = _episode(env, DiffuserAgent.load(tiny_model_path, "cpu"), seed=4)
    again, _ = _episode(env, DiffuserAgent.load(tiny_model_path, "cpu"), seed=4)
    np.testing.assert_array_equal(first, again)
    model, meta = load_model(tiny_model_path)
    diffuser_training.save_model(tmp_path / "copy.pt", model, meta)
    copied, _ = _episode(env, DiffuserAgent.load(tmp_path / "copy.pt", "cpu"), seed=4)
    np.testing.assert_array_equal(first, copied)
    other, _ = _episode(env, DiffuserAgent.load(tiny_model_path, "cpu"), seed=4, agent_seed=5)
    assert not np.array_equal(first[:20], other[:20])


def _agent_with_plan(mode: str) -> tuple[DiffuserAgent, np.ndarray]:
    agent = DiffuserAgent(_tiny_model(horizon=4, levels=2), actions=mode, default_goal=np.zeros(2))
    rng = np.random.default_rng(0)
    plan = np.concatenate([rng.uniform(-1, 1, (4, 2)), rng.uniform(-0.05, 0.05, (4, 4))], axis=1)  # (H, [a, o])
    agent._sample = lambda states, goals: np.repeat(plan[None], len(states), axis=0)
    return agent, plan


def test_track_mode_steers_to_the_next_planned_state_then_holds_at_the_goal():
    agent, plan = _agent_with_plan("track")
    state = np.array([0.01, -0.02, 0.03, 0.0])
    for t in range(6):
        next_state = plan[t + 1, 2:] if t < 3 else np.array([*plan[3, 2:4], 0.0, 0.0])
        expected = (next_state[:2] - state[:2]) + (next_state[2:] - state[2:])
        np.testing.assert_allclose(agent.act(state), expected, atol=1e-6)


def test_diffused_mode_executes_the_planned_actions_then_holds():
    agent, plan = _agent_with_plan("diffused")
    state = np.array([0.01, -0.02, 0.03, 0.0])
    for t in range(4):
        np.testing.assert_allclose(agent.act(state), plan[t, :2], atol=1e-6)
    hold = np.array([*plan[3, 2:4], 0.0, 0.0])
    np.testing.assert_allclose(agent.act(state), (hold[:2] - state[:2]) - state[2:], atol=1e-6)


def test_agent_replans_after_a_position_jump_or_reset_env():
    agent, _ = _agent_with_plan("track")
    agent.act(np.zeros(4))
    agent.act(np.zeros(4))
    assert agent._plans[0].step == 2
    agent.act(np.array([0.5, 0.0, 0.0, 0.0]))  # jumped > 0.3: a new episode
    assert agent._plans[0].step == 1
    agent.reset_env(0)
    agent.act(np.array([0.5, 0.0, 0.0, 0.0]))
    assert agent._plans[0].step == 1


def test_bad_inputs_and_files_get_clear_errors(tiny_model_path, tmp_path):
    agent = DiffuserAgent.load(tiny_model_path, "cpu")
    env = envs.make("maze2d-umaze-v1")
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        agent.act(env.reset(seed=0))
    with pytest.raises(ValueError, match="NaN"):
        agent.act(np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros(5))
    with pytest.raises(ValueError, match="unknown actions"):
        DiffuserAgent.load(tiny_model_path, "cpu", actions="teleport")
    with pytest.raises(FileNotFoundError):
        DiffuserAgent.load(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="corrupt"):
        DiffuserAgent.load(tmp_path / "corrupt.pt")
    atomic_torch_save({"format": "dfplan.diffusion_forcing", "version": 1, "meta": {"agent": "df"}}, tmp_path / "df.pt")
    with pytest.raises(ValueError, match="not a Diffuser model"):
        DiffuserAgent.load(tmp_path / "df.pt")
    data = torch.load(tiny_model_path, weights_only=True)
    data["config"] = {**data["config"], "obs_dim": 5}
    atomic_torch_save(data, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="incompatible"):
        DiffuserAgent.load(tmp_path / "mismatch.pt")
