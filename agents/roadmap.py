"""The roadmap agent: the learned cost-to-go followed by PD control, with no diffusion model.

The bar the Diffusion Forcing planner must clear. It has exactly the DF planner's
information — the observation, ``obs["desired_goal"]`` and the maze's learned cost-to-go
(``<maze>.cost.pt``, :mod:`dfplan.cost_to_go`: a roadmap of where the *data* went, no map,
no simulator) — and nothing privileged. Each step it

1. looks at ``directions`` points on a circle of radius ``lookahead`` around the position
   and picks the one with the fewest learned steps-to-go (or the goal itself, once the goal
   is inside that circle);
2. drives there with the oracle's PD law ``a = kp · (target − p) − kd · v``, clipped to the
   action bounds.

Aiming a fixed distance ahead along the descending cost field makes it move at the
action limit while far away, cut corners as far as the field allows, and, once the goal is
the target, settle on it at rest — so it both arrives early and holds the goal, the two
things D4RL's score rewards.

    agent = RoadmapAgent.load("maze2d-medium-v1")
    obs, info = env.reset(seed=0); agent.reset(seed=0)
    action = agent.act(obs)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.protocol import EpisodicAgent, Observation, as_batch
from dfplan.cost_to_go import CostToGo, load_cost_to_go

ROUTES = ("ring", "path")


@dataclass(frozen=True)
class RoadmapConfig:
    """How the roadmap is followed."""

    lookahead: float = 0.5  # radius of the circle of candidate targets (chosen on seeds 1000–1099: 0.3 → 0.7 tried)
    directions: int = 32  # candidate targets on that circle
    kp: float = 10.0  # position gain (the oracle's)
    kd: float = 1.0  # velocity gain (the oracle's)
    route: str = "ring"  # "ring": the lowest steps-to-go point on the circle; "path": the point
    # ``lookahead`` along the roadmap's shortest route (never off the data's support)
    keep_off: float = 0.0  # "path": route through nodes at least this far from the support's edge where it can

    def __post_init__(self) -> None:
        if not self.lookahead > 0 or self.directions < 3:
            raise ValueError("lookahead must be > 0 and directions >= 3")
        if self.route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}, got {self.route!r}")
        if self.keep_off < 0:
            raise ValueError(f"keep_off must be >= 0, got {self.keep_off}")
        if self.kp < 0 or self.kd < 0:
            raise ValueError("kp and kd must be >= 0")


class RoadmapAgent(EpisodicAgent):
    """Follow a learned cost-to-go to ``obs["desired_goal"]`` with PD control (no diffusion).

    ``cost_to_go``: the maze's roadmap; ``action_low/high``: action bounds (PointMaze: ±1).
    Observations are goal-conditioned dicts whose ``observation`` starts with the position
    (as many entries as the goal) followed by the velocity.
    """

    def __init__(self, cost_to_go: CostToGo, config: RoadmapConfig | None = None,
                 action_low: float | np.ndarray = -1.0, action_high: float | np.ndarray = 1.0) -> None:
        self.cost_to_go = cost_to_go.eval()
        self.config = config or RoadmapConfig()
        self.goal_dims = cost_to_go.config.goal_dims
        if self.goal_dims != 2:
            raise ValueError("the roadmap agent looks around a circle: goals must be 2-D positions")
        if cost_to_go.obs_dim < 2 * self.goal_dims:
            raise ValueError("the roadmap agent needs observations [position, velocity, ...]")
        self.action_low = np.broadcast_to(np.asarray(action_low, np.float32), (self.goal_dims,)).copy()
        self.action_high = np.broadcast_to(np.asarray(action_high, np.float32), (self.goal_dims,)).copy()
        angles = np.linspace(0.0, 2 * np.pi, self.config.directions, endpoint=False)
        self._ring = self.config.lookahead * np.stack([np.cos(angles), np.sin(angles)], -1)  # (R, 2)
        self.path: Path | None = None  # the cost-to-go file, when loaded from one

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, config: RoadmapConfig | None = None) -> RoadmapAgent:
        """From a cost-to-go file, or a shipped maze name (``maze2d-medium-v1`` / ``multi2d-medium-v1``:
        the shipped ``<maze>.cost.pt`` beside the DF checkpoint)."""
        from dfplan.planner import resolve_checkpoint, shipped_names

        text = str(name_or_path)
        path = resolve_checkpoint(text).with_suffix(".cost.pt") if text in shipped_names() else Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"no cost-to-go file {path} (build one: python -m benchmarks train-cost --env ... --out ...)")
        agent = cls(load_cost_to_go(path), config)
        agent.path = path
        return agent

    def reset(self, seed: int | None = None) -> None:
        """The agent is deterministic and keeps no episode state."""

    def reset_env(self, index: int) -> None:
        """No episode state to forget."""

    def targets(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Where each env heads, ``(B, 2)``: the lowest steps-to-go point on the ring, or the goal inside it
        (``route="path"``: the point ``lookahead`` along the roadmap's route, or the goal nearer than that)."""
        if self.config.route == "path":
            return self.cost_to_go.route_points(positions, goals, self.config.lookahead, self.config.keep_off)
        ring = positions[:, None, :] + self._ring[None]  # (B, R, 2)
        obs = np.zeros((*ring.shape[:2], self.cost_to_go.obs_dim), np.float32)
        obs[..., :2] = ring
        with torch.no_grad():
            steps = self.cost_to_go.steps(torch.from_numpy(obs), torch.as_tensor(goals[:, None, :], dtype=torch.float32))
        best = ring[np.arange(len(ring)), steps.numpy().argmin(-1)]
        near = np.linalg.norm(goals - positions, axis=-1) <= self.config.lookahead
        return np.where(near[:, None], goals, best)

    def act(self, obs: Observation) -> np.ndarray:
        batch = as_batch(obs, state_dim=self.cost_to_go.obs_dim, goal_dim=self.goal_dims)
        if batch.goals is None:
            raise ValueError("the roadmap agent needs obs['desired_goal'] (a goal-conditioned dict observation)")
        positions, velocities = batch.states[:, :2], batch.states[:, 2:4]
        target = self.targets(positions, batch.goals)
        action = self.config.kp * (target - positions) - self.config.kd * velocities
        action = np.clip(action, self.action_low, self.action_high).astype(np.float32)
        return action if batch.batched else action[0]


