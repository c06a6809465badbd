"""The inverse-dynamics head: what it learns, its file, and the planner's native-action mode."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

import envs
from dfplan import cli
from dfplan.checkpoint import CheckpointError
from dfplan.data import Trajectories
from dfplan.inverse_dynamics import (
    InverseDynamics,
    InverseDynamicsConfig,
    fit_inverse_dynamics,
    load_inverse_dynamics,
    save_inverse_dynamics,
)
from dfplan.planner import DFPlanner, PlannerConfig
from dfplan.sampler import SamplerConfig

SMALL = InverseDynamicsConfig(max_lead=4, hidden=64, steps=600, batch_size=256, lr=3e-3)


def point_mass(steps: int = 6000, seed: int = 0) -> Trajectories:
    """A 1-D point mass ``v' = v + 0.1 a, x' = x + 0.1 v'`` under random actions: its one-step
    inverse dynamics is exactly ``a = 10 (v' − v)``."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (steps, 1)).astype(np.float32)
    obs = np.zeros((steps + 1, 2), np.float32)
    for t in range(steps):
        v = obs[t, 1] + 0.1 * actions[t, 0]
        obs[t + 1] = (obs[t, 0] + 0.1 * v, v)
    return Trajectories(obs, actions, np.zeros(steps, np.float32), np.array([steps]))


@pytest.fixture(scope="module")
def fitted():
    return fit_inverse_dynamics(point_mass(), SMALL)


def test_it_recovers_the_action_that_made_a_step(fitted):
    errors = fitted.meta["heldout_error"]
    assert errors["lead1_rms"] < 0.25 * errors["mean_action_rms"]  # far better than guessing the mean action
    data = point_mass(200, seed=1)
    predicted = fitted.act(data.observations[:-1], data.observations[1:], 1)
    assert np.sqrt(np.mean((predicted - data.actions) ** 2)) < 0.2


def test_a_farther_target_in_the_same_direction_asks_for_a_push_that_way(fitted):
    at_rest = np.zeros((1, 2), np.float32)
    ahead = np.array([[0.5, 0.0]], np.float32)
    behind = -ahead
    assert fitted.act(at_rest, ahead, 4)[0, 0] > 0 > fitted.act(at_rest, behind, 4)[0, 0]


def test_it_saves_and_loads_to_identical_actions_and_rejects_bad_files(fitted, tmp_path):
    path = tmp_path / "m.inverse.pt"
    save_inverse_dynamics(path, fitted, fitted.meta)
    loaded = load_inverse_dynamics(path)
    obs, target = np.random.default_rng(0).normal(size=(2, 5, 2)).astype(np.float32)
    assert np.array_equal(loaded.act(obs, target, 3), fitted.act(obs, target, 3))
    assert loaded.meta["heldout_error"] == fitted.meta["heldout_error"]
    with pytest.raises(FileNotFoundError):
        load_inverse_dynamics(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(CheckpointError):
        load_inverse_dynamics(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a dfplan inverse-dynamics"):
        load_inverse_dynamics(tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="obs and target"):
        fitted(torch.zeros(3, 2), torch.zeros(3, 3), torch.ones(3))


def test_a_head_shown_only_the_targets_position_ignores_the_rest_of_it(tmp_path):
    head = fit_inverse_dynamics(point_mass(), dataclasses.replace(SMALL, target_dims=1))
    at_rest = np.zeros((2, 2), np.float32)
    ahead = np.array([[0.5, 0.0], [0.5, -3.0]], np.float32)  # the same position, different target velocities
    actions = head.act(at_rest, ahead, 4)
    assert actions[0, 0] == pytest.approx(actions[1, 0], abs=1e-6)
    assert actions[0, 0] > 0 > head.act(at_rest, -ahead, 4)[0, 0]
    save_inverse_dynamics(tmp_path / "x.inverse.pt", head, head.meta)
    loaded = load_inverse_dynamics(tmp_path / "x.inverse.pt")
    assert loaded.config.target_dims == 1
    np.testing.assert_allclose(loaded.act(at_rest, ahead, 4), actions, atol=1e-6)
    with pytest.raises(ValueError, match="target_dims=3 exceeds"):
        InverseDynamics(dataclasses.replace(SMALL, target_dims=3), 2, 1)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="target_dims"):
        InverseDynamicsConfig(target_dims=-1)
    with pytest.raises(ValueError):
        InverseDynamicsConfig(max_lead=0)
    with pytest.raises(ValueError):
        InverseDynamicsConfig(holdout=1.0)
    with pytest.raises(ValueError, match="max_lead"):
        fit_inverse_dynamics(point_mass(3), SMALL)


def test_train_inverse_command_writes_a_loadable_head(tmp_path):
    point_mass(2000).save(tmp_path / "data.npz")
    code = cli.main(["train-inverse", "--data", str(tmp_path / "data.npz"), "--out", str(tmp_path / "x.inverse.pt"),
                     "--device", "cpu", "--inverse.steps", "20", "--inverse.max_lead", "3"])
    assert code == 0
    model = load_inverse_dynamics(tmp_path / "x.inverse.pt")
    assert model.config.max_lead == 3 and "python -m dfplan train-inverse" in model.meta["command"]


def test_the_planner_acts_through_the_head_beside_its_checkpoint(tiny_maze_checkpoint, umaze_data, tmp_path):
    checkpoint = tmp_path / "maze.pt"
    shutil.copy(tiny_maze_checkpoint, checkpoint)
    config = PlannerConfig(horizon=4, replan_every=10, action_mode="inverse", inverse_lead=3,
                           sampler=SamplerConfig(num_steps=3, schedule="full_sequence"))
    with pytest.raises(FileNotFoundError, match=r"maze\.inverse\.pt.*train-inverse"):
        DFPlanner.load(checkpoint, device="cpu", config=config)
    head = fit_inverse_dynamics(umaze_data, dataclasses.replace(SMALL, steps=50))
    save_inverse_dynamics(tmp_path / "maze.inverse.pt", head)
    env = envs.make("maze2d-umaze-v1")
    planner = DFPlanner.load(checkpoint, device="cpu", config=config, env=env)
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    action = planner.act(obs)
    plan = planner.current_plan()[0]
    expected = np.clip(head.act(obs["observation"][None], plan[2][None], 3)[0], -1, 1)
    assert np.allclose(action, expected, atol=1e-5)  # the head's action towards the planned obs 3 steps ahead
    actions, _ = planner.predict({k: v[None] for k, v in obs.items()}, episode_start=np.array([True]))
    assert actions.shape == (1, 2) and np.isfinite(actions).all()
    assert planner.with_config(config).inverse is planner.inverse  # kept across with_config
    faster = planner.with_config(dataclasses.replace(config, inverse_tempo=1.5))
    faster.reset(seed=0)
    action = faster.act(obs)
    assert np.allclose(faster.current_plan()[0], plan)  # the same plan ...
    expected = np.clip(head.act(obs["observation"][None], plan[2][None], 2)[0], -1, 1)
    assert np.allclose(action, expected, atol=1e-5)  # ... asked of the head in 3 / 1.5 = 2 steps
    at_goal = {**obs, "desired_goal": obs["observation"][:2]}
    far = {**obs, "desired_goal": obs["observation"][:2] + 5.0}
    for goal_obs, lead in ((at_goal, 3), (far, 2)):  # tempo_fade: the plain lead at the goal, lead / tempo far from it
        faded = planner.with_config(dataclasses.replace(config, inverse_tempo=1.5, tempo_fade=0.1))
        faded.reset(seed=0)
        action = faded.act(goal_obs)
        target = faded.current_plan()[0][2]
        expected = np.clip(head.act(obs["observation"][None], target[None], lead)[0], -1, 1)
        assert np.allclose(action, expected, atol=1e-5), lead
    with pytest.raises(ValueError, match="inverse_tempo"):
        PlannerConfig(action_mode="inverse", inverse_tempo=0.0)
    with pytest.raises(ValueError, match="tempo_fade"):
        PlannerConfig(action_mode="inverse", tempo_fade=-1.0)
    with pytest.raises(ValueError, match="inverse_lead"):
        PlannerConfig(action_mode="inverse", inverse_lead=0)
    wide = InverseDynamics(SMALL, obs_dim=6, action_dim=2)
    save_inverse_dynamics(tmp_path / "wide.inverse.pt", wide)
    with pytest.raises(ValueError, match="observations 6"):
        DFPlanner.load(checkpoint, device="cpu", config=config, inverse_model=str(tmp_path / "wide.inverse.pt"))


def test_pd_near_tracks_the_plan_by_pd_at_the_goal_and_keeps_the_head_away_from_it(tiny_maze_checkpoint, umaze_data,
                                                                                     tmp_path):
    checkpoint = tmp_path / "maze.pt"
    shutil.copy(tiny_maze_checkpoint, checkpoint)
    save_inverse_dynamics(tmp_path / "maze.inverse.pt", fit_inverse_dynamics(umaze_data, dataclasses.replace(SMALL, steps=50)))
    config = PlannerConfig(horizon=4, replan_every=10, action_mode="inverse", inverse_lead=3, pd_near=0.5,
                           sampler=SamplerConfig(num_steps=3, schedule="full_sequence"))
    env = envs.make("maze2d-umaze-v1")
    obs, _ = env.reset(seed=0)
    state = obs["observation"]
    at_goal, far = {**obs, "desired_goal": state[:2] + 0.1}, {**obs, "desired_goal": state[:2] + 3.0}
    for goal_obs, mode in ((at_goal, "pd"), (far, "inverse")):
        planner = DFPlanner.load(checkpoint, device="cpu", config=config, env=env)
        plain = planner.with_config(dataclasses.replace(config, pd_near=0.0, action_mode=mode))
        planner.reset(seed=0)
        plain.reset(seed=0)
        action, expected = planner.act(goal_obs), plain.act(goal_obs)
        assert np.allclose(planner.current_plan()[0], plain.current_plan()[0])  # the same plan ...
        assert np.allclose(action, expected, atol=1e-6), mode  # ... acted on as `mode` would
    target = planner.current_plan()[0][0]
    batch = {key: np.stack([at_goal[key], far[key]]) for key in obs}
    planner.reset(seed=0)
    both = planner.act(batch)  # one batch: env 0 by PD, env 1 by the head
    target = planner.current_plan()[0][0]
    pd = np.clip(10.0 * (target[:2] - state[:2]) + 1.0 * (target[2:4] - state[2:4]), -1, 1)
    assert np.allclose(both[0], pd, atol=1e-5)
    with pytest.raises(ValueError, match="pd_near must be >= 0"):
        PlannerConfig(action_mode="inverse", pd_near=-1.0)
    with pytest.raises(ValueError, match="action_mode='inverse'"):
        PlannerConfig(action_mode="pd", pd_near=0.5)
    steps = planner._envs[0].steps
    with pytest.raises(ValueError, match="pd_near needs dict observations"):
        planner.act(state)
    assert planner._envs[0].steps == steps  # refused before any episode state changed


def test_shipped_planners_have_an_inverse_head():
    for name in ("maze2d-umaze-v1", "maze2d-medium-v1", "maze2d-large-v1"):
        planner = DFPlanner.load(name, device="cpu", action_mode="inverse")
        assert planner.inverse.config.max_lead >= planner.config.inverse_lead
