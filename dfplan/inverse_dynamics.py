"""An inverse-dynamics head: the action that takes the system from ``o_t`` towards ``o_{t+k}``.

The DF planner's native actions (the diffused action channels, executed open loop between
replans) drift from the plan they came with: the plan's first tokens are not exactly
consistent with the observation they were conditioned on, and the executed actions
cannot correct what they never see. An inverse-dynamics model closes the loop with the
model's own plan and no hand-tuned tracker (Ajay et al. 2023, "Is Conditional Generative
Modeling all you need for Decision-Making?", act with an inverse-dynamics model on the
diffused states): at every env step it maps the *actual* observation and the planned
observation ``k`` steps ahead to the action. It is learned from the same trajectories as
the denoiser, with nothing privileged (no gains, no knowledge of which entries are
positions):

    a_t = f(o_t, o_{t+k} − o_t, k),   k ~ U{1..max_lead}

an MLP on normalized inputs, regressed on the data's actions. ``target_dims = n`` shows it
only the first ``n`` entries of the change (e.g. 2: the (x, y) of an AntMaze state): a head
that learns from the data how the body gets *there*, whatever pose the plan drew it in. With ``k = 1`` it is the
one-step inverse of the dynamics; larger ``k`` gives the mean first action of the data's
ways of getting there — a smoother controller when the target is not reachable in one step.

    python -m dfplan train-inverse --data trajectories.npz --out model.inverse.pt
    python -m benchmarks train-inverse --env maze2d-medium-v1 --out dfplan/checkpoints/maze2d-medium-v1.inverse.pt
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from dfplan.checkpoint import CheckpointError, read_model_file, save_model_file
from dfplan.config import from_dict
from dfplan.data import Trajectories

FORMAT = "dfplan.inverse_dynamics"
VERSION = 1


class ActionHead(Protocol):
    """What the planner's ``inverse`` action mode calls each env step: the action taking ``obs (B, O)``
    towards the planned ``target (B, O)`` about ``lead`` steps ahead, ``(B, A)`` in raw units.
    :class:`InverseDynamics` is the model's own; another controller (a low-level policy walking a
    body towards the plan's position, ``agents.df_walker``) may stand in its place."""

    def act(self, obs: np.ndarray, target: np.ndarray, lead: np.ndarray | int) -> np.ndarray: ...


@dataclass(frozen=True)
class InverseDynamicsConfig:
    """Architecture and fit of the inverse-dynamics head."""

    max_lead: int = 20  # the largest k (steps between o_t and the target o_{t+k}) it is trained on
    hidden: int = 256  # MLP width
    layers: int = 2  # hidden layers
    steps: int = 10_000  # gradient steps of the fit
    batch_size: int = 512
    lr: float = 1e-3
    holdout: float = 0.05  # fraction of the data's steps (the last ones) held out for the reported error
    seed: int = 0
    target_dims: int = 0  # the head sees only the first target_dims entries of o_{t+k} − o_t (0 = all)

    def __post_init__(self) -> None:
        if min(self.max_lead, self.hidden, self.layers, self.steps, self.batch_size) < 1:
            raise ValueError("max_lead, hidden, layers, steps and batch_size must be >= 1")
        if self.target_dims < 0:
            raise ValueError(f"target_dims must be >= 0 (0 = all), got {self.target_dims}")
        if not (self.lr > 0 and 0 <= self.holdout < 1):
            raise ValueError("lr must be > 0 and holdout in [0, 1)")


class InverseDynamics(nn.Module):
    """``action(obs (B, O), target (B, O), lead (B,)) -> (B, A)`` in raw units."""

    def __init__(self, config: InverseDynamicsConfig, obs_dim: int, action_dim: int) -> None:
        super().__init__()
        if config.target_dims > obs_dim:
            raise ValueError(f"target_dims={config.target_dims} exceeds the observation's {obs_dim} entries")
        self.config, self.obs_dim, self.action_dim = config, obs_dim, action_dim
        self.target_dims = config.target_dims or obs_dim
        sizes = [obs_dim + self.target_dims + 1] + [config.hidden] * config.layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(sizes[-1], action_dim))
        for name, size in (("obs_loc", obs_dim), ("obs_scale", obs_dim), ("delta_scale", obs_dim),
                           ("action_loc", action_dim), ("action_scale", action_dim)):
            self.register_buffer(name, torch.zeros(size) if name.endswith("loc") else torch.ones(size))
        self.meta: dict[str, Any] = {}

    def forward(self, obs: Tensor, target: Tensor, lead: Tensor) -> Tensor:
        """Raw action taking ``obs`` towards ``target`` in ``lead`` steps (``lead`` clipped to [1, max_lead])."""
        if obs.shape[-1] != self.obs_dim or target.shape != obs.shape:
            raise ValueError(f"obs and target must both be (B, {self.obs_dim}), got {tuple(obs.shape)} and {tuple(target.shape)}")
        k = lead.to(obs.dtype).clamp(1, self.config.max_lead)[..., None] / self.config.max_lead
        n = self.target_dims
        delta = (target[..., :n] - obs[..., :n]) / self.delta_scale[:n]
        features = torch.cat([(obs - self.obs_loc) / self.obs_scale, delta, k], dim=-1)
        return self.net(features) * self.action_scale + self.action_loc

    @torch.no_grad()
    def act(self, obs: np.ndarray, target: np.ndarray, lead: np.ndarray | int) -> np.ndarray:
        """NumPy convenience: ``obs, target (B, O)``, ``lead`` (B,) or an int -> actions ``(B, A)`` float32."""
        device = self.obs_loc.device
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
        t = torch.as_tensor(np.asarray(target), dtype=torch.float32, device=device)
        k = torch.as_tensor(np.broadcast_to(np.asarray(lead), o.shape[:1]).copy(), device=device)
        return self.forward(o, t, k).cpu().numpy().astype(np.float32)


