"""DFPlanner: the agent protocol, batching, determinism, options and bad input."""

import dataclasses

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy

import envs
from agents.protocol import Agent
from dfplan.checkpoint import CheckpointError, save_checkpoint
from dfplan.planner import DFPlanner, PlannerConfig, shipped_names
from dfplan.sampler import SamplerConfig

FAST = PlannerConfig(horizon=4, sampler=SamplerConfig(num_steps=3, schedule="pyramid", guidance_scale=1.0))


@pytest.fixture
def planner(tiny_maze_checkpoint):
    return DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=FAST)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_runs_a_full_episode_in_a_plain_loop(planner, env_id):
    env = envs.make(env_id)
    planner = planner.with_config(dataclasses.replace(FAST, replan_every=40))  # the whole 4-token plan
    planner.check_env(env)
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    steps = 0
    while True:
        action = planner.act(obs)
        assert action.shape == (2,) and action.dtype == np.float32
        assert np.all(action >= -1) and np.all(action <= 1)
        obs, _, terminated, truncated, _ = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    assert steps == env.spec.max_episode_steps
    assert isinstance(planner, Agent)


def test_sb3_evaluate_policy_runs_it_unchanged(planner):
    env = envs.make("maze2d-umaze-v1")
    mean, std = evaluate_policy(planner, env, n_eval_episodes=1, deterministic=True)
    assert np.isfinite(mean) and np.isfinite(std)


def test_acts_on_a_batch_from_a_vector_env(planner):
    vec = gymnasium.vector.SyncVectorEnv([lambda: envs.make("multi2d-umaze-v1") for _ in range(3)])
    obs, _ = vec.reset(seed=0)
    for _ in range(12):  # crosses a replan
        actions = planner.act(obs)
        assert actions.shape == (3, 2)
        obs, *_ = vec.step(actions)
    plan = planner.plan(obs)
    assert plan.observations.shape == (3, 40, 4) and plan.actions.shape == (3, 40, 2) and plan.goal.shape == (3, 2)


def test_a_batch_rows_plan_does_not_depend_on_the_other_rows(planner):
    env = envs.make("maze2d-umaze-v1")
    first, second, third = (env.reset(seed=seed)[0] for seed in (0, 1, 2))

    def plan_of_first(other):
        batch = {key: np.stack([first[key], other[key]]) for key in first}
        planner.reset(seed=0)
        return planner.plan(batch).observations[0]

    # guided sampling differentiates a batch's summed cost: each row's gradient must stay its own
    np.testing.assert_array_equal(plan_of_first(second), plan_of_first(third))


def test_agreement_weight_picks_the_candidate_closest_to_the_rest_of_the_previous_plan(tiny_maze_checkpoint):
    def disagreement_at_second_plan(weight):
        config = dataclasses.replace(FAST, candidates=4, agreement_weight=weight)
        planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config)
        env = envs.make("maze2d-umaze-v1")
        obs, _ = env.reset(seed=0)
        planner.reset(seed=0)
        plans = []
        for _ in range(config.replan_every + 1):  # the first plan, then the replan after replan_every steps
            obs, *_ = env.step(planner.act(obs))
            plans.append(planner.current_plan()[0])
        rest, new = plans[0][config.replan_every :, :2], plans[-1][:, :2]
        steps = min(len(rest), len(new))
        return float(((new[:steps] - rest[:steps]) ** 2).sum(-1).mean())

    # the same candidates are drawn either way (ranking draws no noise): the weighted choice agrees most
    assert disagreement_at_second_plan(1e6) < disagreement_at_second_plan(0.0)
    with pytest.raises(ValueError, match="agreement_weight must be >= 0"):
        dataclasses.replace(FAST, agreement_weight=1.0)  # one candidate: nothing to rank
    with pytest.raises(ValueError, match="agreement_weight must be >= 0"):
        dataclasses.replace(FAST, candidates=2, agreement_weight=-1.0)
    with pytest.raises(ValueError, match="anchor_dims=9 exceeds"):
        DFPlanner.load(tiny_maze_checkpoint, device="cpu",
                       config=dataclasses.replace(FAST, candidates=2, agreement_weight=1.0, anchor_dims=9))


