"""The AntMaze oracle: the maze's Q-iteration waypoints walked by the shipped ant walker, no noise.

Privileged (it knows the maze layout): the ceiling row of the AntMaze table, as
:class:`agents.oracle.OracleAgent` is for Maze2D — the data collector's controller without its
action noise. Observations are AntMaze dicts (``observation`` (27,), ``achieved_goal`` (2,),
``desired_goal`` (2,)) or D4RL's flat 29-number state (the env's fixed goal cell is then the goal).
"""

from __future__ import annotations

import os

import numpy as np

from agents.protocol import EpisodicAgent, Observation, as_batch
from envs.ant_controller import AntWaypointController
from envs.ant_walker import AntWalker, default_walker_path
from envs.antmazes import get_antmaze_spec

ANT_STATE_DIM = 29
"""D4RL's ant state: torso (x, y), then AntMaze's 27-number ``observation``."""
RESET_JUMP = 2.0
"""A torso move larger than this between calls (the ant covers well under 0.5 per step) means
the env was reset, so the controller plans afresh."""


class AntOracleAgent(EpisodicAgent):
    """Waypoints + walker for each env of a batch.

    Args:
        env_id: an AntMaze env id (fixes the maze).
        walker: the walker file (default: :func:`envs.ant_walker.default_walker_path`).
        seed: seeds the waypoint jitter; :meth:`reset` with a seed reseeds it.
    """

    def __init__(self, env_id: str, walker: str | os.PathLike | None = None, seed: int | None = None) -> None:
        self.spec = get_antmaze_spec(env_id)
        self.walker_path = walker or default_walker_path()
        self.walker = AntWalker.load(self.walker_path)
        self.seed = seed
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = seed
        self._seeds = np.random.SeedSequence(self.seed)
        self._controllers: list[AntWaypointController] = []
        self._last_positions: list[np.ndarray | None] = []

    def reset_env(self, index: int) -> None:
        if index < len(self._controllers):
            self._controllers[index].reset()
            self._last_positions[index] = None

    def act(self, obs: Observation) -> np.ndarray:
        batch = as_batch(obs, state_dim=ANT_STATE_DIM, with_position=True)
        goals = batch.goals if batch.goals is not None else np.broadcast_to(
            self.spec.maze.goal_xy, (len(batch.states), 2))
        while len(self._controllers) < len(batch.states):
            child_seed = int(self._seeds.spawn(1)[0].generate_state(1)[0])
            self._controllers.append(AntWaypointController(self.spec.maze, self.walker, seed=child_seed))
            self._last_positions.append(None)
        actions = np.empty((len(batch.states), 8), dtype=np.float32)
        for i, (state, goal) in enumerate(zip(batch.states, goals, strict=True)):
            position = state[:2]
            last = self._last_positions[i]
            if last is not None and np.hypot(*(position - last)) > RESET_JUMP:
                self._controllers[i].reset()
            self._last_positions[i] = position.copy()
            actions[i] = self._controllers[i].act(state[2:], position, goal)
        return actions if batch.batched else actions[0]
