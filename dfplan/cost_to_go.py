"""A goal-conditioned cost-to-go learned from the offline data: how far, *through the data*, from ``obs`` to ``goal``.

Straight-line distance is a poor guidance cost in a maze: it has local minima behind
walls and pulls plans through them (DESIGN.md section 9). This module learns where the
data can go from the same trajectories the denoiser trains on, with nothing privileged
(no map, no simulator) — a roadmap of the data, searched like a replay buffer (Eysenbach
et al. 2019, "Search on the Replay Buffer"):

* **nodes**: the positions the data visits, pooled on a grid of ``spacing`` (a node is the
  mean position of the data in one grid square with at least ``min_visits`` visits);
* **edges**: between two nodes whenever the data moves from one to the other (in one step,
  or a few through squares too rarely visited to be nodes),
  weighted by their distance in *steps* at the data's median speed — so an edge exists
  only where the data really went, never through a wall it never crossed;
* **cost-to-go**: shortest paths to the goal over that graph (Dijkstra, cached per goal),
  made a smooth field for guidance by a soft minimum over the nodes near a position:
  ``steps(p, g) = softmin_τ over nodes i within neighbour_radius of p of (D_g(i) + ‖p − w_i‖ / speed)``.

``steps`` is in env steps; ``distance`` in units of length (× the median displacement per
step), the scale of the straight-line cost it replaces. A goal the data never connects to
the position costs ``unreachable_factor`` × the longest connected path. The planner uses it
as its guidance cost and to rank candidate plans (``PlannerConfig.guidance = "learned"``).

    python -m dfplan train-cost --data trajectories.npz --out model.cost.pt
    python -m benchmarks train-cost --env maze2d-medium-v1 --out dfplan/checkpoints/maze2d-medium-v1.cost.pt
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dfplan.checkpoint import CheckpointError, read_model_file, save_model_file
from dfplan.config import from_dict
from dfplan.data import Trajectories

FORMAT = "dfplan.cost_to_go"
VERSION = 1


@dataclass(frozen=True)
class CostToGoConfig:
    """How the data's roadmap is built and read."""

    goal_dims: int = 2  # the goal is this many leading observation entries (PointMaze: x, y)
    spacing: float = 0.2  # grid on which visited positions are pooled into nodes (units of position)
    min_visits: int = 5  # data steps a grid square needs to become a node
    max_skip: int = 5  # steps the data may spend in rarely visited squares between two nodes it links
    neighbour_radius: float = 0.3  # nodes a position may reach directly (keep below the thinnest wall)
    temperature: float = 2.0  # soft-minimum temperature in steps (0 = hard minimum: no gradient between nodes)
    unreachable_factor: float = 3.0  # a goal not connected to a node costs this × the longest connected path

    def __post_init__(self) -> None:
        if self.goal_dims < 1 or self.min_visits < 1 or self.max_skip < 0:
            raise ValueError("goal_dims and min_visits must be >= 1, max_skip >= 0")
        if self.spacing <= 0 or self.neighbour_radius <= 0 or self.temperature < 0 or self.unreachable_factor < 1:
            raise ValueError("need spacing, neighbour_radius > 0, temperature >= 0 and unreachable_factor >= 1")