def run(planner, seed, steps=25):
    env = envs.make("maze2d-umaze-v1")
    obs, _ = env.reset(seed=3)
    planner.reset(seed=seed)
    actions = []
    for _ in range(steps):
        actions.append(planner.act(obs))
        obs, *_ = env.step(actions[-1])
    return np.array(actions)


def test_same_seed_gives_the_same_actions(planner):
    np.testing.assert_array_equal(run(planner, 1), run(planner, 1))
    assert not np.array_equal(run(planner, 1), run(planner, 2))


def test_save_load_round_trip_gives_identical_actions(planner, tmp_path):
    save_checkpoint(tmp_path / "copy.pt", planner.model, meta={"planner": planner.planner_meta()})
    loaded = DFPlanner.load(tmp_path / "copy.pt", device="cpu")
    assert loaded.config == planner.config  # the planner settings travel with the checkpoint
    np.testing.assert_array_equal(run(loaded, 5), run(planner, 5))


@pytest.mark.parametrize(
    "change",
    [
        {"sampler": SamplerConfig(num_steps=3, schedule="pyramid", guidance_scale=1.0)},  # paper-style
        {"sampler": SamplerConfig(num_steps=3, schedule="full_sequence", guidance_scale=1.0)},
        {"action_mode": "diffused"},
        {"action_mode": "pursuit"},
        {"action_mode": "feedforward"},
        {"history_tokens": 2},
        {"to_episode_end": True, "max_horizon": 6},
        {"candidates": 3},
        {"guidance": "none"},
        {"warm_start": 2},
    ],
)
def test_planner_options_all_run(tiny_maze_checkpoint, change):
    config = dataclasses.replace(FAST, replan_every=10, **change)
    planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config, env=envs.make("maze2d-umaze-v1"))
    actions = run(planner, 0, steps=35)
    assert actions.shape == (35, 2) and np.isfinite(actions).all()
    assert planner.latency_ms()["replan_ms"] > 0


def test_monte_carlo_guidance_changes_the_plan(tiny_maze_checkpoint):
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    plans = []
    for samples in (1, 4):
        config = dataclasses.replace(FAST, sampler=dataclasses.replace(FAST.sampler, mcg_samples=samples))
        planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config)
        plans.append(planner.plan(obs).observations)
    assert not np.allclose(plans[0], plans[1])


def test_warm_start_carries_the_unexecuted_plan_over_to_the_next_replan(tiny_maze_checkpoint, monkeypatch):
    import dfplan.planner as planner_module

    calls, real_sample = [], planner_module.sample

    def recording_sample(*args, **kwargs):
        calls.append(kwargs)
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(planner_module, "sample", recording_sample)
    env = envs.make("maze2d-umaze-v1")
    config = dataclasses.replace(FAST, replan_every=10, warm_start=2)
    planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config)
    obs, _ = env.reset(seed=0)
    planner.reset(seed=0)
    for _ in range(10):
        obs, *_ = env.step(planner.act(obs))
    old_tokens = planner._envs[0].plan_tokens
    planner.act(obs)  # the replan
    first, second = calls
    assert first["init"] is None and first["matrix"] is None  # nothing to carry over yet: a cold plan
    kept = FAST.horizon - 1  # one token (10 steps) was executed
    np.testing.assert_allclose(second["init"][0, :kept].numpy(), old_tokens[1:], rtol=1e-6)
    assert second["matrix"].shape == (3, FAST.horizon)  # warm_start=2: two rows instead of num_steps=3
    with pytest.raises(ValueError, match="multiple of frame_stack"):
        DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=dataclasses.replace(FAST, replan_every=5, warm_start=1))
    with pytest.raises(ValueError, match="warm_start must be in"):
        dataclasses.replace(FAST, warm_start=4)