ANT_ROADMAP = RoadmapConfig(lookahead=1.0, route="path", keep_off=1.6)
"""The ant's way of following the roadmap, chosen on selection seeds 1000–1019 (docs/antmaze.md): the
point 1.0 along the roadmap's route, kept 1.6 (0.4 cells) off the edge of the data, reached 75 of 80
U-Maze / Medium episodes (20 per env); the route 1.5 ahead 52 of 60 (no Medium diverse), 1.5 ahead
with no keep-off 6 of 20 on U-Maze, the 2-unit ring 2 of 20 there (both graze the inner corner and
the ant catches on it)."""


class AntRoadmapAgent(RoadmapAgent):
    """The roadmap on AntMaze: the same target on the learned cost-to-go, walked to by the ant walker.

    The no-diffusion bar of the AntMaze table (:data:`ANT_ROADMAP`: along the route, off the walls):
    the observation, the goal, the maze's learned
    cost-to-go (fitted on the AntMaze dataset's torso positions) and the shipped low-level walker
    (:mod:`envs.ant_walker`) in place of the point mass's PD law. Observations are AntMaze dicts
    (the torso's (x, y) in ``achieved_goal``) or D4RL's flat 29-number state with a goal.
    """

    def __init__(self, cost_to_go: CostToGo, walker, config: RoadmapConfig | None = None) -> None:
        super().__init__(cost_to_go, config or ANT_ROADMAP)
        self.walker = walker

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, config: RoadmapConfig | None = None,
             walker: str | os.PathLike | None = None) -> AntRoadmapAgent:
        """From a cost-to-go file fitted on an AntMaze dataset and a walker file (default: the shipped one)."""
        from envs.ant_walker import AntWalker, default_walker_path

        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"no cost-to-go file {path} (build one: python -m benchmarks train-cost "
                                    "--env antmaze-... --out ... --cost.spacing 0.8 --cost.neighbour_radius 1.2)")
        agent = cls(load_cost_to_go(path), AntWalker.load(walker or default_walker_path()), config)
        agent.path = path
        return agent

    def act(self, obs: Observation) -> np.ndarray:
        batch = as_batch(obs, state_dim=self.cost_to_go.obs_dim, goal_dim=self.goal_dims, with_position=True)
        if batch.goals is None:
            raise ValueError("the roadmap agent needs obs['desired_goal'] (a goal-conditioned dict observation)")
        positions = batch.states[:, :2]
        target = self.targets(positions, batch.goals)
        action = self.walker.act(batch.states[:, 2:], target - positions).astype(np.float32)
        return action if batch.batched else action[0]
