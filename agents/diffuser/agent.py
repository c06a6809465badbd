"""DiffuserAgent: plan once per episode with Diffuser, then track the plan (Janner et al. 2022, maze2d).

    agent = DiffuserAgent.load("runs/diffuser-maze2d-umaze-v1-quick-seed0/model.pt")
    obs, info = env.reset(seed=0); agent.reset(seed=0)
    action = agent.act(obs)

At the first step of an episode the agent samples one plan of ``H`` steps from the current
observation to the goal (``obs["desired_goal"]``, else the training maze's fixed goal) with
zero velocity, every env of a batch that needs a plan in one batched sampling call. Then,
as Diffuser's ``plan_maze2d.py``:

- ``actions="track"`` (default): at step ``t`` move towards the plan's next state,
  ``a = (p_{t+1} - p) + (v_{t+1} - v)``; once the plan is used up, hold at its last position
  with zero velocity;
- ``actions="diffused"``: execute the plan's own sampled actions ``a_t``; afterwards hold at
  the goal with the same tracking rule.

Actions are clipped to [-1, 1]. A new episode is detected by ``reset``, by ``reset_env``
(``predict``'s ``episode_start``) or by a position jump larger than
:data:`agents.oracle.RESET_JUMP` between calls; the agent replans then.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.diffuser.diffusion import TrajectoryDiffusion
from agents.diffuser.training import load_model
from agents.oracle import RESET_JUMP
from agents.protocol import EpisodicAgent, LatencyRecorder, Observation, as_batch
from dfplan.device import resolve_device
from envs.mazes import get_env_spec

ACTION_MODES = ("track", "diffused")


@dataclass
class _EnvPlan:
    """One env's episode: its plan (raw units) and how far it has been executed."""

    observations: np.ndarray  # (H, O): o_0 (the start) .. o_{H-1} (the goal)
    actions: np.ndarray  # (H, A)
    step: int = 0  # env steps taken since the plan was made