def test_pursuit_aims_lookahead_ahead_along_the_plan_and_never_backwards():
    from dfplan.planner import pursuit_target

    path = np.stack([np.linspace(0.0, 2.0, 21), np.zeros(21)], -1)  # a straight line, 0.1 apart
    target, progress = pursuit_target(path, np.array([0.52, 0.05]), lookahead=0.5)
    assert progress == 5 and np.allclose(target, [1.1, 0.0])  # the first point >= 0.5 away, after the nearest
    target, _ = pursuit_target(path, np.array([1.8, 0.0]), lookahead=0.5)
    assert np.allclose(target, path[-1])  # the path's end (its arrival) once nothing lies further ahead
    _, kept = pursuit_target(path, np.array([0.0, 0.0]), lookahead=0.5, progress=progress)
    assert kept == progress  # a position behind the progress made does not send the target back


def test_pursuit_index_names_the_point_pursuit_target_aims_at_and_bad_pursuit_dims_are_refused(tiny_maze_checkpoint):
    from dfplan.planner import pursuit_index, pursuit_target

    path = np.stack([np.linspace(0.0, 2.0, 21), np.zeros(21)], -1)
    for position, progress in (([0.52, 0.05], 0), ([1.8, 0.0], 0), ([0.0, 0.0], 5)):
        index, moved = pursuit_index(path, np.array(position), 0.5, progress)
        target, same = pursuit_target(path, np.array(position), 0.5, progress)
        assert np.array_equal(path[index], target) and moved == same
    with pytest.raises(ValueError, match="pursuit_dims must be >= 0"):
        dataclasses.replace(FAST, pursuit_dims=-1)
    with pytest.raises(ValueError, match="pursuit_dims=9 exceeds"):
        DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=dataclasses.replace(FAST, action_mode="pursuit",
                                                                                       pursuit_dims=9))


def test_pursuit_with_pursuit_dims_aims_the_action_head_at_the_planned_state_lookahead_ahead(tiny_maze_checkpoint,
                                                                                               tmp_path):
    import shutil

    from dfplan.planner import pursuit_index

    class Recorder:  # an ActionHead that remembers what it was asked
        def __init__(self):
            self.calls = []

        def act(self, obs, target, lead):
            self.calls.append((obs.copy(), target.copy(), lead))
            return np.full((len(obs), 2), 0.25, np.float32)

    config = dataclasses.replace(FAST, action_mode="pursuit", pursuit_dims=2, lookahead=0.3)
    head = Recorder()
    planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config, inverse=head)
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    planner.reset(seed=0)
    action = planner.act(obs)
    plan = planner.current_plan()[0]
    ahead, _ = pursuit_index(plan[:, :2], obs["observation"][:2], 0.3)
    (seen, target, lead), = head.calls
    np.testing.assert_array_equal(action, [0.25, 0.25])  # the head's action, not a PD law's
    np.testing.assert_array_equal(target[0], plan[ahead])
    np.testing.assert_allclose(seen[0], obs["observation"], rtol=1e-6)  # the state, as float32
    assert lead == ahead + 1  # steps from now to that planned state
    checkpoint = tmp_path / "maze.pt"  # no head given and none beside the checkpoint: it looks for the model's own
    shutil.copy(tiny_maze_checkpoint, checkpoint)
    with pytest.raises(FileNotFoundError, match=r"pursuit_dims.*maze\.inverse\.pt"):
        DFPlanner.load(checkpoint, device="cpu", config=config)


