"""The learned cost-to-go (the data's roadmap): reachability, walls, shapes, files, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfplan.checkpoint import CheckpointError
from dfplan.cost_to_go import (
    CostToGo,
    CostToGoConfig,
    fit_cost_to_go,
    load_cost_to_go,
)
from dfplan.costs import goal_cost
from dfplan.data import Trajectories
from dfplan.tokens import TokenLayout


def two_rooms(walks: int = 40, length: int = 200, seed: int = 0) -> Trajectories:
    """A point chasing random waypoints at speed 0.1 per step (velocity in the observation),
    each walk inside one of two rooms, [0, 2]² or [3, 5] × [0, 2]: nothing ever crosses
    from one room to the other."""
    rng = np.random.default_rng(seed)
    episodes = []
    for w in range(walks):
        lo = 0.0 if w % 2 == 0 else 3.0
        pos = np.array([lo + rng.uniform(0, 2), rng.uniform(0, 2)])
        target = pos
        obs, acts = [np.r_[pos, 0.0, 0.0]], []
        for _ in range(length):
            if np.linalg.norm(target - pos) < 0.1:
                target = np.array([lo + rng.uniform(0, 2), rng.uniform(0, 2)])
            step = (target - pos) / max(np.linalg.norm(target - pos), 1e-9) * 0.1 + rng.normal(0, 0.01, 2)
            new = np.clip(pos + step, [lo, 0.0], [lo + 2, 2.0])
            acts.append(step)
            obs.append(np.r_[new, (new - pos) * 10])
            pos = new
        episodes.append({"observations": np.array(obs), "actions": np.array(acts), "rewards": np.zeros(length)})
    return Trajectories.from_episodes(episodes)




@pytest.fixture(scope="module")
def rooms_cost():
    return CostToGo.fit(two_rooms(), CostToGoConfig(spacing=0.2, neighbour_radius=0.3))


def test_learned_cost_ranks_a_reachable_goal_cheaper_than_an_unreachable_nearer_one(rooms_cost):
    start = torch.tensor([[[1.9, 1.0, 0.0, 0.0]]])
    reachable = torch.tensor([[[0.5, 1.0]]])  # 1.4 away, same room
    unreachable = torch.tensor([[[3.1, 1.0]]])  # 1.2 away, in the other room
    assert rooms_cost.steps(start, reachable).item() < rooms_cost.steps(start, unreachable).item()


def test_learned_steps_match_travel_time_inside_a_room(rooms_cost):
    start = torch.tensor([[[0.2, 1.0, 0.0, 0.0], [0.2, 0.2, 0.0, 0.0]]])
    steps = rooms_cost.steps(start, torch.tensor([[[1.8, 1.0]]]))[0]
    assert 12 < steps[0].item() < 20  # 1.6 away at 0.1 per step: 16 steps
    assert steps[0] < steps[1]  # farther start, more steps


@pytest.fixture(scope="module")
def umaze_cost(umaze_data):
    return CostToGo.fit(umaze_data)


def test_learned_cost_goes_round_the_wall_of_a_tiny_maze(umaze_cost):
    from benchmarks.cost_check import check
    from envs.mazes import MAZES

    maze = MAZES["umaze"]
    goal = torch.as_tensor(maze.cell_to_xy((1, 1)), dtype=torch.float32)  # the top arm's end
    behind_wall = torch.as_tensor(maze.cell_to_xy((3, 1)), dtype=torch.float32)  # bottom arm, 2 cells away in a line
    along_arm = torch.as_tensor(maze.cell_to_xy((1, 3)), dtype=torch.float32)  # top arm, 2 cells away in a line
    obs = torch.zeros(1, 2, 4)
    obs[0, :, :2] = torch.stack([behind_wall, along_arm])
    steps = umaze_cost.steps(obs, goal[None, None])[0]
    assert steps[0] > 1.5 * steps[1]  # round the wall: 4 cells of travel against 2
    stats = check(umaze_cost, maze)
    assert stats["descent_rate"] > stats["straight_descent_rate"] and stats["descent_rate"] > 0.95


def test_the_route_goes_round_the_wall_on_the_data_and_ends_at_the_goal(umaze_cost):
    from envs.mazes import MAZES

    maze = MAZES["umaze"]
    start, goal = maze.cell_to_xy((3, 1)), maze.cell_to_xy((1, 1))  # bottom arm's end, top arm's end
    points = np.concatenate([umaze_cost.route_points(start[None], goal[None], ahead) for ahead in np.arange(0.2, 5.0, 0.2)])
    assert np.all(np.linalg.norm(np.diff(np.concatenate([start[None], points]), axis=0), axis=-1) <= 0.2 + 1e-4)
    assert points[:, 0].max() > maze.cell_to_xy((2, 3))[0] - 0.3  # out along the bottom arm, round the right-hand side
    on_data = umaze_cost.off_support(torch.from_numpy(np.c_[points, np.zeros((len(points), 2))]).float())
    assert on_data.max() < 0.3  # never inside the wall between the arms
    np.testing.assert_allclose(umaze_cost.route_points(start[None], goal[None], 50.0)[0], goal, atol=1e-5)


def test_clearance_at_matches_the_nodes_clearance_and_its_gradient_points_away_from_the_data_edge(rooms_cost):
    nodes = torch.cat([rooms_cost.nodes, torch.zeros(len(rooms_cost.nodes), 2)], -1)
    np.testing.assert_allclose(rooms_cost.clearance_at(nodes).numpy(), rooms_cost.clearance(), rtol=1e-5)
    obs = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [1.0, 0.15, 0.0, 0.0], [1.9, 1.0, 0.0, 0.0]]], requires_grad=True)
    clearance = rooms_cost.clearance_at(obs)
    assert clearance.shape == (1, 3) and clearance[0, 0] > clearance[0, 1] and clearance[0, 0] > clearance[0, 2]
    clearance.sum().backward()
    assert obs.grad[0, 1, 1] > 0 and obs.grad[0, 2, 0] < 0  # off the room's bottom edge: up; off its right: left
    assert torch.all(obs.grad[..., 2:] == 0)  # positions only
    with pytest.raises(ValueError, match="expected observations"):
        rooms_cost.clearance_at(torch.zeros(3, 2))


def test_keeping_off_the_edge_routes_through_nodes_farther_from_where_the_data_stops(umaze_cost):
    from envs.mazes import MAZES

    maze = MAZES["umaze"]
    start, goal = maze.cell_to_xy((3, 1)), maze.cell_to_xy((1, 1))
    clearance = umaze_cost.clearance()
    assert clearance.shape == (len(umaze_cost.nodes),) and np.all(clearance > 0)

    def route_clearance(keep_off: float) -> float:
        _, hops = umaze_cost.route_tree(goal, keep_off)
        node = int(np.argmin(np.linalg.norm(umaze_cost.nodes.numpy() - start, axis=-1)))
        seen = []
        while node >= 0:
            seen.append(clearance[node])
            assert len(seen) < len(hops)  # no cycle
            node = int(hops[node])
        return float(np.mean(seen))

    assert route_clearance(0.4) > route_clearance(0.0)
    with pytest.raises(ValueError, match="ahead"):
        umaze_cost.route_points(start[None], goal[None], 0.0)
    with pytest.raises(ValueError, match="keep_off"):
        umaze_cost.route_tree(goal, -0.1)
    with pytest.raises(ValueError, match="goals"):
        umaze_cost.route_points(np.stack([start, start]), goal[None], 1.0)


def test_cost_shapes_broadcast_over_plans_and_gradients_flow(rooms_cost):
    obs = (torch.rand(3, 7, 4) * 2).requires_grad_()
    goal = torch.rand(3, 1, 2) * 2
    steps = rooms_cost.steps(obs, goal)
    assert steps.shape == (3, 7) and torch.all(steps >= 0)
    steps.sum().backward()
    assert torch.isfinite(obs.grad).all() and obs.grad[..., :2].abs().sum() > 0
    assert torch.allclose(rooms_cost.distance(obs, goal), steps * rooms_cost.speed)


def test_wrong_shapes_and_several_goals_per_plan_are_refused(rooms_cost):
    with pytest.raises(ValueError, match="expected observations"):
        rooms_cost.steps(torch.randn(3, 5), torch.randn(3, 2))
    with pytest.raises(ValueError, match="expected observations"):
        rooms_cost.steps(torch.randn(3, 4), torch.randn(3, 3))
    with pytest.raises(ValueError, match="one goal per batch row"):
        rooms_cost.steps(torch.zeros(1, 2, 4), torch.tensor([[[0.0, 0.0], [1.0, 1.0]]]))


def test_fitting_is_deterministic_and_the_saved_model_loads_back(tmp_path):
    data = two_rooms(walks=6, length=100)
    a = fit_cost_to_go(data, CostToGoConfig(), tmp_path / "a.cost.pt", meta={"note": "x"})
    back = load_cost_to_go(tmp_path / "a.cost.pt")
    assert torch.equal(CostToGo.fit(data).nodes, a.nodes) and back.meta["note"] == "x" and back.meta["nodes"] == len(a.nodes)
    obs, goal = torch.rand(2, 5, 4) * 2, torch.rand(2, 1, 2) * 2
    assert torch.equal(back.steps(obs, goal), a.steps(obs, goal))


def test_bad_cost_to_go_files_and_settings_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_cost_to_go(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(CheckpointError):
        load_cost_to_go(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a dfplan cost-to-go"):
        load_cost_to_go(tmp_path / "other.pt")
    with pytest.raises(ValueError):
        CostToGoConfig(spacing=0.0)
    with pytest.raises(ValueError, match="goal_dims"):
        CostToGo(CostToGoConfig(goal_dims=5), obs_dim=4)
    with pytest.raises(ValueError, match="fewer than 2 grid squares"):
        CostToGo.fit(two_rooms(walks=2, length=3), CostToGoConfig(min_visits=1000))


def test_goal_cost_sums_a_given_distance_instead_of_the_straight_line():
    layout = TokenLayout(obs_dim=4, action_dim=2, use_reward=False, frame_stack=1)
    tokens = torch.zeros(1, 3, layout.token_dim)
    doubled = goal_cost(layout, torch.ones(1, 2), distance=lambda o, g: 2 * (o[..., :2] - g).norm(dim=-1))
    assert doubled(tokens).item() == pytest.approx(2 * goal_cost(layout, torch.ones(1, 2))(tokens).item(), rel=1e-5)


def test_off_support_is_small_where_the_data_goes_and_large_in_the_gap_between_the_rooms(rooms_cost):
    inside = torch.tensor([[1.0, 1.0, 0, 0], [4.0, 1.0, 0, 0], [0.1, 1.9, 0, 0]])
    between = torch.tensor([[2.5, 1.0, 0, 0]])  # the 1-unit gap the data never crosses
    assert rooms_cost.off_support(inside).max() < 0.2
    assert rooms_cost.off_support(between).item() > 0.4
    assert rooms_cost.off_support(inside[None]).shape == (1, 3)


def test_the_support_penalty_makes_a_plan_through_the_gap_cost_more_than_one_beside_it(rooms_cost):
    layout = TokenLayout(obs_dim=4, action_dim=2, use_reward=False, frame_stack=1)
    plans = torch.zeros(2, 3, layout.token_dim)
    plans[0, :, 2:4] = torch.tensor([[1.8, 1.0], [2.5, 1.0], [3.2, 1.0]])  # straight through the gap
    plans[1, :, 2:4] = torch.tensor([[1.8, 1.0], [1.9, 1.0], [1.8, 1.0]])  # stays in the room
    goal = torch.tensor([[1.0, 1.0]]).expand(2, 2)
    plain = goal_cost(layout, goal)(plans)
    penalized = goal_cost(layout, goal, off_support=rooms_cost.off_support, support_weight=10.0)(plans)
    assert torch.allclose(penalized[1], plain[1]) and penalized[0] > plain[0] + 1.0
    plans.requires_grad_(True)
    penalized = goal_cost(layout, goal, off_support=rooms_cost.off_support, support_weight=10.0)(plans)
    (grad,) = torch.autograd.grad(penalized.sum(), plans)
    assert torch.isfinite(grad).all() and grad[0, 1, 2:4].abs().sum() > 0


def test_cost_check_refuses_a_cost_fitted_on_another_maze(capsys):
    from pathlib import Path

    from benchmarks.cost_check import main

    shipped = Path(__file__).resolve().parents[1] / "dfplan" / "checkpoints" / "maze2d-umaze-v1.cost.pt"
    assert main(["--cost", str(shipped), "--env", "maze2d-large-v1"]) == 2
    assert "fitted on maze2d-umaze-v1's data, not on the large maze" in capsys.readouterr().err
    assert main(["--cost", str(shipped), "--env", "maze2d-umaze-v1", "--png", "out.txt"]) == 2
    assert "give a .png" in capsys.readouterr().err