class DiffuserAgent(EpisodicAgent):
    """Diffuser's maze2d controller over a trained :class:`TrajectoryDiffusion`.

    Args:
        model: the trained model (EMA weights).
        actions: ``track`` (PD-like tracking of the planned states) or ``diffused``.
        seed: seeds the sampling noise (default 0); :meth:`reset` with a seed reseeds it.
        default_goal: goal position ``(2,)`` for observations without ``desired_goal``
            (default: the fixed goal of the model's training maze, when recorded).
    """

    def __init__(self, model: TrajectoryDiffusion, actions: str = "track", seed: int | None = None,
                 default_goal: np.ndarray | None = None) -> None:
        if actions not in ACTION_MODES:
            raise ValueError(f"unknown actions {actions!r}; valid: {', '.join(ACTION_MODES)}")
        if (model.config.obs_dim, model.config.action_dim) != (4, 2):
            raise ValueError("DiffuserAgent drives a point mass: it needs observations (x, y, vx, vy) and "
                             f"2-D actions, the model has {model.config.obs_dim} and {model.config.action_dim}")
        self.model = model.eval()
        self.actions = actions
        self.meta: dict[str, Any] = {}
        self.default_goal = None if default_goal is None else np.asarray(default_goal, np.float64).reshape(2)
        self.device = next(model.parameters()).device
        self.obs_dim, self.action_dim = model.config.obs_dim, model.config.action_dim
        self.timer = LatencyRecorder()
        self.reset(0 if seed is None else seed)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto", actions: str = "track",
             seed: int | None = None) -> DiffuserAgent:
        """An agent from a model file written by :func:`agents.diffuser.train`.

        Raises:
            FileNotFoundError: no file at ``path``.
            CheckpointError (a ``ValueError``): corrupt file, or a file of another agent.
        """
        model, meta = load_model(path, resolve_device(device))
        env = meta.get("env")
        agent = cls(model, actions, seed, get_env_spec(env).maze.goal_xy if env else None)
        agent.meta = meta
        return agent

    # ------------------------------------------------------------------ protocol
    def reset(self, seed: int | None = None) -> None:
        """Forget every env's plan; reseed the sampling noise when ``seed`` is given."""
        if seed is not None:
            self.seed = int(seed)
            self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self._plans: list[_EnvPlan | None] = []
        self._positions: list[np.ndarray | None] = []

    def reset_env(self, index: int) -> None:
        if index < len(self._plans):
            self._plans[index] = None
            self._positions[index] = None

    def act(self, obs: Observation) -> np.ndarray:
        """Action for one observation ``(A,)`` or a batch ``(B, A)``: raw units, float32, in [-1, 1]."""
        began = time.perf_counter()
        batch = as_batch(obs, state_dim=self.obs_dim)
        states = batch.states
        if len(self._plans) != len(states):
            self._plans, self._positions = [None] * len(states), [None] * len(states)
        for i, state in enumerate(states):
            last = self._positions[i]
            if last is not None and np.linalg.norm(state[:2] - last) > RESET_JUMP:
                self._plans[i] = None
            self._positions[i] = state[:2].copy()
        due = [i for i, plan in enumerate(self._plans) if plan is None]
        if due:
            self._replan(due, states, self._goals(batch.goals, len(states)))
        actions = np.stack([self._action(plan, state) for plan, state in zip(self._plans, states, strict=True)])
        for plan in self._plans:
            plan.step += 1
        self.timer.act(1000 * (time.perf_counter() - began) / len(states), replanned=bool(due))
        return actions if batch.batched else actions[0]

    def plan(self, obs: Observation) -> np.ndarray:
        """Sample plans ``(B, H, A + O)`` (raw ``[a_t, o_t]``; ``(H, A + O)`` for one observation)
        from ``obs`` without acting; the episode state is untouched."""
        batch = as_batch(obs, state_dim=self.obs_dim)
        trajectories = self._sample(batch.states, self._goals(batch.goals, len(batch.states)))
        return trajectories if batch.batched else trajectories[0]

    def current_plan(self) -> list[np.ndarray | None]:
        """The planned observations ``(H, O)`` each env is executing (raw units; None before a plan)."""
        return [None if plan is None else plan.observations for plan in self._plans]

    def latency_ms(self) -> dict[str, float]:
        """Median wall times per env, as :meth:`dfplan.planner.DFPlanner.latency_ms`: ``act_ms`` per
        env step amortized over each plan cycle (here one episode), and ``replan_ms`` per plan."""
        return self.timer.medians()

    def reset_latency(self) -> None:
        """Forget the recorded wall times."""
        self.timer.clear()

    def _goals(self, goals: np.ndarray | None, count: int) -> np.ndarray:
        if goals is not None:
            return goals
        if self.default_goal is None:
            raise ValueError("this observation has no 'desired_goal' and the model records no training env; "
                             "pass a dict observation with 'desired_goal'")
        return np.broadcast_to(self.default_goal, (count, 2))

    def _sample(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(array), dtype=torch.float32, device=self.device)

        return self.model.plan(tensor(states), tensor(goals), self.generator).cpu().numpy().astype(np.float64)

    def _replan(self, indices: list[int], states: np.ndarray, goals: np.ndarray) -> None:
        began = time.perf_counter()
        trajectories = self._sample(states[indices], goals[indices])  # (b, H, A + O)
        for row, i in enumerate(indices):
            self._plans[i] = _EnvPlan(observations=trajectories[row, :, self.action_dim :],
                                      actions=trajectories[row, :, : self.action_dim])
        self.timer.replan(1000 * (time.perf_counter() - began) / len(indices))

    def _action(self, plan: _EnvPlan, state: np.ndarray) -> np.ndarray:
        horizon = len(plan.observations)
        if self.actions == "diffused" and plan.step < horizon:
            action = plan.actions[plan.step]
        else:
            if plan.step < horizon - 1:
                waypoint = plan.observations[plan.step + 1]
            else:
                waypoint = plan.observations[-1].copy()
                waypoint[2:] = 0.0
            action = (waypoint[:2] - state[:2]) + (waypoint[2:4] - state[2:4])
        return np.clip(action, -1.0, 1.0).astype(np.float32)