def test_goal_hold_brakes_onto_the_goal_only_inside_its_radius(tiny_maze_checkpoint):
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    position, velocity = obs["observation"][:2], np.array([0.3, -0.2], np.float32)
    near = {**obs, "observation": np.concatenate([position, velocity]), "desired_goal": position + np.array([0.1, 0.0])}
    far = {**near, "desired_goal": position + np.array([2.0, 0.0])}
    batch = {key: np.stack([near[key], far[key]]) for key in near}
    plain = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=FAST)
    held = plain.with_config(dataclasses.replace(FAST, goal_hold=0.5))
    plain.reset(seed=0)
    held.reset(seed=0)
    expected = np.clip(FAST.kp * np.array([0.1, 0.0]) - FAST.kd * velocity, -1, 1)
    actions, plain_actions = held.act(batch), plain.act(batch)
    np.testing.assert_allclose(actions[0], expected, rtol=1e-5)  # inside 0.5: the PD hold
    np.testing.assert_array_equal(actions[1], plain_actions[1])  # outside: the plan's action, unchanged
    assert not np.allclose(plain_actions[0], expected)
    unguided = held.with_config(dataclasses.replace(FAST, goal_hold=0.5, guidance="none"))
    with pytest.raises(ValueError, match="goal_hold needs"):
        unguided.act(near["observation"])  # a flat observation has no goal to hold
    assert unguided._envs == []  # refused before any episode state changed
    with pytest.raises(ValueError, match="goal_hold"):
        dataclasses.replace(FAST, goal_hold=float("nan"))


def test_guidance_pulls_plans_towards_the_goal(tiny_maze_checkpoint):
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    far = {**obs, "desired_goal": obs["observation"][:2] + np.array([2.5, 0.0])}
    distance = {}
    for scale in (0.0, 5.0):
        config = dataclasses.replace(FAST, sampler=dataclasses.replace(FAST.sampler, guidance_scale=scale))
        plan = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config).plan(far)
        distance[scale] = np.linalg.norm(plan.observations[0, :, :2] - far["desired_goal"], axis=-1).mean()
    assert distance[5.0] < distance[0.0]


def _plan_towards(checkpoint, goal_offset, scale, **config):
    """The tiny model's plan from the U-Maze reset (seed 0) to a goal ``goal_offset`` away, at
    guidance scale ``scale`` with the other ``config`` fields set (sampling seed 3)."""
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    config = dataclasses.replace(FAST, **config, sampler=dataclasses.replace(FAST.sampler, guidance_scale=scale))
    planner = DFPlanner.load(checkpoint, device="cpu", config=config)
    planner.reset(seed=3)
    return planner.plan({**obs, "desired_goal": obs["observation"][:2] + goal_offset}).observations


def test_guidance_near_scales_the_guidance_of_an_agent_at_its_goal_and_fades_far_from_it(tiny_maze_checkpoint):
    def plan(goal_offset, scale, near):
        return _plan_towards(tiny_maze_checkpoint, goal_offset, scale, guidance_near=near, velocity_radius=0.02)

    at_goal, far = np.zeros(2), np.array([2.0, 0.0])  # far: exp(-2 / 0.02) = 0, a gain of 1
    assert np.allclose(plan(at_goal, 1.0, 3.0), plan(at_goal, 3.0, 1.0), atol=1e-5)  # at the goal: × 3
    assert not np.allclose(plan(at_goal, 1.0, 3.0), plan(at_goal, 1.0, 1.0), atol=1e-3)
    assert np.allclose(plan(far, 1.0, 3.0), plan(far, 1.0, 1.0), atol=1e-5)
    with pytest.raises(ValueError, match="guidance_near"):
        PlannerConfig(guidance_near=0.0)


