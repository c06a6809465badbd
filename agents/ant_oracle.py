"""The AntMaze oracle: the maze's Q-iteration waypoints walked by the shipped ant walker, no noise.

Privileged (it knows the maze layout): the ceiling row of the AntMaze table, as
:class:`agents.oracle.OracleAgent` is for Maze2D — the data collector's controller without its
action noise. Observations are AntMaze dicts (``observation`` (27,), ``achieved_goal`` (2,),
``desired_goal`` (2,)) or D4RL's flat 29-number state (the env's fixed goal cell is then the goal).
"""

from __future__ import annotations

import os

import numpy as np

from agents.oracle import ControllerAgent
from agents.protocol import Observation, ObservationBatch, as_batch
from envs.ant_controller import AntWaypointController
from envs.ant_walker import AntWalker, default_walker_path
from envs.antmazes import ANT_STATE_DIM, get_antmaze_spec

RESET_JUMP = 2.0
"""A torso move larger than this between calls (the ant covers well under 0.5 per step) means
the env was reset, so the controller plans afresh."""


class AntOracleAgent(ControllerAgent):
    """Waypoints + walker for each env of a batch.

    Args:
        env_id: an AntMaze env id (fixes the maze).
        walker: the walker file (default: :func:`envs.ant_walker.default_walker_path`).
        seed: seeds the waypoint jitter; :meth:`reset` with a seed reseeds it.
    """

    action_dim = 8
    reset_jump = RESET_JUMP

    def __init__(self, env_id: str, walker: str | os.PathLike | None = None, seed: int | None = None) -> None:
        self.spec = get_antmaze_spec(env_id)
        self.maze = self.spec.maze
        self.walker_path = walker or default_walker_path()
        self.walker = AntWalker.load(self.walker_path)
        self.seed = seed
        self.reset(seed)

    def _batch(self, obs: Observation) -> ObservationBatch:
        return as_batch(obs, state_dim=ANT_STATE_DIM, with_position=True)

    def _controller(self, seed: int) -> AntWaypointController:
        return AntWaypointController(self.maze, self.walker, seed=seed)

    def _act_one(self, controller: AntWaypointController, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return controller.act(state[2:], state[:2], goal)
