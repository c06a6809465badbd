"""DFPlanner: the Diffusion Forcing MPC agent as a Gymnasium policy (Chen et al. 2024, Sec. 3.4).

At each replan the planner conditions on the current observation (and, optionally, on the
executed history as clean context tokens — the causal model's posterior update), samples a
plan of tokens ``[a_t, o_{t+1}]`` over a horizon with a scheduling matrix (pyramid by
default: near future certain, far future uncertain) and cost guidance towards the goal
(Monte Carlo Guidance over ``mcg_samples`` futures), executes the first ``replan_every``
steps and replans (optionally choosing among plans by a search over partially denoised
ones, :mod:`dfplan.search`). Actions come from the diffused action channels (``diffused``),
from the model's inverse-dynamics head aimed at the plan (``inverse``,
:mod:`dfplan.inverse_dynamics`), or from PD tracking of the planned states (``pd``).

    agent = DFPlanner.load("maze2d-large-v1")
    obs, info = env.reset(seed=0); agent.reset(seed=0)
    action = agent.act(obs)

Everything here is a config field (:class:`PlannerConfig`), changeable at load time
without retraining.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfplan import scheduling
from dfplan.checkpoint import load_checkpoint
from dfplan.config import from_dict, merged, to_dict
from dfplan.cost_to_go import CostToGo, load_cost_to_go
from dfplan.costs import anchor_cost, clearance_cost, goal_cost, reward_cost, upright_cost
from dfplan.device import resolve_device
from dfplan.inverse_dynamics import ActionHead, InverseDynamics, load_inverse_dynamics
from dfplan.model import DiffusionForcing
from dfplan.policy import EpisodicAgent, LatencyRecorder, Observation, as_batch
from dfplan.sampler import SamplerConfig, sample
from dfplan.search import SearchConfig, search
from dfplan.shipped import checkpoint_dir, maze_name, resolve_checkpoint, shipped_names

__all__ = ["ACTION_MODES", "GUIDANCE_COSTS", "DFPlanner", "Plan", "PlannerConfig", "checkpoint_dir", "maze_name",
           "pursuit_index", "pursuit_target", "resolve_checkpoint", "shipped_names"]

ACTION_MODES = ("diffused", "inverse", "pd", "feedforward", "pursuit")
OUT_OF_RANGE_STD = 4.0
"""An observation entry or goal this many standard deviations of the model's data from its mean is warned about."""
GUIDANCE_COSTS = ("goal", "learned", "reward", "none")
FAR_WIDTH = 0.2  # width (units of length) of guidance_far's smooth step at far_radius