def test_guidance_far_scales_the_guidance_of_an_agent_far_from_its_goal_and_leaves_the_goal_alone(tiny_maze_checkpoint):
    def plan(goal_offset, scale, far_gain):
        return _plan_towards(tiny_maze_checkpoint, goal_offset, scale, guidance_far=far_gain, far_radius=1.0)

    at_goal, far = np.zeros(2), np.array([4.0, 0.0])  # σ((4 − 1) / 0.2) = 1 − 3e-7: the full gain
    assert np.allclose(plan(far, 1.0, 2.0), plan(far, 2.0, 1.0), atol=1e-4)  # far: × 2
    assert not np.allclose(plan(far, 1.0, 2.0), plan(far, 1.0, 1.0), atol=1e-3)
    nearly_off = 1 + 1 / (1 + np.exp(5.0))  # at the goal: σ((0 − 1) / 0.2) = σ(−5) ≈ 0.007 of the extra gain
    assert np.allclose(plan(at_goal, 1.0, 2.0), plan(at_goal, nearly_off, 1.0), atol=1e-4)
    with pytest.raises(ValueError, match="guidance_far"):
        PlannerConfig(guidance_far=0.0)
    with pytest.raises(ValueError, match="far_radius"):
        PlannerConfig(far_radius=-1.0)


def test_replan_near_replans_often_only_at_the_goal(tiny_maze_checkpoint, monkeypatch):
    import dfplan.planner as planner_module

    planned, real_sample = [], planner_module.sample

    def recording_sample(model, cond, horizon, sampler, **kwargs):
        planned.append(len(cond))
        return real_sample(model, cond, horizon, sampler, **kwargs)

    monkeypatch.setattr(planner_module, "sample", recording_sample)
    env = envs.make("maze2d-umaze-v1")
    obs, _ = env.reset(seed=0)
    config = dataclasses.replace(FAST, replan_every=10, replan_near=2, velocity_radius=0.5)
    planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config)
    position = obs["observation"][:2]
    batch = {key: np.stack([value, value]) for key, value in obs.items()}
    batch["desired_goal"] = np.stack([position + 0.1, position + 3.0])  # env 0 at its goal, env 1 far from it
    planner.reset(seed=0)
    for _ in range(10):
        planner.act(batch)  # the same observation: env 0 stays at its goal
    assert planned == [2] + [1] * 4  # step 0: both envs in one call; then env 0 alone, every 2 steps
    with pytest.raises(ValueError, match="replan_near must be >= 0"):
        PlannerConfig(replan_near=-1)


def test_learned_guidance_uses_the_cost_to_go_beside_the_checkpoint(tiny_maze_checkpoint, umaze_data, tmp_path):
    import shutil

    from dfplan.cost_to_go import CostToGo, CostToGoConfig, save_cost_to_go

    checkpoint = tmp_path / "maze.pt"
    shutil.copy(tiny_maze_checkpoint, checkpoint)
    learned = dataclasses.replace(FAST, guidance="learned")
    with pytest.raises(FileNotFoundError, match=r"maze\.cost\.pt"):
        DFPlanner.load(checkpoint, device="cpu", config=learned)
    save_cost_to_go(tmp_path / "maze.cost.pt", CostToGo.fit(umaze_data))
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    plans = {}
    for config in (FAST, learned):
        planner = DFPlanner.load(checkpoint, device="cpu", config=config)
        plans[config.guidance] = planner.plan(obs)
        assert planner.with_config(config).cost_to_go is planner.cost_to_go  # kept across with_config
    assert plans["learned"].observations.shape == plans["goal"].observations.shape
    assert not np.allclose(plans["learned"].observations, plans["goal"].observations)
    variant = tmp_path / "variants" / "maze-gc.pt"  # a variant naming its cost-to-go relative to itself
    variant.parent.mkdir()
    shutil.copy(tiny_maze_checkpoint, variant)
    shutil.copy(tmp_path / "maze.cost.pt", variant.parent / "shared.cost.pt")
    assert DFPlanner.load(variant, device="cpu", config=learned, cost_model="shared.cost.pt").cost_to_go is not None
    save_cost_to_go(tmp_path / "wide.cost.pt", CostToGo(CostToGoConfig(), obs_dim=6, nodes=2, edges=1))
    with pytest.raises(ValueError, match="observations of size 6"):
        DFPlanner.load(checkpoint, device="cpu", config=learned, cost_model=str(tmp_path / "wide.cost.pt"))
    model = DFPlanner.load(checkpoint, device="cpu").model
    with pytest.raises(ValueError, match="needs a cost-to-go"):
        DFPlanner(model, learned)