class CostToGo(nn.Module):
    """``steps(obs, goal)``: env steps from observations ``(..., O)`` to goals ``(..., G)`` through the data."""

    def __init__(self, config: CostToGoConfig, obs_dim: int, nodes: int = 0, edges: int = 0) -> None:
        super().__init__()
        if config.goal_dims > obs_dim:
            raise ValueError(f"goal_dims {config.goal_dims} exceeds the observation size {obs_dim}")
        self.config, self.obs_dim = config, obs_dim
        self.register_buffer("nodes", torch.zeros(nodes, config.goal_dims))  # node positions
        self.register_buffer("edge_src", torch.zeros(edges, dtype=torch.long))
        self.register_buffer("edge_dst", torch.zeros(edges, dtype=torch.long))
        self.register_buffer("edge_steps", torch.zeros(edges))
        self.register_buffer("speed", torch.ones(()))  # median displacement per step (units of length)
        self.meta: dict[str, Any] = {}
        self._graph = None
        self._lookup = None
        self._to_goal: dict[bytes, Tensor] = {}
        self._next_hop: dict[tuple[bytes, float], tuple[np.ndarray, np.ndarray]] = {}
        self._clearance: np.ndarray | None = None
        self._empty: Tensor | None = None

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, data: Trajectories, config: CostToGoConfig | None = None) -> CostToGo:
        """Build the roadmap of ``data`` (deterministic, seconds for millions of steps)."""
        config = config or CostToGoConfig()
        if data.obs_dim < config.goal_dims:
            raise ValueError(f"observations have {data.obs_dim} entries, fewer than goal_dims={config.goal_dims}")
        g = config.goal_dims
        positions = data.observations[:, :g].astype(np.float64)
        square = np.floor(positions / config.spacing).astype(np.int64)
        keys, inverse, counts = np.unique(square, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        kept = counts >= config.min_visits
        node_of_key = np.full(len(keys), -1, np.int64)
        node_of_key[kept] = np.arange(kept.sum())
        node = node_of_key[inverse]  # per observation row, -1: in a rarely visited square
        sums = np.zeros((len(keys), g))
        np.add.at(sums, inverse, positions)
        nodes = (sums / counts[:, None])[kept]
        if len(nodes) < 2:
            raise ValueError("the data visits fewer than 2 grid squares often enough: lower spacing or min_visits")
        # moves between different nodes inside an episode (never across episode boundaries),
        # stepping over rarely visited squares for at most ``max_skip`` steps
        starts = np.concatenate([[0], np.cumsum(np.asarray(data.episode_lengths) + 1)[:-1]])
        episode = np.repeat(np.arange(len(starts)), np.asarray(data.episode_lengths) + 1)
        rows = np.flatnonzero(node >= 0)
        a, b = node[rows[:-1]], node[rows[1:]]
        move = (episode[rows[:-1]] == episode[rows[1:]]) & (np.diff(rows) <= config.max_skip + 1) & (a != b)
        pairs = np.unique(np.stack([a[move], b[move]], 1), axis=0)
        if len(pairs) == 0:
            raise ValueError("the data never moves between grid squares: lower spacing")
        displacement = np.linalg.norm(np.diff(positions, axis=0), axis=-1)[episode[:-1] == episode[1:]]
        speed = float(np.median(displacement[displacement > 0])) if np.any(displacement > 0) else 1.0
        model = cls(config, data.obs_dim, len(nodes), len(pairs))
        model.nodes.copy_(torch.from_numpy(nodes).float())
        model.edge_src.copy_(torch.from_numpy(pairs[:, 0]))
        model.edge_dst.copy_(torch.from_numpy(pairs[:, 1]))
        model.edge_steps.copy_(torch.from_numpy(np.linalg.norm(nodes[pairs[:, 0]] - nodes[pairs[:, 1]], axis=-1) / speed).float())
        model.speed.fill_(speed)
        return model

    # ------------------------------------------------------------------ reading
    def node_steps_to(self, goal: np.ndarray) -> Tensor:
        """``(W,)`` shortest steps from every node to ``goal (G,)`` over the roadmap (cached per goal)."""
        key = np.asarray(goal, np.float32).tobytes()
        if key not in self._to_goal:
            if self._graph is None:
                self._graph = self._reversed_graph(self.edge_steps.cpu().numpy())
            steps = self._shortest_to(goal, self._graph)
            if len(self._to_goal) > 4096:
                self._to_goal.clear()
            self._to_goal[key] = torch.as_tensor(steps, dtype=torch.float32, device=self.nodes.device)
        return self._to_goal[key]

    def _reversed_graph(self, weights: np.ndarray):
        from scipy.sparse import csr_matrix

        n = len(self.nodes)
        return csr_matrix((weights.astype(np.float64), (self.edge_dst.cpu().numpy(), self.edge_src.cpu().numpy())),
                          shape=(n, n))

    def _shortest_to(self, goal: np.ndarray, graph) -> np.ndarray:
        """``(W,)`` shortest distances from every node to ``goal`` over ``graph`` (the reversed roadmap)."""
        from scipy.sparse.csgraph import dijkstra

        nodes = self.nodes.cpu().numpy().astype(np.float64)
        gap = np.linalg.norm(nodes - np.asarray(goal, np.float64), axis=-1) / float(self.speed)
        near = np.flatnonzero(gap * float(self.speed) <= self.config.neighbour_radius)
        near = near if len(near) else np.argsort(gap)[:1]
        # reversed graph: distances *from* the goal's nodes are distances *to* them in the data's direction
        from_goal = dijkstra(graph, indices=near)  # (len(near), W)
        steps = (from_goal + gap[near, None]).min(0)
        finite = np.isfinite(steps)
        steps[~finite] = self.config.unreachable_factor * (steps[finite].max() + 1.0)
        return steps

    def clearance(self) -> np.ndarray:
        """``(W,)`` how far each node lies from the edge of the data's support: the distance to the
        centre of the nearest grid square the data left empty (a wall, or ground it never walked)."""
        if self._clearance is None:
            nodes = self.nodes.cpu().double()
            self._clearance = torch.cdist(nodes, self._empty_centres()).min(-1).values.numpy()
        return self._clearance

    def clearance_at(self, obs: Tensor) -> Tensor:
        """:meth:`clearance` at any positions: ``(...)`` distances from the positions of ``obs (..., O)``
        to the nearest grid square the data left empty, differentiable in the positions (the gradient
        points away from that square), so a guidance cost can keep planned positions off walls."""
        g = self.config.goal_dims
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"expected observations (..., {self.obs_dim}); got {tuple(obs.shape)}")
        positions = obs[..., :g].reshape(-1, g)
        empty = self._empty_centres().to(positions)  # the positions' dtype and device
        return torch.cdist(positions, empty, compute_mode="donot_use_mm_for_euclid_dist").min(-1).values.reshape(obs.shape[:-1])

    def _empty_centres(self) -> Tensor:
        """``(E, G)`` centres of the grid squares next to the roadmap's that the data left empty, with
        one empty square all round the roadmap's grid."""
        if self._empty is None:
            spacing = self.config.spacing
            keys = np.floor(self.nodes.cpu().numpy().astype(np.float64) / spacing).astype(np.int64)
            origin, shape = keys.min(0) - 1, keys.max(0) - keys.min(0) + 3
            occupied = np.zeros(shape, bool)
            occupied[tuple((keys - origin).T)] = True
            self._empty = torch.from_numpy((np.argwhere(~occupied) + origin + 0.5) * spacing)  # float64, as clearance()'s
        return self._empty

    def route_tree(self, goal: np.ndarray, keep_off: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(to_goal (W,), next_hop (W,))`` for routes to ``goal (G,)`` (cached per goal).

        ``next_hop[i]`` is node ``i``'s next node on its shortest route (-1: the route ends there,
        within ``neighbour_radius`` of the goal, or has no way on). ``keep_off`` > 0 makes a node
        closer than that to the edge of the data's support (:meth:`clearance`) up to 4× as costly
        to pass, so routes keep to the middle of corridors rather than graze a wall's corner."""
        if keep_off < 0:
            raise ValueError(f"keep_off must be >= 0, got {keep_off}")
        key = (np.asarray(goal, np.float32).tobytes(), float(keep_off))
        if key not in self._next_hop:
            weights = self.edge_steps.cpu().numpy().astype(np.float64)
            dst, src = self.edge_dst.cpu().numpy(), self.edge_src.cpu().numpy()
            if keep_off > 0:
                weights = weights * (1.0 + 3.0 * np.clip(1.0 - self.clearance()[dst] / keep_off, 0.0, 1.0))
            to_goal = self._shortest_to(goal, self._reversed_graph(weights))
            via = weights + to_goal[dst]
            order = np.lexsort((via, src))  # by node, cheapest way on first
            first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
            hops = np.full(len(to_goal), -1, np.int64)
            # the hop Dijkstra took (via == to_goal up to rounding); none where the goal is nearer direct
            better = via[first] <= to_goal[src[first]] * (1 + 1e-6) + 1e-6
            hops[src[first][better]] = dst[first][better]
            if len(self._next_hop) > 4096:
                self._next_hop.clear()
            self._next_hop[key] = (to_goal, hops)
        return self._next_hop[key]

    def route_points(self, positions: np.ndarray, goals: np.ndarray, ahead: float, keep_off: float = 0.0) -> np.ndarray:
        """The point ``ahead`` units of length along the roadmap's shortest route from each of
        ``positions (B, G)`` to its goal in ``goals (B, G)``, ``(B, G)``.

        The route enters the roadmap at the node ``steps`` would charge least for (the nearest
        one when none is within ``neighbour_radius``), runs node to node where the data went, and
        ends at the goal; a goal closer along the route than ``ahead`` is returned itself. Unlike a
        point picked on a circle by its steps-to-go, the route never leaves the data's support,
        so it turns where the data turned instead of cutting across a wall's corner; ``keep_off``:
        see :meth:`route_tree`."""
        if not ahead > 0:
            raise ValueError(f"ahead must be > 0, got {ahead}")
        g = self.config.goal_dims
        positions = np.asarray(positions, np.float64).reshape(-1, g)
        goals = np.asarray(goals, np.float64).reshape(-1, g)
        if len(goals) != len(positions):
            raise ValueError(f"{len(positions)} positions but {len(goals)} goals")
        nodes = self.nodes.cpu().numpy().astype(np.float64)
        candidates, nearest = (t.cpu().numpy() for t in self._candidates(torch.from_numpy(positions).float()))
        out = np.empty_like(positions)
        for b, (p, goal) in enumerate(zip(positions, goals, strict=True)):
            to_goal, hops = self.route_tree(goal.astype(np.float32), keep_off)
            ids = candidates[b][candidates[b] >= 0]
            flags = nearest[b][candidates[b] >= 0]
            gap = np.linalg.norm(nodes[ids] - p, axis=-1)
            reach = gap <= self.config.neighbour_radius
            reach = reach if reach.any() else flags
            if not reach.any():  # off the roadmap's grid entirely: straight to the goal
                out[b] = p + _clip(goal - p, ahead)
                continue
            ids, gap = ids[reach], gap[reach]
            node = int(ids[np.argmin(gap / float(self.speed) + to_goal[ids])])
            left, here, seen = ahead, p, set()
            while True:
                nxt = nodes[node] if node >= 0 else goal
                step = float(np.linalg.norm(nxt - here))
                if step >= left:
                    out[b] = here + (nxt - here) * (left / step)
                    break
                left, here = left - step, nxt
                if node < 0:  # reached the goal
                    out[b] = goal
                    break
                seen.add(node)
                node = int(hops[node])
                if node in seen:  # defensive: hops strictly shorten the route (edge weights > 0), so no cycle
                    node = -1
        return out.astype(np.float32)

    def _candidates(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """Nodes a position may reach: those in the grid squares within ``neighbour_radius``,
        plus the node nearest to its square (flagged), as ids ``(..., C)`` (-1 where none)."""
        if self._lookup is None:
            self._lookup = self._build_lookup()
        table, nearest, origin, shape, strides, offsets = self._lookup
        square = torch.floor(positions.detach() / self.config.spacing).long() - origin
        square = torch.minimum(square.clamp_min(0), shape - 1)  # positions off the grid use its edge
        around = square[..., None, :] + offsets  # (..., C-1, G)
        inside = ((around >= 0) & (around < shape)).all(-1)
        ids = torch.where(inside, table[(around.clamp_min(0) * strides).sum(-1).clamp_max(len(table) - 1)], -1)
        own = nearest[(square * strides).sum(-1)][..., None]  # (..., 1)
        among = ids == own  # already a neighbour: flag it there, no duplicate
        own = torch.where(among.any(-1, keepdim=True), -1, own)
        return torch.cat([ids, own], -1), torch.cat([among, own >= 0], -1)

    def _build_lookup(self):
        cfg, nodes = self.config, self.nodes.cpu().numpy().astype(np.float64)
        ring = int(np.ceil(cfg.neighbour_radius / cfg.spacing))
        keys = np.floor(nodes / cfg.spacing).astype(np.int64)
        origin = keys.min(0) - ring
        shape = keys.max(0) - origin + ring + 1
        table = np.full(int(np.prod(shape)), -1, np.int64)
        strides = np.array([int(np.prod(shape[i + 1 :])) for i in range(len(shape))])
        table[((keys - origin) * strides).sum(-1)] = np.arange(len(nodes))
        centres = (np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, len(shape))
                   + origin + 0.5) * cfg.spacing
        nearest = torch.cdist(torch.from_numpy(centres), torch.from_numpy(nodes)).argmin(-1)
        offsets = np.stack(np.meshgrid(*[np.arange(-ring, ring + 1)] * len(shape), indexing="ij"), -1).reshape(-1, len(shape))
        device = self.nodes.device
        return (torch.from_numpy(table).to(device), nearest.to(device), torch.from_numpy(origin).to(device),
                torch.from_numpy(shape).to(device), torch.from_numpy(strides).to(device), torch.from_numpy(offsets).to(device))

    def steps(self, obs: Tensor, goal: Tensor) -> Tensor:
        """Estimated env steps from ``obs (B, ..., O)`` to ``goal (B, ..., G)`` (one goal per batch row)."""
        g, cfg = self.config.goal_dims, self.config
        if obs.shape[-1] != self.obs_dim or goal.shape[-1] != g:
            raise ValueError(f"expected observations (..., {self.obs_dim}) and goals (..., {g}); "
                             f"got {tuple(obs.shape)} and {tuple(goal.shape)}")
        goal = goal.expand(*obs.shape[:-1], g)
        batch = obs.shape[0] if obs.dim() > 1 else 1
        flat_obs, flat_goal = obs.reshape(batch, -1, self.obs_dim), goal.reshape(batch, -1, g).detach()
        if not torch.all(flat_goal == flat_goal[:, :1]):
            raise ValueError("steps() takes one goal per batch row")
        # one Dijkstra per distinct goal (cached), then every position of every row at once,
        # each against the few nodes of its neighbouring grid squares
        to_goal = torch.stack([self.node_steps_to(row) for row in flat_goal[:, 0].cpu().numpy()])  # (B, W)
        positions = flat_obs[..., :g]
        candidates, nearest = self._candidates(positions)  # (B, P, C) node ids (-1: none), (B, P, C) bool
        valid = candidates >= 0
        ids = candidates.clamp_min(0)
        gap = (positions[..., None, :] - self.nodes[ids]).pow(2).sum(-1).add(1e-12).sqrt() / self.speed  # (B, P, C)
        within = valid & (gap * self.speed <= cfg.neighbour_radius)
        reach = within | (valid & nearest & ~within.any(-1, keepdim=True))  # none in reach: the nearest node
        node_to_goal = torch.gather(to_goal, 1, ids.reshape(batch, -1)).reshape(ids.shape)
        total = (gap + node_to_goal).masked_fill(~reach, float("inf"))
        if cfg.temperature > 0:
            steps = (-cfg.temperature * torch.logsumexp(-total / cfg.temperature, dim=-1)).clamp_min(0)
        else:
            steps = total.min(-1).values
        return steps.reshape(obs.shape[:-1])

    def distance(self, obs: Tensor, goal: Tensor) -> Tensor:
        """``steps`` in units of length (× the data's median displacement per step)."""
        return self.steps(obs, goal) * self.speed

    def off_support(self, obs: Tensor) -> Tensor:
        """How far each position of ``obs (..., O)`` lies from the data: the distance (units of
        length) to the nearest roadmap node. Inside a wall, where the data never goes, it is large;
        ``steps`` there is only an extrapolation from the nearest node, which may lie on the far side."""
        g = self.config.goal_dims
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"expected observations (..., {self.obs_dim}); got {tuple(obs.shape)}")
        positions = obs[..., :g].reshape(-1, 1, g)
        candidates, _ = self._candidates(positions)  # (P, 1, C)
        gap = (positions[..., None, :] - self.nodes[candidates.clamp_min(0)]).pow(2).sum(-1).add(1e-12).sqrt()
        return gap.masked_fill(candidates < 0, float("inf")).min(-1).values.reshape(obs.shape[:-1])


