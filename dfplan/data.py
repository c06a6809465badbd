"""Trajectory storage and training windows cut from it.

:class:`Trajectories` holds episodes as flat numpy arrays (no env import: trainers read
arrays, so a GPU machine without MuJoCo can train). :class:`WindowSampler` cuts
training windows of ``horizon`` tokens that never cross an episode boundary.

Padding rule
------------
A window may start at any step ``s`` of an episode of length ``L`` with
``s <= L - frame_stack`` (at least one full token of real data). Steps past the end of
the episode are padded with zero action, zero reward and the last observation repeated
("the episode ended and nothing moves"). A token containing any padded step is marked
invalid in the returned ``mask`` and is excluded from the training loss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from dfplan.files import atomic_write
from dfplan.tokens import TokenLayout


@dataclass(frozen=True)
class Trajectories:
    """Episodes stored flat.

    ``observations (sum(L_e + 1), O)``: each episode's ``L_e + 1`` observations back to back;
    ``actions (sum(L_e), A)``, ``rewards (sum(L_e),)``: each episode's ``L_e`` steps;
    ``episode_lengths (E,)``: ``L_e`` per episode (steps, i.e. actions).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_lengths: np.ndarray

    def __post_init__(self) -> None:
        lengths = np.asarray(self.episode_lengths)
        if lengths.ndim != 1 or len(lengths) == 0 or np.any(lengths < 1):
            raise ValueError("episode_lengths must be a non-empty 1-D array of positive lengths")
        steps = int(lengths.sum())
        if self.observations.ndim != 2 or self.actions.ndim != 2 or self.rewards.ndim != 1:
            raise ValueError("expected observations (N+E, O), actions (N, A), rewards (N,)")
        if len(self.actions) != steps or len(self.rewards) != steps:
            raise ValueError(f"actions/rewards must have {steps} rows (sum of episode lengths)")
        if len(self.observations) != steps + len(lengths):
            raise ValueError(f"observations must have {steps + len(lengths)} rows (L_e + 1 per episode)")
        for name in ("observations", "actions", "rewards"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} contain NaN or inf")

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def num_steps(self) -> int:
        return len(self.actions)

    @classmethod
    def concatenate(cls, parts: list[Trajectories]) -> Trajectories:
        """The episodes of ``parts``, one after another (observation and action sizes must agree)."""
        if not parts or len({(p.obs_dim, p.action_dim) for p in parts}) != 1:
            raise ValueError("need at least one part, all with the same observation and action sizes")
        return cls(observations=np.concatenate([p.observations for p in parts]),
                   actions=np.concatenate([p.actions for p in parts]),
                   rewards=np.concatenate([p.rewards for p in parts]),
                   episode_lengths=np.concatenate([p.episode_lengths for p in parts]))

    @classmethod
    def from_episodes(cls, episodes: list[dict[str, np.ndarray]]) -> Trajectories:
        """From Minari-style episodes: ``observations (L+1, O)``, ``actions (L, A)``, ``rewards (L,)``."""
        if not episodes:
            raise ValueError("no episodes given")
        return cls(
            observations=np.concatenate([np.asarray(e["observations"], np.float32) for e in episodes]),
            actions=np.concatenate([np.asarray(e["actions"], np.float32) for e in episodes]),
            rewards=np.concatenate([np.asarray(e["rewards"], np.float32).reshape(-1) for e in episodes]),
            episode_lengths=np.array([len(e["actions"]) for e in episodes], dtype=np.int64),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (atomically) that :meth:`load` reads back."""
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, observations=self.observations, actions=self.actions,
                         rewards=self.rewards, episode_lengths=self.episode_lengths)

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectories:
        """Read an ``.npz`` written by :meth:`save`; a clear error if missing or malformed."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"trajectory file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in ("observations", "actions", "rewards", "episode_lengths")}
        except (KeyError, ValueError, OSError) as err:
            raise ValueError(f"{path} is not a trajectory .npz (observations, actions, rewards, episode_lengths): {err}") from err
        arrays["observations"] = arrays["observations"].astype(np.float32)
        arrays["actions"] = arrays["actions"].astype(np.float32)
        arrays["rewards"] = arrays["rewards"].astype(np.float32)
        return cls(**arrays)


@dataclass
class Window:
    """A batch of training windows (raw units, not normalized).

    ``tokens (B, T, D)``, ``cond (B, O)`` the observation before the first token,
    ``mask (B, T)`` true where the token holds only real (unpadded) steps,
    ``token_cond (B, T, Ct)`` clean per-token conditioning (e.g. a world model's actions) or None.
    """

    tokens: Tensor
    cond: Tensor
    mask: Tensor
    token_cond: Tensor | None = None


class WindowSource(Protocol):
    """Anything that draws training windows; :func:`dfplan.training.train` accepts one
    instead of :class:`Trajectories` (e.g. video clips, :mod:`dfplan.video.data`)."""

    @property
    def num_steps(self) -> int:
        """Size of the data behind the windows (steps or frames), recorded in checkpoints."""
        ...

    def sample(self, batch_size: int, generator: torch.Generator) -> Window:
        """``batch_size`` windows drawn with ``generator``."""
        ...