def test_clearance_weight_loads_the_cost_to_go_and_pushes_planned_positions_off_the_datas_edge(
        tiny_maze_checkpoint, umaze_data, tmp_path):
    import shutil

    from dfplan.cost_to_go import CostToGo, save_cost_to_go

    checkpoint = tmp_path / "maze.pt"
    shutil.copy(tiny_maze_checkpoint, checkpoint)
    cost_to_go = CostToGo.fit(umaze_data)
    save_cost_to_go(tmp_path / "maze.cost.pt", cost_to_go)
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)

    def closeness(weight):  # how far the plan's positions reach inside the 0.5 margin, summed
        planner = DFPlanner.load(checkpoint, device="cpu", config=dataclasses.replace(
            FAST, guidance="goal", clearance_weight=weight, clearance_margin=0.5))
        assert (planner.cost_to_go is not None) == bool(weight)  # goal guidance: loaded for the clearance only
        planner.reset(seed=0)
        positions = torch.as_tensor(planner.plan(obs).observations[0])
        return float((0.5 - cost_to_go.clearance_at(positions)).clamp_min(0).pow(2).sum())

    assert closeness(50.0) < closeness(0.0)
    with pytest.raises(ValueError, match="clearance_margin > 0"):
        dataclasses.replace(FAST, clearance_weight=1.0, clearance_margin=0.0)


def test_goal_rest_pins_the_plan_to_the_goal_at_rest_from_the_estimated_arrival(tiny_maze_checkpoint, umaze_data):
    from dfplan.cost_to_go import CostToGo

    cost_to_go = CostToGo.fit(umaze_data)
    learned = dataclasses.replace(FAST, guidance="learned")
    plain = DFPlanner(DFPlanner.load(tiny_maze_checkpoint, device="cpu").model, learned, cost_to_go=cost_to_go)
    rest = plain.with_config(dataclasses.replace(learned, goal_rest=1.0, rest_margin=0))
    obs, _ = envs.make("maze2d-umaze-v1").reset(seed=0)
    position = obs["observation"][:2]
    near = {**obs, "desired_goal": position + np.array([0.1, 0.0], np.float32)}
    far = {**obs, "desired_goal": np.array([3.0, 3.0], np.float32)}  # across the U: more than the 40-step horizon
    fs = rest.layout.frame_stack
    to_go = float(cost_to_go.steps(torch.tensor(obs["observation"])[None], torch.tensor(near["desired_goal"])[None])[0])
    arrival = int(np.ceil(to_go / fs))
    assert arrival < FAST.horizon
    plan = rest.plan(near)
    pinned = plan.observations[0, arrival * fs :]
    np.testing.assert_allclose(pinned[:, :2], np.broadcast_to(near["desired_goal"], pinned[:, :2].shape), atol=1e-5)
    np.testing.assert_allclose(pinned[:, 2:], 0.0, atol=1e-5)  # at rest
    np.testing.assert_allclose(plan.actions[0, arrival * fs :], 0.0, atol=1e-5)
    if arrival:
        assert not np.allclose(plan.observations[0, : arrival * fs, 2:], 0.0)  # the model's own approach before it
    # no env arrives within the horizon: nothing is imposed, the plan is the plain one
    plain.reset(seed=0)
    rest.reset(seed=0)
    np.testing.assert_array_equal(rest.plan(far).observations, plain.plan(far).observations)
    with pytest.raises(ValueError, match="goal_rest needs"):
        rest.act(obs["observation"])  # a flat observation has no goal to rest at
    assert rest._envs == []  # refused before any episode state changed
    for bad in ({"goal_rest": -1.0}, {"goal_rest": 1.0, "rest_margin": -1}, {"goal_rest": float("nan")}):
        with pytest.raises(ValueError, match="goal_rest"):
            dataclasses.replace(learned, **bad)
    with pytest.raises(ValueError, match="goal_rest estimates the arrival"):
        dataclasses.replace(FAST, goal_rest=1.0)  # straight-line guidance has no cost-to-go to estimate it