@dataclass(frozen=True)
class PlannerConfig:
    """How the planner plans and acts; stored with shipped checkpoints, overridable at load."""

    horizon: int = 20  # plan length in tokens (frame_stack env steps each)
    to_episode_end: bool = False  # plan over the remaining episode instead (the paper), capped at max_horizon
    max_horizon: int = 0  # cap for to_episode_end in tokens (0 = the model's training horizon)
    episode_steps: int = 0  # episode length in env steps, needed by to_episode_end (taken from the env when known)
    replan_every: int = 10  # env steps executed from each plan before replanning (paper: 10)
    replan_near: int = 0  # within velocity_radius of the goal, replan after this many env steps instead (0 = replan_every): closes the loop where the model, which never saw stopping, drifts off
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(num_steps=10))  # scheduling matrix, DDIM steps, guidance scale, MCG samples
    guidance: str = "goal"  # goal (straight-line distance to obs['desired_goal']) | learned (a cost-to-go learned from the data) | reward (the model's predicted return, plus the speed penalty near a given goal) | none
    cost_model: str = ""  # learned guidance: the cost-to-go file ('' = <checkpoint>.cost.pt; a relative path not found from the working directory is looked up beside the checkpoint, then by file name among the shipped ones)
    reward_weight: float = 0.0  # goal / learned guidance: also reward the model's predicted return, cost − w · Σ_t r̂_t (needs a reward channel, e.g. a --goal-reward model)
    goal_reach: float = 0.0  # goal / learned guidance: 0 = the distance itself; > 0 = reach · (1 − exp(−d / reach)), a pull that fades beyond `reach` of the goal (a goal-conditioned model routes there)
    velocity_weight: float = 0.05  # goal guidance: weight of the speed penalty near the goal (0 = off)
    velocity_radius: float = 0.5  # goal guidance: length scale of "near the goal" for that penalty and for guidance_near
    guidance_near: float = 1.0  # goal / learned guidance: gain on the guidance of an env whose agent is at its goal, 1 + (g − 1)·exp(−d / velocity_radius) at distance d (1 = off): a model that never saw stopping needs a firmer pull to stay
    guidance_far: float = 1.0  # goal / learned guidance: gain on the guidance of an env whose agent is farther than far_radius from its goal, 1 + (g − 1)·σ((d − far_radius) / FAR_WIDTH) (1 = off): a firmer pull along the route that leaves the hold untouched
    far_radius: float = 1.0  # goal / learned guidance: where guidance_far sets in (straight-line distance to the goal)
    support_weight: float = 0.0  # learned guidance: weight of the penalty on planned positions off the data's roadmap (through walls); 0 = off
    support_margin: float = 0.2  # learned guidance: distance to the nearest roadmap node that costs nothing
    upright_weight: float = 0.0  # a body's guidance (AntMaze): weight of the penalty on planned states tipped past 60°, Σ_t relu(0.5 − up_t)² (dfplan.costs.upright_cost), added to the guidance cost (0 = off)
    upright_quat_at: int = 3  # upright_weight: where the body's orientation quaternion (w, x, y, z) starts in the observation (3 in D4RL's ant state)
    clearance_weight: float = 0.0  # weight of the penalty on planned positions closer than clearance_margin to the edge of the data's support (a wall), Σ_t relu(margin − c_t)² with c the learned cost-to-go's clearance_at (dfplan.costs.clearance_cost), added to the guidance cost (0 = off)
    clearance_margin: float = 1.6  # clearance_weight: the clearance that costs nothing (units of position; 1.6 = the ant roadmap's keep_off)
    anchor_weight: float = 0.0  # weight of the penalty on the first planned state's distance from the current one, ‖ô_{t+1}[:anchor_dims] − o_t[:anchor_dims]‖² (dfplan.costs.anchor_cost), added to the guidance cost (0 = off): a plan drawn from where the agent is
    anchor_dims: int = 2  # anchor_weight, agreement_weight: how many leading observation entries are the position compared (2: the (x, y) of an AntMaze or Maze2D state)
    agreement_weight: float = 0.0  # candidates > 1: rank them by cost + w · mean_t ‖ô_t[:anchor_dims] − ô'_t[:anchor_dims]‖², ô' the unexecuted rest of the previous plan over the steps both cover (0 = off): successive plans that agree, so the executor is not turned at every replan
    action_mode: str = "pd"  # pd (track planned [position, velocity]: obs[:A], obs[A:2A]) | feedforward (the planned action plus that PD correction) | pursuit (follow the planned path: PD onto the planned position `lookahead` ahead, or the action head aimed there: pursuit_dims) | diffused (execute the planned actions) | inverse (the learned inverse-dynamics head from the actual observation to the planned one inverse_lead steps ahead: the model's actions, closed loop, no gains)
    inverse_model: str = ""  # inverse: the inverse-dynamics file ('' = <checkpoint>.inverse.pt; looked up like cost_model)
    inverse_lead: int = 20  # inverse: aim at the planned observation this many steps ahead of the current step
    inverse_tempo: float = 1.0  # inverse: ask the head to reach that observation in lead / tempo steps (> 1 = the plan's route, faster than the plan's pace)
    tempo_fade: float = 0.0  # inverse_tempo fades to 1 near the goal: 1 + (tempo − 1)·(1 − exp(−d / tempo_fade)) at distance d (0 = the same tempo everywhere)
    pd_near: float = 0.0  # inverse: within this distance of obs['desired_goal'], track the plan by PD (kp, kd) instead of the inverse head (0 = off): the plan's next state, not one 20 steps ahead
    lookahead: float = 0.5  # pursuit: how far ahead along the planned path to aim (units of position)
    pursuit_dims: int = 0  # pursuit: 0 = PD onto the planned position (a point mass, position = obs[:A]); k > 0 = follow the path in obs[:k] (2: an ant's (x, y)) and aim the action head (the inverse-dynamics model, or a given one such as the ant walker) at the planned state there
    kp: float = 10.0  # pd: position gain
    kd: float = 1.0  # pd: velocity gain
    goal_rest: float = 0.0  # learned guidance: condition the plan on the goal at rest (replacement, as Diffuser imposes its goal) from the token where the cost-to-go says the agent arrives, ceil(goal_rest · steps-to-go / frame_stack) + rest_margin, on (0 = off; 1 = at the data's median speed): the stop that data which never rests does not teach, planned by the model up to it
    rest_margin: int = 1  # goal_rest: tokens of slack after the estimated arrival
    goal_hold: float = 0.0  # within this distance of obs['desired_goal'], PD onto the goal at rest instead of the plan (0 = off; the oracle's hold switched on by the known goal: a labelled variant, not DF)
    history_tokens: int = 0  # executed tokens fed back as clean context (0 = condition on the current obs only)
    candidates: int = 1  # plans sampled per replan; the lowest-cost one is executed
    search: SearchConfig = field(default_factory=SearchConfig)  # beam search over partially denoised plans, branching on guidance scale and noise (search.width 0 = off)
    warm_start: int = 0  # rolling replanning: 0 = off; s > 0 = keep the previous plan's unexecuted tokens, re-noised to DDIM step s, new tail from noise, s rows per replan
    seed: int = 0  # seeds the sampling noise (reset(seed) reseeds)

    def __post_init__(self) -> None:
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"unknown action_mode {self.action_mode!r}; valid: {', '.join(ACTION_MODES)}")
        if self.guidance not in GUIDANCE_COSTS:
            raise ValueError(f"unknown guidance {self.guidance!r}; valid: {', '.join(GUIDANCE_COSTS)}")
        if self.horizon < 1 or self.replan_every < 1 or self.candidates < 1 or self.inverse_lead < 1:
            raise ValueError("horizon, replan_every, candidates and inverse_lead must be >= 1")
        if self.replan_near < 0:
            raise ValueError("replan_near must be >= 0 (0 = off)")
        if not (self.guidance_near > 0 and self.guidance_far > 0):
            raise ValueError("guidance_near and guidance_far must be > 0 (1 = off)")
        if not self.far_radius >= 0:
            raise ValueError("far_radius must be >= 0")
        if not self.inverse_tempo > 0 or not self.tempo_fade >= 0:
            raise ValueError("inverse_tempo must be > 0 and tempo_fade >= 0")
        if not (self.reward_weight >= 0 and self.goal_reach >= 0):
            raise ValueError("reward_weight and goal_reach must be >= 0")
        if self.history_tokens < 0 or self.max_horizon < 0 or self.episode_steps < 0:
            raise ValueError("history_tokens, max_horizon and episode_steps must be >= 0")
        if not 0 <= self.warm_start <= self.sampler.num_steps:
            raise ValueError(f"warm_start must be in [0, sampler.num_steps={self.sampler.num_steps}]")
        if self.velocity_radius <= 0 or not self.lookahead > 0:
            raise ValueError("velocity_radius and lookahead must be > 0")
        if not (self.support_weight >= 0 and self.support_margin >= 0):
            raise ValueError("support_weight and support_margin must be >= 0")
        if not self.upright_weight >= 0 or self.upright_quat_at < 0:
            raise ValueError("upright_weight and upright_quat_at must be >= 0 (upright_weight 0 = off)")
        if self.pursuit_dims < 0:
            raise ValueError(f"pursuit_dims must be >= 0 (0 = the action's size), got {self.pursuit_dims}")
        if not (self.clearance_weight >= 0 and self.clearance_margin > 0):
            raise ValueError("clearance_weight must be >= 0 (0 = off) and clearance_margin > 0")
        if not self.anchor_weight >= 0 or self.anchor_dims < 1:
            raise ValueError("anchor_weight must be >= 0 (0 = off) and anchor_dims >= 1")
        if not self.agreement_weight >= 0 or (self.agreement_weight and (self.candidates < 2 or self.search.width)):
            raise ValueError("agreement_weight must be >= 0 (0 = off) and ranks candidates: set candidates >= 2 "
                             "(and search.width=0)")
        if self.search.width and (self.candidates > 1 or self.warm_start or self.guidance == "none"):
            raise ValueError("search replaces candidates and needs a guidance cost and no warm_start: "
                             "set candidates=1, warm_start=0 and a guidance other than 'none'")
        if not self.pd_near >= 0:
            raise ValueError(f"pd_near must be >= 0, got {self.pd_near}")
        if self.pd_near and self.action_mode != "inverse":
            raise ValueError("pd_near switches the inverse head to PD tracking near the goal: set action_mode='inverse'")
        if not self.goal_hold >= 0:
            raise ValueError("goal_hold must be >= 0 (0 = off)")
        if not self.goal_rest >= 0 or self.rest_margin < 0:
            raise ValueError("goal_rest and rest_margin must be >= 0 (goal_rest 0 = off)")
        if self.goal_rest and (self.guidance != "learned" or self.search.width):
            raise ValueError("goal_rest estimates the arrival with the learned cost-to-go and conditions one "
                             "sampling run: set guidance='learned' and search.width=0")