def _clip(vector: np.ndarray, length: float) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector if norm <= length else vector * (length / norm)


def fit_cost_to_go(data: Trajectories, config: CostToGoConfig, out: str | Path, meta: dict[str, Any] | None = None) -> CostToGo:
    """Build the roadmap of ``data`` and write it to ``out`` (atomically)."""
    began = time.perf_counter()
    model = CostToGo.fit(data, config)
    model.meta = {**(meta or {}), "fit_wall_s": round(time.perf_counter() - began, 2), "data_steps": data.num_steps,
                  "nodes": len(model.nodes), "edges": len(model.edge_src)}
    save_cost_to_go(out, model, model.meta)
    return model


def save_cost_to_go(path: str | Path, model: CostToGo, meta: dict[str, Any] | None = None) -> None:
    save_model_file(path, FORMAT, VERSION, model.config, model, meta, obs_dim=model.obs_dim)


def load_cost_to_go(path: str | Path, device: str | torch.device = "cpu") -> CostToGo:
    """Rebuild a saved cost-to-go; clear errors for missing, corrupt or foreign files."""
    data = read_model_file(path, "cost-to-go model", FORMAT, VERSION)
    try:
        config = from_dict(CostToGoConfig, data["config"])
        weights = data["weights"]
        model = CostToGo(config, int(data["obs_dim"]), len(weights["nodes"]), len(weights["edge_src"]))
        model.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is incompatible with this dfplan: {err}") from err
    model.meta = dict(data.get("meta") or {})
    return model.to(device).eval()

