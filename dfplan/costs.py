"""Guidance costs on raw predicted plans ``(B, T, D) -> (B,)``; lower is better.

Used by the sampler's guidance (gradient w.r.t. the noisy tokens) and to rank candidate
plans. Convention for goal-reaching tasks: an observation starts with the position (as
many entries as the goal) followed by its velocity — true of PointMaze's
``(x, y, vx, vy)``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from dfplan.tokens import TokenLayout

Distance = Callable[[Tensor, Tensor], Tensor]
"""``distance(observations (B, N, O), goal (B, 1, G)) -> (B, N)`` in units of length."""


def goal_cost(layout: TokenLayout, goal: Tensor, velocity_weight: float = 0.0, velocity_radius: float = 0.5,
              distance: Distance | None = None, off_support: Callable[[Tensor], Tensor] | None = None,
              support_weight: float = 0.0, support_margin: float = 0.2, reach: float = 0.0):
    """Goal distance summed over every planned step, so any step may be the arrival.

    ``cost = Σ_t d(o_t, g) + w · Σ_t sg[exp(−‖p_t − g‖ / r)] · ‖v_t‖²``; ``d`` is the
    straight-line distance ``‖p_t − g‖`` by default, or a learned cost-to-go
    (:meth:`dfplan.cost_to_go.CostToGo.distance`: path length through the data, which
    goes round walls instead of through them). The second term
    (zero by default) asks the plan to slow down near the goal, which is what lets a
    tracked plan *stay* at the goal (DESIGN.md section 9). The proximity weight is held
    constant (``sg``: no gradient) so the term can only slow the plan down, never push it
    away from the goal to escape the penalty. ``goal (B, G)`` in raw units. ``off_support(observations
    (B, N, O)) -> (B, N)`` (the learned roadmap's distance to the data,
    :meth:`dfplan.cost_to_go.CostToGo.off_support`) adds ``support_weight · Σ_t relu(off_t −
    support_margin)²``: a plan through a wall, where the data never goes, then costs more than one
    round it, in guidance and in ranking candidates. ``reach > 0`` bounds the distance term:
    ``reach · (1 − exp(−d / reach))`` pulls like ``d`` within ``reach`` of the goal and fades
    beyond it, so far from the goal a goal-conditioned model chooses the route itself instead
    of being pulled straight at a wall.
    """
    dims = goal.shape[-1]
    if dims > layout.obs_dim:
        raise ValueError(f"goal has {dims} entries but observations only {layout.obs_dim}")
    if velocity_weight and 2 * dims > layout.obs_dim:
        raise ValueError("velocity_weight needs observations of [position, velocity, ...]")

    def cost(tokens: Tensor) -> Tensor:
        obs = layout.observations(tokens)  # (B, N, O)
        straight = ((obs[..., :dims] - goal[:, None, :]).pow(2).sum(-1) + 1e-8).sqrt()  # (B, N)
        d = straight if distance is None else distance(obs, goal[:, None, :])
        if reach:
            d = reach * (1 - (-d / reach).exp())
        total = d.sum(-1)
        if velocity_weight:
            total = total + velocity_weight * _speed_near(obs, straight, dims, velocity_radius)
        if support_weight and off_support is not None:
            total = total + support_weight * (off_support(obs) - support_margin).clamp_min(0).pow(2).sum(-1)
        return total

    return cost


def _speed_near(obs: Tensor, straight: Tensor, dims: int, radius: float) -> Tensor:
    """``Σ_t sg[exp(−‖p_t − g‖ / r)] · ‖v_t‖²``: speed near the goal (the weight carries no gradient)."""
    speed2 = obs[..., dims : 2 * dims].pow(2).sum(-1)
    return ((-straight.detach() / radius).exp() * speed2).sum(-1)


def reward_cost(layout: TokenLayout, goal: Tensor | None = None, velocity_weight: float = 0.0,
                velocity_radius: float = 0.5):
    """Negative predicted return ``−Σ_t r_t``: the general alternative to a goal.

    With a ``goal (B, G)`` and ``velocity_weight > 0`` it adds :func:`goal_cost`'s speed penalty
    near the goal — the part that makes a plan stop there, which a model trained on data that
    never stops cannot learn from its rewards — and nothing of the distance to it.
    """
    if not layout.use_reward:
        raise ValueError("reward guidance needs a model trained with the reward channel (use_reward=True)")
    dims = None if goal is None else goal.shape[-1]
    if velocity_weight and (dims is None or 2 * dims > layout.obs_dim):
        raise ValueError("the speed penalty of reward guidance needs a goal and observations of [position, velocity, ...]")

    def cost(tokens: Tensor) -> Tensor:
        total = -layout.rewards(tokens).sum(-1)
        if velocity_weight:
            obs = layout.observations(tokens)
            straight = ((obs[..., :dims] - goal[:, None, :]).pow(2).sum(-1) + 1e-8).sqrt()
            total = total + velocity_weight * _speed_near(obs, straight, dims, velocity_radius)
        return total

    return cost


UPRIGHT_MARGIN = 0.5
""":func:`upright_cost` charges planned states whose body's up axis has a world ``z`` below this (tilted past 60°)."""


