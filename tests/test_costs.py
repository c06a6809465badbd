import math

import pytest
import torch

from dfplan.costs import clearance_cost, goal_cost, reward_cost, upright_cost
from dfplan.tokens import TokenLayout

LAYOUT = TokenLayout(obs_dim=4, action_dim=2, use_reward=False, frame_stack=2)


def tokens_at(positions, velocities):
    """Tokens (1, T, D) whose next observations are the given positions/velocities (T·2 steps)."""
    obs = torch.cat([positions, velocities], dim=-1)[None]  # (1, N, 4)
    return LAYOUT.to_tokens(torch.zeros(1, obs.shape[1], 2), None, obs)


def test_goal_cost_sums_the_distance_of_every_planned_step():
    positions = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    cost = goal_cost(LAYOUT, torch.zeros(1, 2))(tokens_at(positions, torch.zeros(4, 2)))
    assert cost.item() == pytest.approx(5 + 0 + 1 + 1, abs=1e-3)


def test_speed_penalty_slows_the_plan_near_the_goal_but_never_pushes_it_away():
    positions = torch.tensor([[0.2, 0.0], [0.1, 0.0], [2.0, 0.0], [3.0, 0.0]])
    velocities = torch.tensor([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    x = tokens_at(positions, velocities).requires_grad_(True)
    plain, (with_speed) = goal_cost(LAYOUT, torch.zeros(1, 2)), goal_cost(LAYOUT, torch.zeros(1, 2), 5.0, 0.5)
    (g_plain,) = torch.autograd.grad(plain(x).sum(), x)
    (g_speed,) = torch.autograd.grad(with_speed(x).sum(), x)
    obs_plain, obs_speed = LAYOUT.observations(g_plain)[0], LAYOUT.observations(g_speed)[0]
    torch.testing.assert_close(obs_speed[:, :2], obs_plain[:, :2])  # positions: same pull as without it
    assert obs_speed[0, 2] > 10 * obs_speed[3, 2] > 0  # speed is penalised mostly near the goal


def test_costs_reject_what_they_cannot_use():
    with pytest.raises(ValueError, match="reward channel"):
        reward_cost(LAYOUT)
    with pytest.raises(ValueError, match="goal has 5 entries"):
        goal_cost(LAYOUT, torch.zeros(1, 5))
    rewarded = TokenLayout(obs_dim=1, action_dim=1, use_reward=True)
    x = rewarded.to_tokens(torch.zeros(1, 3, 1), torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1, 3, 1))
    assert reward_cost(rewarded)(x).item() == pytest.approx(-6.0)


def test_reward_cost_adds_only_the_speed_penalty_near_a_given_goal():
    rewarded = TokenLayout(obs_dim=4, action_dim=2, use_reward=True)
    positions = torch.tensor([[[0.0, 0.0], [5.0, 0.0]]])  # one step at the goal, one far from it
    velocity = torch.ones(1, 2, 2)
    x = rewarded.to_tokens(torch.zeros(1, 2, 2), torch.tensor([[1.0, 0.0]]), torch.cat([positions, velocity], -1))
    goal = torch.zeros(1, 2)
    plain, slowed = reward_cost(rewarded)(x), reward_cost(rewarded, goal, velocity_weight=1.0)(x)
    assert plain.item() == pytest.approx(-1.0)
    assert slowed.item() == pytest.approx(-1.0 + 2.0 * (1 + math.exp(-10.0)), rel=1e-3)  # |v|² = 2, weighted by nearness
    with pytest.raises(ValueError, match="speed penalty"):
        reward_cost(rewarded, None, velocity_weight=1.0)


def test_goal_reach_bounds_the_pull_far_from_the_goal():
    layout = TokenLayout(obs_dim=4, action_dim=2, use_reward=False)
    far = torch.tensor([[[10.0, 0.0, 0.0, 0.0]]])
    near = torch.tensor([[[0.2, 0.0, 0.0, 0.0]]])
    x_far = layout.to_tokens(torch.zeros(1, 1, 2), None, far).requires_grad_(True)
    x_near = layout.to_tokens(torch.zeros(1, 1, 2), None, near)
    goal = torch.zeros(1, 2)
    bounded = goal_cost(layout, goal, reach=1.0)
    assert bounded(x_near).item() == pytest.approx(1 - math.exp(-0.2), rel=1e-4)  # ≈ the distance near the goal
    assert bounded(x_far).item() < 1.0  # at most `reach`, however far
    (grad,) = torch.autograd.grad(bounded(x_far).sum(), x_far)
    assert grad.abs().max() < 1e-3  # and it no longer pulls from far away


ANT = TokenLayout(obs_dim=29, action_dim=8, use_reward=False, frame_stack=1)


def ant_tokens(quaternions):
    """Ant tokens (1, N, D) whose planned states hold the given torso quaternions (w, x, y, z) at obs[3:7]."""
    obs = torch.zeros(1, len(quaternions), 29)
    obs[0, :, 3:7] = torch.tensor(quaternions, dtype=torch.float32)
    return ANT.to_tokens(torch.zeros(1, len(quaternions), 8), None, obs)


def test_upright_cost_charges_only_planned_states_tipped_past_sixty_degrees():
    cost = upright_cost(ANT, quat_at=3)
    half = math.sqrt(0.5)
    tilt = math.radians(50) / 2  # tipped 50° about x: up = cos 50° = 0.64, still within the margin
    assert cost(ant_tokens([[1, 0, 0, 0], [math.cos(tilt), math.sin(tilt), 0, 0]])).item() == pytest.approx(0.0, abs=1e-6)
    on_side, on_back = [[half, half, 0, 0]], [[0, 1, 0, 0]]
    assert cost(ant_tokens(on_back)).item() == pytest.approx(1.5**2, abs=1e-4)  # up = -1
    assert cost(ant_tokens(on_side)).item() == pytest.approx(0.5**2, abs=1e-4)  # up = 0
    assert cost(ant_tokens([[half, 0, 0, half]])).item() == pytest.approx(0.0, abs=1e-6)  # turned about z: upright


def test_upright_cost_gradient_turns_a_flipped_body_back_up():
    x = ant_tokens([[0.3, 0.9, 0.1, 0.0]]).requires_grad_(True)
    cost = upright_cost(ANT, quat_at=3)
    (grad,) = torch.autograd.grad(cost(x).sum(), x)
    assert cost(x - 0.05 * grad).item() < cost(x).item()
    with pytest.raises(ValueError, match="does not fit"):
        upright_cost(LAYOUT, quat_at=3)


def test_clearance_cost_charges_only_planned_positions_inside_the_margin_and_pushes_them_out():
    layout = TokenLayout(action_dim=2, obs_dim=4, use_reward=False)
    wall_at_x0 = lambda obs: obs[..., 0].abs()  # noqa: E731  distance to a wall along x = 0
    cost = clearance_cost(layout, wall_at_x0, margin=1.0)
    obs = torch.tensor([[[0.5, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]])
    tokens = layout.to_tokens(torch.zeros(1, 2, 2), None, obs).requires_grad_()
    value = cost(tokens)
    assert math.isclose(value.item(), 0.25, rel_tol=1e-6)  # (1 − 0.5)²; the second step is clear: 0
    value.sum().backward()
    moved = layout.observations(tokens.grad)
    assert moved[0, 0, 0] < 0 and moved[0, 1].abs().sum() == 0  # descent moves the first away from the wall
    with pytest.raises(ValueError, match="margin must be > 0"):
        clearance_cost(layout, wall_at_x0, margin=0.0)