@dataclass
class Plan:
    """A sampled plan in raw units: ``observations (B, N, O)`` are ``o_{t+1..t+N}``,
    ``actions (B, N, A)``, ``rewards (B, N)`` or None, from ``start (B, O)`` towards ``goal (B, G)``."""

    start: np.ndarray
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray | None
    goal: np.ndarray | None
    cost: np.ndarray | None = None
    tokens: np.ndarray | None = None  # (B, N, D) raw tokens, what a warm start carries over


@dataclass
class _EnvState:
    """What the planner remembers of one env's episode."""

    steps: int = 0
    observations: list[np.ndarray] = field(default_factory=list)  # o_0 .. o_t
    actions: list[np.ndarray] = field(default_factory=list)  # a_0 .. a_{t-1}
    plan_obs: np.ndarray | None = None  # (N, O)
    plan_actions: np.ndarray | None = None  # (N, A)
    plan_tokens: np.ndarray | None = None  # (N, D) raw
    plan_index: int = 0
    plan_progress: int = 0  # pursuit: index of the planned point reached so far
    last_action: np.ndarray | None = None


def pursuit_target(path: np.ndarray, position: np.ndarray, lookahead: float, progress: int = 0) -> tuple[np.ndarray, int]:
    """Pure pursuit of a planned path ``(N, A)``: from the planned point nearest ``position (A,)`` at or
    after index ``progress`` (so the path is followed forwards), the first later point at least
    ``lookahead`` away, else the path's last point (its arrival). Returns (target, new progress)."""
    index, progress = pursuit_index(path, position, lookahead, progress)
    return path[index], progress


def pursuit_index(path: np.ndarray, position: np.ndarray, lookahead: float, progress: int = 0) -> tuple[int, int]:
    """:func:`pursuit_target`'s choice as an index into ``path``: (target index, new progress)."""
    distance = np.linalg.norm(path[progress:] - position, axis=-1)
    nearest = int(distance.argmin())
    ahead = np.flatnonzero(distance[nearest:] >= lookahead)
    index = progress + nearest + int(ahead[0]) if len(ahead) else len(path) - 1
    return index, progress + nearest