class WindowSampler:
    """Draws windows of ``horizon`` tokens uniformly over all valid start steps."""

    def __init__(self, data: Trajectories, layout: TokenLayout, horizon: int) -> None:
        if layout.obs_dim != data.obs_dim or layout.action_dim != data.action_dim:
            raise ValueError(
                f"layout (obs {layout.obs_dim}, action {layout.action_dim}) does not match data "
                f"(obs {data.obs_dim}, action {data.action_dim})"
            )
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.data, self.layout, self.horizon = data, layout, horizon
        lengths = data.episode_lengths.astype(np.int64)
        self._step_offset = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._obs_offset = self._step_offset + np.arange(len(lengths))
        starts_per_episode = np.maximum(lengths - layout.frame_stack + 1, 0)
        if starts_per_episode.sum() == 0:
            raise ValueError(f"no episode has at least frame_stack={layout.frame_stack} steps")
        self._start_episode = np.repeat(np.arange(len(lengths)), starts_per_episode)
        first = np.repeat(np.cumsum(starts_per_episode) - starts_per_episode, starts_per_episode)
        self._start_step = np.arange(len(self._start_episode)) - first
        self._lengths = lengths

    def __len__(self) -> int:
        return len(self._start_episode)

    def sample(self, batch_size: int, generator: torch.Generator) -> Window:
        """``batch_size`` windows at uniformly random valid starts."""
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        return self.get(index)

    def locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(episode, start step)`` of the windows at valid-start indices ``(B,)``."""
        return self._start_episode[index], self._start_step[index]

    def observation_at(self, episode: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Observations ``o_step`` of the given episodes, ``step`` clipped to ``[0, L_e]``."""
        return self.data.observations[self._obs_offset[episode] + np.clip(step, 0, self._lengths[episode])]

    def get(self, index: np.ndarray) -> Window:
        """Windows starting at the given valid-start indices ``(B,)``."""
        episode, start = self.locate(index)  # (B,), (B,)
        n_steps = self.horizon * self.layout.frame_stack
        step = start[:, None] + np.arange(n_steps)[None, :]  # (B, N)
        length = self._lengths[episode][:, None]
        real = step < length  # (B, N)
        clipped = np.minimum(step, length - 1)
        step_index = self._step_offset[episode][:, None] + clipped
        obs_index = self._obs_offset[episode][:, None] + clipped + 1
        actions = self.data.actions[step_index] * real[..., None]  # (B, N, A)
        rewards = self.data.rewards[step_index] * real  # (B, N)
        next_obs = self.data.observations[obs_index]  # (B, N, O)
        cond = self.data.observations[self._obs_offset[episode] + start]  # (B, O)
        cond = torch.from_numpy(cond).float()
        tokens = self.layout.to_tokens(
            torch.from_numpy(actions).float(), torch.from_numpy(rewards).float(), torch.from_numpy(next_obs).float(),
            start=cond,
        )
        mask = real.reshape(len(index), self.horizon, self.layout.frame_stack).all(-1)
        return Window(tokens=tokens, cond=cond, mask=torch.from_numpy(mask))


