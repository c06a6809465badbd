"""The oracle agent: D4RL's waypoint controller without noise, fresh state every episode.

Privileged (it knows the maze layout) and noiseless; the ceiling row of the results table.
"""

from __future__ import annotations

import numpy as np

from agents.protocol import EpisodicAgent, Observation, ObservationBatch, as_batch
from envs.controller import ORACLE_CONFIG, ControllerConfig, WaypointController
from envs.mazes import MazeSpec, get_env_spec

RESET_JUMP = 0.3
"""A position change larger than this between calls (maze units; the agent moves at most
~0.07 per step) means the env was reset, so the controller replans from scratch."""


class ControllerAgent(EpisodicAgent):
    """Base of the oracles: one waypoint controller per env of a batch, replanned on a reset.

    Subclasses set ``maze`` (a :class:`envs.mazes.MazeSpec`), ``action_dim``, ``reset_jump``
    (a position change between calls larger than this means the env was reset) and implement
    :meth:`_batch`, :meth:`_controller` and :meth:`_act_one`.
    """

    maze: MazeSpec
    action_dim: int
    reset_jump: float

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = seed
        self._seeds = np.random.SeedSequence(self.seed)
        self._controllers: list = []
        self._last_positions: list[np.ndarray | None] = []

    def reset_env(self, index: int) -> None:
        if index < len(self._controllers):
            self._controllers[index].reset()
            self._last_positions[index] = None

    def _batch(self, obs: Observation) -> ObservationBatch:
        """The validated batch; its states start with the position (x, y)."""
        raise NotImplementedError

    def _controller(self, seed: int):
        """A fresh controller for one env, its randomness seeded by ``seed``."""
        raise NotImplementedError

    def _act_one(self, controller, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """One env's action from its controller, state and goal."""
        raise NotImplementedError

    def act(self, obs: Observation) -> np.ndarray:
        batch = self._batch(obs)
        goals = (
            batch.goals
            if batch.goals is not None
            else np.broadcast_to(self.maze.goal_xy, (len(batch.states), 2))
        )
        while len(self._controllers) < len(batch.states):
            self._controllers.append(self._controller(int(self._seeds.spawn(1)[0].generate_state(1)[0])))
            self._last_positions.append(None)
        actions = np.empty((len(batch.states), self.action_dim), dtype=np.float32)
        for i, (state, goal) in enumerate(zip(batch.states, goals, strict=True)):
            last = self._last_positions[i]
            if last is not None and np.linalg.norm(state[:2] - last) > self.reset_jump:
                self._controllers[i].reset()
            self._last_positions[i] = state[:2].copy()
            actions[i] = self._act_one(self._controllers[i], state, goal)
        return actions if batch.batched else actions[0]


class OracleAgent(ControllerAgent):
    """Q-iteration waypoints + PD control (DESIGN.md sections 5–6), one controller per env.

    Args:
        env_id: suite env id (fixes the maze; its fixed goal is used for flat observations).
        config: controller settings (default: D4RL's gains and waypoint jitter, no noise).
        seed: seeds the waypoint jitter; :meth:`reset` with a seed reseeds it.
    """

    action_dim = 2
    reset_jump = RESET_JUMP

    def __init__(
        self, env_id: str, config: ControllerConfig = ORACLE_CONFIG, seed: int | None = None
    ) -> None:
        self.maze = get_env_spec(env_id).maze
        self.config = config
        self.seed = seed
        self.reset(seed)

    def _batch(self, obs: Observation) -> ObservationBatch:
        return as_batch(obs)

    def _controller(self, seed: int) -> WaypointController:
        return WaypointController(self.maze, self.config, seed=seed)

    def _act_one(self, controller: WaypointController, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return controller.act(state[:2], state[2:4], goal)

    def waypoints(self, index: int = 0) -> np.ndarray:
        """Current plan of env ``index``: remaining waypoints (n, 2); empty before the first act."""
        if index >= len(self._controllers) or not self._controllers[index].waypoints:
            return np.zeros((0, 2))
        controller = self._controllers[index]
        return np.asarray(controller.waypoints[controller.waypoint_index :])