class DFPlanner(EpisodicAgent):
    """Diffusion Forcing MPC agent: ``reset``, ``act``, ``plan``, ``predict``.

    ``model``: a trained :class:`DiffusionForcing`; ``action_low/high``: bounds actions are
    clipped to (default: the checkpoint's recorded bounds, else ±1).
    """

    def __init__(self, model: DiffusionForcing, config: PlannerConfig | None = None,
                 action_low: np.ndarray | float = -1.0, action_high: np.ndarray | float = 1.0,
                 cost_to_go: CostToGo | None = None, checkpoint: Path | None = None,
                 token_cond: str | None = None, inverse: ActionHead | None = None) -> None:
        self.model = model.eval()
        self.meta: dict[str, Any] = {}
        self.config = config or PlannerConfig()
        self.checkpoint = checkpoint
        self.layout = model.layout
        if self.config.history_tokens >= model.config.horizon:
            raise ValueError(f"history_tokens must be < the model's training horizon ({model.config.horizon})")
        if self.config.guidance == "reward" or self.config.reward_weight:
            reward_cost(self.layout)  # fail now, not at the first act
        if self.config.upright_weight:
            upright_cost(self.layout, self.config.upright_quat_at)  # the quaternion must fit the observation
        if self.layout.delta_dims and self.config.goal_rest:
            raise ValueError("goal_rest imposes tokens of positions; this model's tokens hold displacements "
                             f"(delta_dims={self.layout.delta_dims}): set goal_rest=0")
        if (self.config.anchor_weight or self.config.agreement_weight) and self.config.anchor_dims > self.layout.obs_dim:
            raise ValueError(f"anchor_dims={self.config.anchor_dims} exceeds the observation's {self.layout.obs_dim} entries")
        if self.config.warm_start and self.config.replan_every % self.layout.frame_stack:
            raise ValueError(f"warm_start needs replan_every to be a multiple of frame_stack ({self.layout.frame_stack})")
        pd_law = self.config.action_mode in ("pd", "feedforward") or (self.config.action_mode == "pursuit"
                                                                          and not self.config.pursuit_dims)
        if self.config.pursuit_dims > self.layout.obs_dim:
            raise ValueError(f"pursuit_dims={self.config.pursuit_dims} exceeds the observation's {self.layout.obs_dim} entries")
        if pd_law and self.layout.obs_dim < 2 * self.layout.action_dim:
            raise ValueError(f"action_mode={self.config.action_mode!r} needs observations [position (A), velocity (A), ...]; use 'diffused'")
        self.device = next(model.parameters()).device
        self.token_cond = token_cond  # "goal": a goal-conditioned denoiser (trained with --goal-conditioned)
        if model.config.token_cond_dim and token_cond != "goal":
            raise ValueError("this model takes per-token conditioning the planner cannot supply "
                             f"(token_cond_dim={model.config.token_cond_dim}, token_cond={token_cond!r}); "
                             "only goal-conditioned models (token_cond='goal') plan")
        self.cost_to_go = cost_to_go
        if (self.config.guidance == "learned" or self.config.clearance_weight) and cost_to_go is None:
            self.cost_to_go = self._load_cost_to_go()
        self.inverse = inverse
        head_driven = self.config.action_mode == "inverse" or (self.config.action_mode == "pursuit" and self.config.pursuit_dims)
        if head_driven and inverse is None:
            self.inverse = self._load_inverse()
        self.action_low = np.broadcast_to(np.asarray(action_low, np.float32), (self.layout.action_dim,)).copy()
        self.action_high = np.broadcast_to(np.asarray(action_high, np.float32), (self.layout.action_dim,)).copy()
        self.timer = LatencyRecorder()
        normalizer = model.normalizer  # the data's observation statistics, for the out-of-range warning
        self._obs_stats = None if normalizer.mode == "none" else tuple(
            t.detach().cpu().numpy().astype(np.float64) for t in normalizer.obs_stats())
        self.reset(self.config.seed)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, name_or_path: str | os.PathLike, device: str = "auto", config: PlannerConfig | None = None,
             env: Any = None, inverse: ActionHead | None = None, **overrides: Any) -> DFPlanner:
        """Load a shipped checkpoint by name (e.g. ``"maze2d-large-v1"``) or from a file path.

        The planner settings are, in order of precedence: ``overrides`` (PlannerConfig
        fields; a nested one partially, e.g. ``sampler={"guidance_scale": 0.7}`` keeps the stored
        sampler's other fields), ``config``, those stored with the checkpoint, the defaults. ``env``
        (optional) is checked against the checkpoint's dimensions and supplies the action
        bounds and the episode length. ``inverse`` (optional) acts in the ``inverse`` action mode in
        place of the checkpoint's own head (``<checkpoint>.inverse.pt``), which is then not read.
        """
        path = resolve_checkpoint(name_or_path)
        model, meta = load_checkpoint(path, resolve_device(device))
        if config is None:
            config = from_dict(PlannerConfig, meta["planner"]) if meta.get("planner") else PlannerConfig()
        if overrides:
            config = merged(config, overrides)
        planner = cls(model, config, meta.get("action_low", -1.0), meta.get("action_high", 1.0), checkpoint=path,
                      token_cond=meta.get("token_cond"), inverse=inverse)
        planner.meta = meta
        if env is not None:
            planner.check_env(env)
        return planner

    def check_env(self, env: Any) -> None:
        """Raise ``ValueError`` if ``env``'s spaces, or its maze, do not match the checkpoint; adopt its
        bounds and length."""
        trained, env_id = getattr(self, "meta", {}).get("env"), getattr(getattr(env, "spec", None), "id", None)
        if trained and env_id and maze_name(trained) != maze_name(env_id):
            raise ValueError(f"this checkpoint was trained on {trained}; the env is {env_id} "
                             "(a model plans only in the maze it was trained on)")
        obs_space = env.observation_space
        inner = obs_space["observation"] if hasattr(obs_space, "spaces") and "observation" in obs_space.spaces else obs_space
        act_space = env.action_space
        width = inner.shape[-1]
        achieved = obs_space.spaces.get("achieved_goal") if hasattr(obs_space, "spaces") else None
        if achieved is not None and self._position_from_achieved(width, achieved.shape[-1]):
            width = self.layout.obs_dim
        if width != self.layout.obs_dim or act_space.shape[-1] != self.layout.action_dim:
            raise ValueError(
                f"checkpoint is for observations of size {self.layout.obs_dim} and actions of size "
                f"{self.layout.action_dim}; this env has {width} and {act_space.shape[-1]}"
            )
        self.action_low = np.asarray(act_space.low, np.float32).reshape(-1)[-self.layout.action_dim :].copy()
        self.action_high = np.asarray(act_space.high, np.float32).reshape(-1)[-self.layout.action_dim :].copy()
        steps = getattr(getattr(env, "spec", None), "max_episode_steps", None)
        if steps and not self.config.episode_steps:
            self.config = dataclasses.replace(self.config, episode_steps=int(steps))

    def with_config(self, config: PlannerConfig) -> DFPlanner:
        """The same model and bounds with other planner settings (a fresh episode state)."""
        same_cost = config.cost_model == self.config.cost_model
        same_inverse = config.inverse_model == self.config.inverse_model
        planner = DFPlanner(self.model, config, self.action_low, self.action_high,
                            self.cost_to_go if same_cost else None, self.checkpoint, self.token_cond,
                            self.inverse if same_inverse else None)
        planner.meta = getattr(self, "meta", {})
        return planner

    def planner_meta(self) -> dict[str, Any]:
        """The planner settings as plain data, for storing with a checkpoint."""
        return to_dict(self.config)

    # ------------------------------------------------------------------ protocol
    def reset(self, seed: int | None = None) -> None:
        """Forget every env's episode; reseed the sampling noise when ``seed`` is given."""
        if seed is not None:
            self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self._envs: list[_EnvState] = []
        self._warned: set[str] = set()

    def reset_env(self, index: int) -> None:
        if index < len(self._envs):
            self._envs[index] = _EnvState()

    def act(self, obs: Observation) -> np.ndarray:
        """Action for one observation ``(A,)`` or a batch ``(B, A)``, raw units, within bounds."""
        began = time.perf_counter()
        batch = self._as_batch(obs)
        states = batch.states.astype(np.float32)
        if self.config.goal_hold or self.config.goal_rest or self.config.pd_near:
            self._check_goal_state(batch.goals)  # before any episode state changes
        if len(self._envs) != len(states):
            self._envs = [_EnvState() for _ in states]
        for env, state in zip(self._envs, states, strict=True):
            if env.steps > len(env.actions):  # the previous action was taken: o_t arrived
                env.actions.append(env.last_action)
            env.observations.append(state)
        every = self._replan_intervals(states, batch.goals)
        due = [i for i, env in enumerate(self._envs)
               if env.plan_obs is None or env.plan_index >= min(every[i], len(env.plan_obs))]
        if due:
            self._replan(due, states, batch.goals)
        tempos = self._tempos(states, batch.goals)
        modes = self._action_modes(states, batch.goals)
        actions = np.stack([self._action(env, state, tempo, mode)
                            for env, state, tempo, mode in zip(self._envs, states, tempos, modes, strict=True)])
        if self.config.goal_hold:
            actions = self._hold(actions, states, batch.goals)
        for env, action in zip(self._envs, actions, strict=True):
            env.last_action = action
            env.steps += 1
            env.plan_index += 1
        self.timer.act(1000 * (time.perf_counter() - began) / len(states), replanned=bool(due))
        return actions if batch.batched else actions[0]

    def plan(self, obs: Observation, on_row: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> Plan:
        """Sample a plan from ``obs`` (single or batch) without acting; the episode state is untouched.
        ``on_row`` sees every row of the scheduling matrix (:func:`dfplan.sampler.sample`; with
        ``candidates`` > 1 the batch holds every candidate; not with search), its clean-token
        prediction in raw units with positions as the plan has them (a ``delta_dims`` model's
        displacements summed from the observation)."""
        batch = self._as_batch(obs)
        goals = None if batch.goals is None else self._tensor(batch.goals)
        states = self._tensor(batch.states)
        if on_row is not None and self.config.search.width:
            raise ValueError("on_row follows one sampling run; search runs many: set search.width=0")
        if on_row is not None:  # positions as the plan has them (absolute() passes other models' tokens through)
            seen, starts = on_row, states.repeat_interleave(self.config.candidates, dim=0)
            on_row = lambda m, x0, k: seen(m, self.layout.absolute(x0, starts), k)  # noqa: E731
        return self._sample(states, goals, self._horizon(0), context=None, on_row=on_row)

    def current_plan(self) -> list[np.ndarray]:
        """The plan each env is executing: planned observations ``(N, O)`` per env (raw units)."""
        return [env.plan_obs for env in self._envs]

    def latency_ms(self) -> dict[str, float]:
        """Median wall times per env: ``act_ms`` per env step amortized over each replan cycle
        (the cycle's total ``act`` time / its steps), and ``replan_ms`` per replan."""
        return self.timer.medians()

    def reset_latency(self) -> None:
        """Forget the recorded wall times."""
        self.timer.clear()

    # ------------------------------------------------------------------ internals
    def _as_batch(self, obs: Observation):
        with_position = (isinstance(obs, dict) and np.ndim(obs.get("observation")) > 0
                         and np.ndim(obs.get("achieved_goal")) > 0
                         and self._position_from_achieved(np.shape(obs["observation"])[-1],
                                                          np.shape(obs["achieved_goal"])[-1]))
        batch = as_batch(obs, state_dim=self.layout.obs_dim, goal_dim=None, with_position=with_position)
        if self.token_cond == "goal" and batch.goals is None:
            raise ValueError("a goal-conditioned model needs obs['desired_goal'] (a dict observation)")
        self._warn_out_of_range(batch.states, batch.goals)
        return batch

    def _position_from_achieved(self, obs_width: int, achieved_width: int) -> bool:
        """Whether the model's state is ``achieved_goal`` followed by ``observation``: AntMaze's dict
        observation leaves the torso's (x, y) to ``achieved_goal``, D4RL's ant state puts it first."""
        return obs_width + achieved_width == self.layout.obs_dim

    def _warn_out_of_range(self, states: np.ndarray, goals: np.ndarray | None) -> None:
        """Warn (once per kind until :meth:`reset`) about an observation or goal far outside the
        model's training data: the planner still plans, but the plan is an extrapolation."""
        if self._obs_stats is None:
            return
        loc, scale = self._obs_stats
        checks = [("observation", states, loc, scale)]
        if goals is not None and goals.shape[-1] <= len(loc):
            dims = goals.shape[-1]  # a goal is a position: the observation's first entries
            checks.append(("desired_goal", goals, loc[:dims], scale[:dims]))
        for name, values, mean, std in checks:
            z = np.abs(values - mean) / std
            if name in self._warned or not np.any(z > OUT_OF_RANGE_STD):
                continue
            row, entry = np.unravel_index(int(z.argmax()), z.shape)
            self._warned.add(name)
            warnings.warn(f"{name} {values[row].round(3).tolist()} (batch row {row}): entry {entry} is {z[row, entry]:.0f} "
                          f"standard deviations from the model's training data (mean {mean[entry]:.2f}, std "
                          f"{std[entry]:.2f}); the plan is an extrapolation", RuntimeWarning, stacklevel=4)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=torch.float32, device=self.device)

    def _horizon(self, steps_done: int) -> int:
        cfg, fs = self.config, self.layout.frame_stack
        cap = (cfg.max_horizon or self.model.config.horizon) - cfg.history_tokens
        if not cfg.to_episode_end:
            return cfg.horizon
        if not cfg.episode_steps:
            raise ValueError("to_episode_end needs episode_steps (pass env= to DFPlanner.load or set it)")
        return max(1, min(cap, math.ceil((cfg.episode_steps - steps_done) / fs)))

    def _cost(self, goals: torch.Tensor | None, states: torch.Tensor):
        """The guidance cost on raw tokens: the task's (guidance), plus the upright, clearance and anchor penalties when
        weighted; a ``delta_dims`` model's displacements are summed into positions from ``states`` first."""
        cfg = self.config
        terms = [(1.0, self._task_cost(goals))]
        if cfg.upright_weight:
            terms.append((cfg.upright_weight, upright_cost(self.layout, cfg.upright_quat_at)))
        if cfg.clearance_weight:
            terms.append((cfg.clearance_weight, clearance_cost(self.layout, self.cost_to_go.clearance_at, cfg.clearance_margin)))
        if cfg.anchor_weight:
            terms.append((cfg.anchor_weight, anchor_cost(self.layout, states, cfg.anchor_dims)))
        terms = [(weight, term) for weight, term in terms if term is not None]
        if not terms:
            return None
        if len(terms) == 1 and terms[0][0] == 1.0:
            cost = terms[0][1]
        else:
            cost = lambda tokens: sum(weight * term(tokens) for weight, term in terms)  # noqa: E731
        if not self.layout.delta_dims:
            return cost
        return lambda tokens: cost(self.layout.absolute(tokens, states))  # costs read positions

    def _task_cost(self, goals: torch.Tensor | None):
        cfg = self.config
        if cfg.guidance == "none":
            return None
        if cfg.guidance == "reward":  # with a goal, its speed penalty too (velocity_weight): stop there
            weight = cfg.velocity_weight if goals is not None and 2 * goals.shape[-1] <= self.layout.obs_dim else 0.0
            return reward_cost(self.layout, goals, weight, cfg.velocity_radius)
        if goals is None:
            raise ValueError("goal guidance needs obs['desired_goal'] (a dict observation) — or set guidance='none'")
        learned = cfg.guidance == "learned"
        cost = goal_cost(self.layout, goals, cfg.velocity_weight, cfg.velocity_radius,
                         self.cost_to_go.distance if learned else None,
                         self.cost_to_go.off_support if learned else None, cfg.support_weight, cfg.support_margin,
                         cfg.goal_reach)
        if not cfg.reward_weight:
            return cost
        predicted_return = reward_cost(self.layout)
        return lambda tokens: cost(tokens) + cfg.reward_weight * predicted_return(tokens)

    def _side_file(self, named: str, suffix: str, needed_by: str, what: str, train: str) -> Path:
        """A model file kept beside the checkpoint: ``named`` (a path; a relative one not found from the
        working directory is looked up beside the checkpoint, then by file name among the shipped ones),
        else ``<checkpoint><suffix>``."""
        if named:
            path = Path(named)
            if not path.is_absolute() and not path.is_file() and self.checkpoint is not None:
                path = self.checkpoint.parent / path  # a shipped variant names its file beside it
            if not path.is_file() and (checkpoint_dir() / path.name).is_file():
                path = checkpoint_dir() / path.name  # ... or names a shipped file (dfplan/checkpoints)
        elif self.checkpoint is not None:
            path = self.checkpoint.with_suffix(suffix)
        else:
            raise ValueError(f"{needed_by} needs a {what}: pass it, name its file in the config, "
                             f"or load a checkpoint that has <name>{suffix} beside it")
        if not path.is_file():
            raise FileNotFoundError(f"{needed_by} needs the model file {path} (train it: {train})")
        return path

    def _load_inverse(self) -> InverseDynamics:
        """The inverse-dynamics head named by ``config.inverse_model``, else ``<checkpoint>.inverse.pt``."""
        path = self._side_file(self.config.inverse_model, ".inverse.pt", "action_mode='inverse' (or 'pursuit' with pursuit_dims)",
                               "inverse-dynamics model", "python -m dfplan train-inverse --data ... --out ...")
        model = load_inverse_dynamics(path, self.device)
        if (model.obs_dim, model.action_dim) != (self.layout.obs_dim, self.layout.action_dim):
            raise ValueError(f"inverse-dynamics model {path} is for observations {model.obs_dim} / actions "
                             f"{model.action_dim}, the planner's are {self.layout.obs_dim} / {self.layout.action_dim}")
        return model

    def _load_cost_to_go(self) -> CostToGo:
        """The cost-to-go named by ``config.cost_model``, else ``<checkpoint>.cost.pt`` beside the checkpoint."""
        path = self._side_file(self.config.cost_model, ".cost.pt", "guidance='learned' or clearance_weight", "cost-to-go",
                               "python -m dfplan train-cost --data ... --out ...")
        model = load_cost_to_go(path, self.device)
        if model.obs_dim != self.layout.obs_dim:
            raise ValueError(f"cost-to-go {path} is for observations of size {model.obs_dim}, the planner's are {self.layout.obs_dim}")
        return model

    def _sample(self, states: torch.Tensor, goals: torch.Tensor | None, horizon: int,
                context: torch.Tensor | None, cond: torch.Tensor | None = None,
                init: torch.Tensor | None = None, kept: int = 0, on_row=None,
                previous: torch.Tensor | None = None) -> Plan:
        """Sample (the best of ``candidates``) plans; ``init`` with ``kept > 0``: warm-start
        from the first ``kept`` tokens of ``init (B, horizon, D)``; ``previous`` (``agreement_weight``): the
        previous plans' positions the candidates are also ranked by their agreement with."""
        cfg, n = self.config, self.config.candidates
        cond = states if cond is None else cond
        rep = (lambda t: None if t is None else t.repeat_interleave(n, dim=0)) if n > 1 else (lambda t: t)
        cost = self._cost(rep(goals), rep(states))
        if (cost is not None and goals is not None and (cfg.guidance_near != 1 or cfg.guidance_far != 1)
                and cfg.guidance in ("goal", "learned")):
            cost = _near_gain(cost, rep(self._distance_gain(states, goals)))
        matrix = None
        if init is not None:
            matrix = scheduling.warm_start(horizon, cfg.sampler.num_steps, kept, cfg.warm_start)
        known = known_mask = None
        if cfg.goal_rest and goals is not None:
            known, known_mask = self._rest_tokens(states, goals, horizon)
        token_cond = context_token_cond = None
        if self.token_cond == "goal":  # goals are present: _as_batch checked
            token_cond = goals[:, None, :].expand(-1, horizon, -1)
            if context is not None:
                context_token_cond = goals[:, None, :].expand(-1, context.shape[1], -1)
        if cfg.search.width:
            found = search(self.model, cond, horizon, cfg.sampler, cfg.search, cost, token_cond=token_cond,
                           context=context, context_token_cond=context_token_cond, generator=self.generator)
            return self._as_plan(states, goals, found.tokens, found.cost)
        tokens = sample(self.model, rep(cond), horizon, cfg.sampler, cost=cost, context=rep(context),
                        token_cond=rep(token_cond), context_token_cond=rep(context_token_cond),
                        matrix=matrix, init=rep(init), known=rep(known), known_mask=rep(known_mask),
                        generator=self.generator, on_row=on_row)  # (B·n, H, D)
        scores = None
        if n > 1 or cost is not None:
            with torch.no_grad():
                scores = cost(tokens) if cost is not None else torch.zeros(len(tokens), device=tokens.device)
                rank = scores if previous is None else scores + cfg.agreement_weight * self._disagreement(
                    tokens, rep(states), rep(previous))
            best = rank.view(-1, n).argmin(-1) + torch.arange(len(states), device=tokens.device) * n
            tokens, scores = tokens[best], scores[best]
        return self._as_plan(states, goals, tokens, scores)

    def _disagreement(self, tokens: torch.Tensor, states: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """``(B,)`` mean squared distance between the planned positions of raw ``tokens`` and ``previous``
        ``(B, S, P)`` over the steps both cover (NaN in ``previous``: not covered; 0 where none is)."""
        planned = self.layout.observations(self.layout.absolute(tokens, states))
        steps = min(planned.shape[1], previous.shape[1])
        gap = (planned[:, :steps, : previous.shape[-1]] - previous[:, :steps]).pow(2).sum(-1)  # (B, S)
        covered = ~torch.isnan(gap)
        return torch.where(covered, gap, 0.0).sum(-1) / covered.sum(-1).clamp_min(1)

    def _rest_tokens(self, states: torch.Tensor, goals: torch.Tensor,
                     horizon: int) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        """``goal_rest``: raw tokens of the goal at rest (action 0, reward 1, position the goal, the rest
        of the observation 0), ``(B, horizon, D)``, and the mask ``(B, horizon)`` of the tokens from each
        env's estimated arrival on; ``(None, None)`` where no env arrives within the horizon."""
        layout, cfg, device = self.layout, self.config, states.device
        fs, batch, steps = layout.frame_stack, len(states), horizon * layout.frame_stack
        self._check_goal_state(goals)  # plan() reaches here without act()'s check
        with torch.no_grad():
            to_go = self.cost_to_go.steps(states, goals)  # (B,) env steps at the data's median speed
        arrival = torch.ceil(cfg.goal_rest * to_go / fs).long() + cfg.rest_margin
        mask = torch.arange(horizon, device=device)[None] >= arrival[:, None]
        if not bool(mask.any()):
            return None, None
        obs = torch.zeros(batch, steps, layout.obs_dim, device=device)
        obs[..., : goals.shape[-1]] = goals[:, None]
        rewards = torch.ones(batch, steps, device=device) if layout.use_reward else None
        known = layout.to_tokens(torch.zeros(batch, steps, layout.action_dim, device=device), rewards, obs)
        return known, mask

    def _distance_gain(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Per-env guidance gain ``(B,)`` from the agents' distance to their goals:
        ``guidance_near``'s at the goal times ``guidance_far``'s beyond ``far_radius``."""
        cfg, dims = self.config, goals.shape[-1]
        distance = (states[:, :dims] - goals).norm(dim=-1)
        near = torch.exp(-distance / cfg.velocity_radius)
        far = torch.sigmoid((distance - cfg.far_radius) / FAR_WIDTH)
        return (1 + (cfg.guidance_near - 1) * near) * (1 + (cfg.guidance_far - 1) * far)

    def _as_plan(self, states: torch.Tensor, goals: torch.Tensor | None, tokens: torch.Tensor,
                 scores: torch.Tensor | None) -> Plan:
        layout = self.layout
        rewards = layout.rewards(tokens)
        observations = layout.observations(layout.absolute(tokens, states))  # positions, also from displacements
        return Plan(start=states.cpu().numpy(), observations=observations.cpu().numpy(),
                    actions=layout.actions(tokens).cpu().numpy(),
                    rewards=None if rewards is None else rewards.cpu().numpy(),
                    goal=None if goals is None else goals.cpu().numpy(),
                    cost=None if scores is None else scores.cpu().numpy(), tokens=tokens.cpu().numpy())

    def _context(self, env: _EnvState) -> tuple[int, np.ndarray | None, np.ndarray]:
        """(tokens of history used, history tokens (h, D) or None, the observation that conditions them)."""
        fs, wanted = self.layout.frame_stack, self.config.history_tokens
        h = min(wanted, len(env.actions) // fs)
        if h == 0:
            return 0, None, env.observations[-1]
        steps = h * fs
        actions = np.stack(env.actions[-steps:])
        next_obs = np.stack(env.observations[-steps:])
        start = torch.from_numpy(env.observations[-steps - 1])[None]
        tokens = self.layout.to_tokens(torch.from_numpy(actions)[None], None if not self.layout.use_reward
                                       else torch.zeros(1, steps), torch.from_numpy(next_obs)[None], start)[0]
        return h, tokens.numpy(), env.observations[-steps - 1]

    def _replan(self, indices: list[int], states: np.ndarray, goals: np.ndarray | None) -> None:
        began = time.perf_counter()
        groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)  # (history, horizon, kept) -> envs
        contexts = {}
        for i in indices:
            env = self._envs[i]
            h, tokens, cond = self._context(env)
            contexts[i] = (tokens, cond)
            horizon = self._horizon(env.steps)
            kept = 0
            if self.config.warm_start and env.plan_tokens is not None:
                kept = min(horizon, len(env.plan_tokens) - env.plan_index // self.layout.frame_stack)
            groups[(h, horizon, kept)].append(i)
        for (h, horizon, kept), members in groups.items():
            context = self._tensor(np.stack([contexts[i][0] for i in members])) if h else None
            init = None
            if kept:
                init = np.zeros((len(members), horizon, self.layout.token_dim), np.float32)
                for row, i in enumerate(members):
                    env = self._envs[i]
                    shift = env.plan_index // self.layout.frame_stack
                    init[row, :kept] = env.plan_tokens[shift : shift + kept]
                init = self._tensor(init)
            previous = self._previous_positions(members, horizon) if self.config.agreement_weight else None
            plan = self._sample(self._tensor(states[members]), None if goals is None else self._tensor(goals[members]),
                                horizon, context, cond=self._tensor(np.stack([contexts[i][1] for i in members])),
                                init=init, kept=kept, previous=previous)
            for row, i in enumerate(members):
                env = self._envs[i]
                env.plan_obs, env.plan_actions, env.plan_index = plan.observations[row], plan.actions[row], 0
                env.plan_progress = 0
                env.plan_tokens = plan.tokens[row]
        self.timer.replan(1000 * (time.perf_counter() - began) / len(indices))

    def _previous_positions(self, members: list[int], horizon: int) -> torch.Tensor | None:
        """``agreement_weight``: the unexecuted rest of each env's previous plan, ``(B, horizon · frame_stack, P)``
        positions (``P = anchor_dims``), NaN past its end or where there was none; None when no env has one."""
        steps, dims = horizon * self.layout.frame_stack, self.config.anchor_dims
        out = np.full((len(members), steps, dims), np.nan, np.float32)
        for row, i in enumerate(members):
            env = self._envs[i]
            if env.plan_obs is not None:
                rest = env.plan_obs[env.plan_index : env.plan_index + steps, :dims]
                out[row, : len(rest)] = rest
        return None if np.isnan(out).all() else self._tensor(out)

    def _replan_intervals(self, states: np.ndarray, goals: np.ndarray | None) -> np.ndarray:
        """Per-env replanning interval ``(B,)``: ``replan_near`` within ``velocity_radius`` of the goal, else ``replan_every``."""
        every = np.full(len(states), self.config.replan_every)
        if self.config.replan_near and goals is not None:
            every[_goal_distance(states, goals) < self.config.velocity_radius] = self.config.replan_near
        return every

    def _tempos(self, states: np.ndarray, goals: np.ndarray | None) -> np.ndarray:
        """Per-env ``inverse_tempo`` ``(B,)``, faded towards 1 near the goal by ``tempo_fade``."""
        tempo = np.full(len(states), self.config.inverse_tempo)
        if self.config.tempo_fade and goals is not None:
            tempo = 1 + (tempo - 1) * (1 - np.exp(-_goal_distance(states, goals) / self.config.tempo_fade))
        return tempo

    def _action_modes(self, states: np.ndarray, goals: np.ndarray | None) -> list[str]:
        """Per-env action mode: ``action_mode``, or ``pd`` within ``pd_near`` of the goal."""
        modes = [self.config.action_mode] * len(states)
        if self.config.pd_near:  # act() checked the goals first
            near = _goal_distance(states, goals) < self.config.pd_near
            modes = ["pd" if close else mode for close, mode in zip(near, modes, strict=True)]
        return modes

    def _action(self, env: _EnvState, state: np.ndarray, tempo: float, mode: str) -> np.ndarray:
        j = min(env.plan_index, len(env.plan_obs) - 1)
        dims = self.layout.action_dim
        if mode == "diffused":
            action = env.plan_actions[j]
        elif mode == "inverse":
            ahead = min(env.plan_index + self.config.inverse_lead - 1, len(env.plan_obs) - 1)
            lead = max(1, round((ahead - env.plan_index + 1) / tempo))
            action = self.inverse.act(state[None], env.plan_obs[ahead][None], lead)[0]
        elif mode == "pursuit" and self.config.pursuit_dims:  # the action head aimed at the planned state there
            along = self.config.pursuit_dims
            ahead, env.plan_progress = pursuit_index(env.plan_obs[:, :along], state[:along], self.config.lookahead,
                                                     env.plan_progress)
            action = self.inverse.act(state[None], env.plan_obs[ahead][None], max(1, ahead - env.plan_index + 1))[0]
        elif mode == "pursuit":
            target, env.plan_progress = pursuit_target(env.plan_obs[:, :dims], state[:dims], self.config.lookahead,
                                                       env.plan_progress)
            action = self.config.kp * (target - state[:dims]) - self.config.kd * state[dims : 2 * dims]
        else:
            target = env.plan_obs[j]
            action = self.config.kp * (target[:dims] - state[:dims]) + self.config.kd * (target[dims : 2 * dims] - state[dims : 2 * dims])
            if mode == "feedforward":
                action = action + env.plan_actions[j]
        return np.clip(action, self.action_low, self.action_high).astype(np.float32)

    def _check_goal_state(self, goals: np.ndarray | torch.Tensor | None) -> None:
        cfg = self.config
        dims, what = self.layout.action_dim, "goal_hold" if cfg.goal_hold else "goal_rest" if cfg.goal_rest else "pd_near"
        if goals is None or goals.shape[-1] != dims or self.layout.obs_dim < 2 * dims:
            raise ValueError(f"{what} needs dict observations whose desired_goal is a position "
                             f"[obs[:A]] with velocity obs[A:2A]; set {what}=0")

    def _hold(self, actions: np.ndarray, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """``goal_hold``: where the position is within ``goal_hold`` of the goal, PD onto the goal at rest."""
        dims = self.layout.action_dim
        position, velocity = states[:, :dims], states[:, dims : 2 * dims]
        near = np.linalg.norm(goals - position, axis=-1) < self.config.goal_hold
        hold = self.config.kp * (goals - position) - self.config.kd * velocity
        held = np.clip(hold, self.action_low, self.action_high).astype(np.float32)
        return np.where(near[:, None], held, actions)


def _goal_distance(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Distance ``(B,)`` from each agent's position (the state's first ``G`` entries) to its goal ``(B, G)``."""
    return np.linalg.norm(states[:, : goals.shape[-1]] - goals, axis=-1)


def _near_gain(cost, factor: torch.Tensor):
    """``cost`` scaled per batch row by ``factor (B,)``: the guidance of each row scales with it
    (ranking a row's candidates is unchanged)."""
    return lambda tokens: cost(tokens) * factor