def upright_cost(layout: TokenLayout, quat_at: int, margin: float = UPRIGHT_MARGIN):
    """``Σ_t relu(margin − up_t)²``: planned states with the body tipped over cost more.

    ``up_t = 1 − 2 (q_x² + q_y²) / ‖q‖²`` is the world ``z`` of the body's up axis, from its
    orientation quaternion ``(w, x, y, z)`` at ``obs[quat_at : quat_at + 4]`` (3 in D4RL's ant
    state ``(x, y, z, q_w, q_x, q_y, q_z, ...)``): 1 upright, 0 on its side, −1 on its back. A
    model trained on data whose collector flips plans flips too; added to the guidance cost, this
    steers the sampled plan towards upright states, so the inverse head is not asked to reach a
    drawn flip.
    """
    if not 0 <= quat_at <= layout.obs_dim - 4:
        raise ValueError(f"a quaternion at obs[{quat_at}:{quat_at + 4}] does not fit observations of size {layout.obs_dim}")

    def cost(tokens: Tensor) -> Tensor:
        quat = layout.observations(tokens)[..., quat_at : quat_at + 4]
        up = 1 - 2 * (quat[..., 1].pow(2) + quat[..., 2].pow(2)) / (quat.pow(2).sum(-1) + 1e-8)
        return (margin - up).clamp_min(0).pow(2).sum(-1)

    return cost


def anchor_cost(layout: TokenLayout, start: Tensor, dims: int):
    """``‖ô_{t+1}[:dims] − o_t[:dims]‖²``: the plan's first planned state kept where the agent is.

    A model that conditions loosely on the current state (AntMaze's quick models: the first planned
    (x, y) lies a median 0.9 from the state it was conditioned on, ~3 at the maze's reset cell,
    where one step moves ~0.05) plans its route from the wrong place, and whatever executes it is
    aimed off. Added to the guidance cost, this pulls the first planned token onto ``start (B, O)``;
    the causal denoiser conditions the tokens after it on that token.
    """
    if not 1 <= dims <= layout.obs_dim or start.shape[-1] != layout.obs_dim:
        raise ValueError(f"anchor dims must be in [1, {layout.obs_dim}] and start (B, {layout.obs_dim}), "
                         f"got dims={dims} and start {tuple(start.shape)}")

    def cost(tokens: Tensor) -> Tensor:
        first = layout.observations(tokens)[:, 0, :dims]
        return (first - start[:, :dims]).pow(2).sum(-1)

    return cost


def clearance_cost(layout: TokenLayout, clearance: Callable[[Tensor], Tensor], margin: float):
    """``Σ_t relu(margin − c(o_t))²``: planned positions closer than ``margin`` to the edge of the data's
    support cost more.

    ``clearance(observations (B, N, O)) -> (B, N)`` is the distance to the nearest ground the data never
    covered (:meth:`dfplan.cost_to_go.CostToGo.clearance_at`: a wall, in a maze). A route that is shortest
    through the data grazes the walls' corners; a point mass takes them, but an ant's legs reach about a
    unit from its torso, and an ant that catches a wall tips over. Added to the guidance cost, this keeps
    the sampled plan ``margin`` off the walls, as the roadmap's ``keep_off`` keeps its route.
    """
    if not margin > 0:
        raise ValueError(f"the clearance margin must be > 0, got {margin}")

    def cost(tokens: Tensor) -> Tensor:
        return (margin - clearance(layout.observations(tokens))).clamp_min(0).pow(2).sum(-1)

    return cost