class HindsightGoals:
    """Training windows with a hindsight goal as clean per-token conditioning: the data of a
    goal-conditioned denoiser (the goal as an input, Andrychowicz et al. 2017's relabelling).

    Each window's goal is the position (``goal_dims`` leading observation entries) its
    episode reaches ``j`` steps after the window's conditioning observation,
    ``j ~ U{1..reach·N}`` (``N`` = steps in a window), clipped to the episode's end — mostly
    inside the window, sometimes beyond it, so the model learns to head for far goals too.
    ``token_cond (B, T, goal_dims)`` repeats it for every token. The normalizer is fit on
    :attr:`trajectories` like for plain windows.

    ``reward_radius > 0`` (a layout with the reward channel) relabels the rewards too: the
    sparse goal reward ``r_t = 1[‖p_{t+1} − g‖ < reward_radius]`` of the window's hindsight
    goal ``g``, so the model's reward channel predicts arrival at whatever goal it is given
    (its own value estimate; reward guidance then needs no goal-specific cost). The
    normalizer's reward statistics are those of the relabelled rewards (:attr:`trajectories`
    carries them).

    ``discount = γ > 0`` (with ``reward_radius``) relabels them as a *value* instead: step ``t``'s
    reward is ``γ^k``, ``k`` the steps from its next observation until the episode first comes
    within ``reward_radius`` of ``g`` (0 when it does not within the goal's offset), so the
    channel is dense — it grows along the data's way to the goal from as far as a hindsight goal
    reaches (``reach`` windows), where the sparse reward is 0 until arrival: DF's own long-range
    value estimate, learned from the data stream alone, meant to pull a plan towards a goal
    beyond its end (measured on Maze2D Large, docs/maze-suite.md: at the CPU budget it ranks
    places by straight-line nearness and does not route round walls).
    """

    def __init__(self, data: Trajectories, layout: TokenLayout, horizon: int, goal_dims: int = 2,
                 reach: float = 2.0, reward_radius: float = 0.0, discount: float = 0.0) -> None:
        if not 1 <= goal_dims <= data.obs_dim:
            raise ValueError(f"goal_dims must be in [1, {data.obs_dim}], got {goal_dims}")
        if reach <= 0:
            raise ValueError(f"reach must be > 0, got {reach}")
        if reward_radius < 0 or (reward_radius > 0 and not layout.use_reward):
            raise ValueError("reward_radius must be >= 0, and > 0 only for a layout with the reward channel "
                             f"(use_reward=True); got {reward_radius} with use_reward={layout.use_reward}")
        if not 0 <= discount < 1 or (discount and not reward_radius):
            raise ValueError(f"discount must be in [0, 1) and needs reward_radius > 0, got {discount} with "
                             f"reward_radius={reward_radius}")
        self.goal_dims, self.reach, self.reward_radius, self.discount = goal_dims, reach, reward_radius, discount
        self.windows = WindowSampler(data, layout, horizon)
        self.trajectories = data if not reward_radius else self._relabelled_stream(data)

    @property
    def num_steps(self) -> int:
        return self.trajectories.num_steps

    def sample(self, batch_size: int, generator: torch.Generator) -> Window:
        window, goal, where = self._draw(batch_size, generator)
        if self.reward_radius:
            window.tokens = self._relabel(window.tokens, goal, window.cond, where)
        window.token_cond = goal[:, None, :].expand(-1, self.windows.horizon, -1).contiguous()
        return window

    @property
    def _span(self) -> int:
        return self.windows.horizon * self.windows.layout.frame_stack

    def _draw(self, batch_size: int, generator: torch.Generator) -> tuple[Window, Tensor, tuple[np.ndarray, np.ndarray]]:
        """Plain windows, their hindsight goals ``(B, goal_dims)`` and where they lie ``(episode, start)``."""
        index = torch.randint(len(self.windows), (batch_size,), generator=generator).numpy()
        window = self.windows.get(index)
        episode, start = self.windows.locate(index)
        offset = torch.randint(1, max(2, int(self.reach * self._span) + 1), (batch_size,), generator=generator).numpy()
        goal = self.windows.observation_at(episode, start + offset)[:, : self.goal_dims]
        return window, torch.from_numpy(goal).float(), (episode, start)

    def _relabel(self, tokens: Tensor, goal: Tensor, cond: Tensor, where: tuple[np.ndarray, np.ndarray]) -> Tensor:
        """Tokens ``(B, T, D)`` with the reward channel replaced by arrival at ``goal (B, G)`` — or its
        discounted value (``discount``) — (``cond (B, O)``: the windows' conditioning observations, where a
        ``delta_dims`` layout's positions start; ``where``: their ``(episode, start)``)."""
        layout = self.windows.layout
        steps = layout.to_steps(tokens).clone()  # (B, N, step_dim)
        if self.discount:
            steps[..., layout.action_dim] = self._values(goal, *where, steps.shape[1])
        else:
            position = layout.observations(layout.absolute(tokens, cond))[..., : self.goal_dims]
            arrived = (position - goal[:, None, :]).norm(dim=-1) < self.reward_radius
            steps[..., layout.action_dim] = arrived.float()
        return steps.reshape(tokens.shape)

    def _values(self, goal: Tensor, episode: np.ndarray, start: np.ndarray, n_steps: int) -> Tensor:
        """``(B, N)``: ``γ^k`` for each window step, ``k`` the steps from its next observation ``o_{start+i+1}``
        to the episode's first observation within ``reward_radius`` of ``goal`` (0 if none by the farthest
        hindsight offset, or the window's end)."""
        ahead = int(self.reach * self._span) + n_steps
        later = self.windows.observation_at(episode[:, None], start[:, None] + 1 + np.arange(ahead)[None, :])
        arrived = np.linalg.norm(later[..., : self.goal_dims] - goal.numpy()[:, None, :], axis=-1) < self.reward_radius
        index = np.where(arrived, np.arange(ahead)[None, :], ahead)  # (B, ahead): own index where arrived
        first = np.minimum.accumulate(index[:, ::-1], axis=1)[:, ::-1][:, :n_steps]  # next arrival at or after i
        k = first - np.arange(n_steps)[None, :]
        return torch.from_numpy(np.where(first < ahead, self.discount ** k, 0.0)).float()

    def _relabelled_stream(self, data: Trajectories, windows: int = 4096, seed: int = 0) -> Trajectories:
        """``data`` with its rewards replaced by a sample of relabelled ones (for the normalizer's
        reward statistics: the stream's own rewards are for other goals)."""
        window, goal, where = self._draw(windows, torch.Generator().manual_seed(seed))
        relabelled = self.windows.layout.rewards(self._relabel(window.tokens, goal, window.cond, where))
        real = window.mask.repeat_interleave(self.windows.layout.frame_stack, dim=1)
        rewards = np.resize(relabelled[real].numpy().astype(np.float32), data.num_steps)  # same statistics, one per step
        return Trajectories(data.observations, data.actions, rewards, data.episode_lengths)
