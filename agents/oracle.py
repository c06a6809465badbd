"""The oracle agent: D4RL's waypoint controller without noise, fresh state every episode.

Privileged (it knows the maze layout) and noiseless; the ceiling row of the results table.
"""

from __future__ import annotations

import numpy as np

from agents.protocol import EpisodicAgent, Observation, as_batch
from envs.controller import ORACLE_CONFIG, ControllerConfig, WaypointController
from envs.mazes import get_env_spec

RESET_JUMP = 0.3
"""A position change larger than this between calls (maze units; the agent moves at most
~0.07 per step) means the env was reset, so the controller replans from scratch."""


class OracleAgent(EpisodicAgent):
    """Q-iteration waypoints + PD control (DESIGN.md sections 5–6), one controller per env.

    Args:
        env_id: suite env id (fixes the maze; its fixed goal is used for flat observations).
        config: controller settings (default: D4RL's gains and waypoint jitter, no noise).
        seed: seeds the waypoint jitter; :meth:`reset` with a seed reseeds it.
    """

    def __init__(
        self, env_id: str, config: ControllerConfig = ORACLE_CONFIG, seed: int | None = None
    ) -> None:
        self.maze = get_env_spec(env_id).maze
        self.config = config
        self.seed = seed
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = seed
        self._seeds = np.random.SeedSequence(self.seed)
        self._controllers: list[WaypointController] = []
        self._last_positions: list[np.ndarray | None] = []

    def reset_env(self, index: int) -> None:
        if index < len(self._controllers):
            self._controllers[index].reset()
            self._last_positions[index] = None

    def act(self, obs: Observation) -> np.ndarray:
        batch = as_batch(obs)
        goals = (
            batch.goals
            if batch.goals is not None
            else np.broadcast_to(self.maze.goal_xy, (len(batch.states), 2))
        )
        while len(self._controllers) < len(batch.states):
            child_seed = int(self._seeds.spawn(1)[0].generate_state(1)[0])
            self._controllers.append(WaypointController(self.maze, self.config, seed=child_seed))
            self._last_positions.append(None)
        actions = np.empty((len(batch.states), 2), dtype=np.float32)
        for i, (state, goal) in enumerate(zip(batch.states, goals, strict=True)):
            last = self._last_positions[i]
            if last is not None and np.linalg.norm(state[:2] - last) > RESET_JUMP:
                self._controllers[i].reset()
            self._last_positions[i] = state[:2].copy()
            actions[i] = self._controllers[i].act(state[:2], state[2:4], goal)
        return actions if batch.batched else actions[0]

    def waypoints(self, index: int = 0) -> np.ndarray:
        """Current plan of env ``index``: remaining waypoints (n, 2); empty before the first act."""
        if index >= len(self._controllers) or not self._controllers[index].waypoints:
            return np.zeros((0, 2))
        controller = self._controllers[index]
        return np.asarray(controller.waypoints[controller.waypoint_index :])
