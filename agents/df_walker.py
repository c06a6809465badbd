"""DF's plan walked by the ant walker: the Diffusion Forcing planner with the low-level walker as its executor.

A labelled variant of the AntMaze DF agent, in the manner of Hierarchical Diffuser: the shipped
DF planner plans as it does in the ``df`` rows (the same model, guidance, sampler and replanning),
but the torques come from the shipped walker (:mod:`envs.ant_walker`, the policy that walked the
data) shown the plan's (x, y) ``inverse_lead`` steps ahead, instead of from the model's
inverse-dynamics head. The actions are not the model's, so its row is not DF's native row: it
measures what DF's *plans* earn, set beside the roadmap row, which walks the learned cost-to-go's
route with the same walker.

    planner = load_df_walker("antmaze-medium-diverse-v2")
    obs, info = env.reset(seed=0); planner.reset(seed=0)
    action = planner.act(obs)        # (8,) torques
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dfplan.planner import DFPlanner
from envs.ant_controller import WALKER_REACH
from envs.ant_walker import AntWalker, default_walker_path
from envs.antmazes import ANT_STATE_DIM


class WalkerHead:
    """The walker in the inverse head's place (:class:`dfplan.inverse_dynamics.ActionHead`).

    ``act(obs (B, 29), target (B, 29), lead)``: torques walking each ant from its state ``[x, y, body
    (27)]`` towards the target's (x, y), shown at most ``reach`` away (the oracle's
    :data:`envs.ant_controller.WALKER_REACH`). ``lead`` is ignored: the walker keeps its own pace.
    """

    def __init__(self, walker: AntWalker, reach: float | None = WALKER_REACH) -> None:
        if reach is not None and not reach > 0:
            raise ValueError(f"reach must be positive or None, got {reach}")
        self.walker, self.reach = walker, reach

    def act(self, obs: np.ndarray, target: np.ndarray, lead: np.ndarray | int) -> np.ndarray:
        obs, target = np.atleast_2d(obs), np.atleast_2d(target)
        if obs.shape[-1] != ANT_STATE_DIM or target.shape != obs.shape:
            raise ValueError(f"obs and target must both be (B, {ANT_STATE_DIM}) ant states [x, y, body], "
                             f"got {obs.shape} and {target.shape}")
        torques = self.walker.act(obs[:, 2:], target[:, :2] - obs[:, :2], reach=self.reach)
        return np.asarray(torques, np.float32)


def load_df_walker(name_or_path: str | os.PathLike, device: str = "auto", env: Any = None,
                   walker: str | os.PathLike | None = None, reach: float | None = WALKER_REACH,
                   **overrides: Any) -> DFPlanner:
    """The DF planner of ``name_or_path`` (a shipped AntMaze name or a checkpoint file) acting through the
    walker (default: the shipped one). ``overrides`` change the stored planner settings as in
    :meth:`DFPlanner.load`; the action mode is ``inverse`` (the walker aimed ``inverse_lead`` steps
    ahead, the default) or ``pursuit`` (aimed ``lookahead`` ahead along the planned (x, y) path, as the
    roadmap row aims it along its route), near-goal PD tracking off (an ant has no PD law)."""
    mode = overrides.pop("action_mode", "inverse")
    if mode not in ("inverse", "pursuit"):
        raise ValueError(f"the walker executes action_mode 'inverse' or 'pursuit', not {mode!r}")
    head = WalkerHead(AntWalker.load(walker or default_walker_path()), reach)
    aim = {"pursuit_dims": 2} if mode == "pursuit" else {}
    planner = DFPlanner.load(name_or_path, device, env=env, inverse=head,
                             **{**overrides, **aim, "action_mode": mode, "pd_near": 0.0})
    if planner.layout.obs_dim != ANT_STATE_DIM or planner.layout.action_dim != 8:
        raise ValueError(f"{name_or_path} plans observations of size {planner.layout.obs_dim} and actions of size "
                         f"{planner.layout.action_dim}; the walker walks an ant ({ANT_STATE_DIM} / 8)")
    return planner