def _pairs(data: Trajectories, max_lead: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(step, observation)`` of every data step with ``max_lead`` later observations in its episode."""
    steps, obs = [], []
    step_offset = obs_offset = 0
    for length in data.episode_lengths.astype(np.int64):
        usable = np.arange(max(0, length - max_lead + 1))
        steps.append(step_offset + usable)
        obs.append(obs_offset + usable)
        step_offset, obs_offset = step_offset + length, obs_offset + length + 1
    steps_all, obs_all = np.concatenate(steps), np.concatenate(obs)
    if len(steps_all) == 0:
        raise ValueError(f"no episode has max_lead={max_lead} steps")
    return steps_all, obs_all


def fit_inverse_dynamics(data: Trajectories, config: InverseDynamicsConfig | None = None,
                         out: str | Path | None = None, meta: dict[str, Any] | None = None,
                         device: str | torch.device = "cpu") -> InverseDynamics:
    """Fit the head on ``data`` (and write it to ``out``, atomically, when given).

    ``meta`` gains the fit's wall time and its held-out action error (RMS, raw units) for
    ``k = 1`` and ``k = max_lead``, beside the error of predicting the mean action.
    """
    config = config or InverseDynamicsConfig()
    began = time.perf_counter()
    steps, obs_index = _pairs(data, config.max_lead)
    split = len(steps) - round(config.holdout * len(steps))
    if split < 1:
        raise ValueError("holdout leaves no training data")
    model = InverseDynamics(config, data.obs_dim, data.action_dim).to(device)
    observations = torch.as_tensor(data.observations, device=device)
    actions = torch.as_tensor(data.actions, device=device)
    deltas = observations[config.max_lead :] - observations[: -config.max_lead]
    model.obs_loc.copy_(observations.mean(0))
    model.obs_scale.copy_(observations.std(0).clamp_min(1e-6))
    model.delta_scale.copy_(deltas.std(0).clamp_min(1e-6))
    model.action_loc.copy_(actions.mean(0))
    model.action_scale.copy_(actions.std(0).clamp_min(1e-6))
    steps_t, obs_t = torch.as_tensor(steps, device=device), torch.as_tensor(obs_index, device=device)

    def batch(rows: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        lead = torch.randint(1, config.max_lead + 1, rows.shape, generator=generator).to(device)
        o = obs_t[rows]
        return observations[o], observations[o + lead], lead, actions[steps_t[rows]]

    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    model.train()
    for _ in range(config.steps):
        rows = torch.randint(0, split, (config.batch_size,), generator=generator).to(device)
        o, target, lead, a = batch(rows, generator)
        loss = ((model(o, target, lead) - a) / model.action_scale).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    errors = {}
    held = torch.arange(split, len(steps), device=device) if split < len(steps) else torch.arange(split, device=device)
    with torch.no_grad():
        o = observations[obs_t[held]]
        a = actions[steps_t[held]]
        errors["mean_action_rms"] = round(float((a - model.action_loc).pow(2).sum(-1).mean().sqrt()), 4)
        for lead in (1, config.max_lead):
            k = torch.full((len(held),), lead, device=device)
            predicted = model(o, observations[obs_t[held] + lead], k)
            errors[f"lead{lead}_rms"] = round(float((predicted - a).pow(2).sum(-1).mean().sqrt()), 4)
    model.meta = {**(meta or {}), "fit_wall_s": round(time.perf_counter() - began, 2), "data_steps": data.num_steps,
                  "heldout_error": errors}
    model.cpu()
    if out is not None:
        save_inverse_dynamics(out, model, model.meta)
    return model


def save_inverse_dynamics(path: str | Path, model: InverseDynamics, meta: dict[str, Any] | None = None) -> None:
    save_model_file(path, FORMAT, VERSION, model.config, model, meta, obs_dim=model.obs_dim,
                    action_dim=model.action_dim)


def load_inverse_dynamics(path: str | Path, device: str | torch.device = "cpu") -> InverseDynamics:
    """Rebuild a saved head; clear errors for missing, corrupt or foreign files."""
    data = read_model_file(path, "inverse-dynamics model", FORMAT, VERSION)
    try:
        model = InverseDynamics(from_dict(InverseDynamicsConfig, data["config"]), int(data["obs_dim"]),
                                int(data["action_dim"]))
        model.load_state_dict(data["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is incompatible with this dfplan: {err}") from err
    model.meta = dict(data.get("meta") or {})
    return model.to(device).eval()