def test_bad_observations_get_clear_errors(planner):
    env = envs.make("maze2d-umaze-v1")
    obs, info = env.reset(seed=0)
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        planner.act((obs, info))
    with pytest.raises(TypeError, match=r"\(obs, info\)"):
        planner.predict((obs, info))
    with pytest.raises(ValueError, match="'observation' key"):
        planner.act({"achieved_goal": obs["achieved_goal"]})
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        planner.act({**obs, "observation": obs["observation"][:3]})
    with pytest.raises(ValueError, match="NaN"):
        planner.act({**obs, "observation": np.full(4, np.nan)})
    with pytest.raises(ValueError, match="desired_goal"):
        planner.act(obs["observation"])  # a flat array has no goal to guide towards
    with pytest.raises(ValueError, match="empty batch"):
        planner.act({"observation": np.zeros((0, 4)), "desired_goal": np.zeros((0, 2))})


@pytest.mark.parametrize("maze", ["umaze", "medium", "large"])
def test_far_out_of_range_observations_and_goals_are_warned_about_once(maze):
    planner = DFPlanner.load(f"maze2d-{maze}-v1", device="cpu", sampler={"num_steps": 2}, horizon=2)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the envs' own observations and goals are in range
        for kind in ("multi2d", "maze2d"):
            env = envs.make(f"{kind}-{maze}-v1")
            for seed in range(5):
                obs, _ = env.reset(seed=seed)
                planner.act(obs)
    with pytest.warns(RuntimeWarning, match=r"observation .*standard deviations from the model's training data"):
        planner.act({**obs, "observation": np.array([1e9, 0.0, 0.0, 0.0])})
    with pytest.warns(RuntimeWarning, match=r"desired_goal \[100.0, 100.0\]"):
        planner.act({**obs, "desired_goal": np.array([100.0, 100.0])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per kind until reset
        planner.act({**obs, "desired_goal": np.array([100.0, 100.0])})


def test_checkpoint_problems_get_clear_errors(tiny_maze_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="shipped: maze2d-umaze-v1"):
        DFPlanner.load("maze2d-giant-v1")
    with pytest.raises(FileNotFoundError):
        DFPlanner.load(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        DFPlanner.load(tmp_path / "corrupt.pt")
    planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu")
    other = gymnasium.make("Pendulum-v1")  # 3-D observations, 1-D actions
    with pytest.raises(ValueError, match="observations of size 4 and actions of size 2"):
        planner.check_env(other)
    with pytest.raises(ValueError, match="valid: diffused, inverse, pd"):
        DFPlanner.load(tiny_maze_checkpoint, device="cpu", action_mode="teleport")


def test_shipped_names_cover_every_suite_env():
    assert sorted(shipped_names()) == sorted(envs.ENV_IDS)
    from dfplan.shipped import ANTMAZE_NAMES

    assert ANTMAZE_NAMES == envs.ANTMAZE_IDS  # dfplan keeps its own copy: it does not import envs
    assert torch.__version__  # torch is imported lazily by dfplan, eagerly here


def test_latency_recorder_amortizes_each_replan_over_its_cycle():
    from dfplan.policy import LatencyRecorder

    timer = LatencyRecorder()
    for _ in range(3):  # a 10 ms replan every 4 steps of 1 ms: (11 + 1 + 1 + 1) / 4 per step
        timer.replan(10.0)
        for step in range(4):
            timer.act(11.0 if step == 0 else 1.0, replanned=step == 0)
    assert timer.medians() == {"act_ms": 3.5, "replan_ms": 10.0}
    timer.clear()
    assert timer.medians() == {}


def test_load_overrides_a_nested_setting_and_keeps_the_stored_others(tiny_maze_checkpoint, tmp_path):
    from dfplan.checkpoint import read_torch_file

    stored = dataclasses.replace(FAST, sampler=SamplerConfig(num_steps=4, schedule="pyramid", eta=0.5, guidance_scale=2.0))
    data = read_torch_file(tiny_maze_checkpoint)
    data["meta"] = {**data.get("meta", {}), "planner": dataclasses.asdict(stored)}
    path = tmp_path / "stored.pt"
    torch.save(data, path)
    planner = DFPlanner.load(path, device="cpu", sampler={"guidance_scale": 0.7}, action_mode="feedforward")
    assert planner.config.sampler == dataclasses.replace(stored.sampler, guidance_scale=0.7)
    assert planner.config.action_mode == "feedforward" and planner.config.horizon == stored.horizon
    with pytest.raises(ValueError, match=r"unknown field sampler\.guidance"):
        DFPlanner.load(path, device="cpu", sampler={"guidance": 0.7})
    with pytest.raises(ValueError, match=r"guidance_scale is a field of sampler: pass sampler=\{'guidance_scale': \.\.\.\}"):
        DFPlanner.load(path, device="cpu", guidance_scale=0.7)


def test_settling_follows_the_executed_steps_row_by_row(tiny_maze_checkpoint):
    from benchmarks.settling import measure

    starts = [envs.make("maze2d-umaze-v1").reset(seed=s)[0] for s in (1000, 1001)]
    rows = {}
    for schedule in ("full_sequence", "pyramid"):
        config = dataclasses.replace(FAST, replan_every=4, sampler=SamplerConfig(num_steps=4, schedule=schedule))
        planner = DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=config)
        rows[schedule] = measure(planner, starts, seed=0, tolerance=1e-6)
        assert measure(planner, starts, seed=0, tolerance=1e-6) == rows[schedule]  # deterministic for a seed
        assert len(rows[schedule]["remaining"]) == rows[schedule]["rows"] and rows[schedule]["guidance_shift"] > 0
    # the pyramid fixes the first tokens before its last row; full-sequence moves every token until the end
    assert rows["pyramid"]["settled_at"] < 1.0 and rows["pyramid"]["remaining"][-1] == 0.0
    assert rows["full_sequence"]["settled_at"] == 1.0
    with pytest.raises(ValueError, match="unguided"):
        measure(DFPlanner.load(tiny_maze_checkpoint, device="cpu", config=dataclasses.replace(FAST, guidance="none")),
                starts, seed=0, tolerance=0.05)


@pytest.mark.parametrize("args, message", [
    (["--agents", "df/no-such-variant", "--envs", "maze2d-umaze-v1"], "no-such-variant"),
    (["--agents", "roadmap", "--envs", "maze2d-umaze-v1", "--starts", "1"], "not a DF agent"),
    (["--envs", "maze2d-umaze-v1", "--starts", "0"], "--starts"),
    (["--envs", "maze2d-nowhere-v1"], "nowhere"),
])
def test_settling_command_refuses_bad_input_with_a_clear_error(tmp_path, capsys, args, message):
    from benchmarks import settling

    with pytest.raises(SystemExit) as stop:
        settling.main([*args, "--out", str(tmp_path / "settling.json")])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "settling.json").exists()  # nothing written


def test_settling_command_keeps_a_corrupt_results_file_and_says_so(tmp_path, capsys):
    from benchmarks import settling

    out = tmp_path / "settling.json"
    out.write_text("{not json")
    with pytest.raises(SystemExit):
        settling.main(["--envs", "maze2d-umaze-v1", "--out", str(out)])
    assert "settling file" in capsys.readouterr().err and out.read_text() == "{not json"
