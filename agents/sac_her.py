"""Stable-Baselines3 SAC + HER, trained online on ``multi2d-<maze>-v1`` (DESIGN.md section 6).

The model-free reference row of the results table: SAC (Haarnoja et al. 2018) with
``MultiInputPolicy`` and Hindsight Experience Replay (Andrychowicz et al. 2017; ``future``
goals, 4 relabelled goals per real one), SB3's defaults otherwise. One model per maze,
trained on the maze's Multi2D env (a random goal every episode), so the goal-conditioned
policy serves both ``maze2d-<maze>-v1`` and ``multi2d-<maze>-v1``.

Training runs on the same episodes as evaluation: no termination at the goal, reward 1 for
every step within 0.5 of it, so staying is worth up to 1 / (1 − γ) and the only ends are time
limits (stored as timeouts, bootstrapped) — consistent for every goal HER relabels. The
alternative, ending training episodes on success (``terminate_on_success``,
:class:`HerTrainingEnv`, with :mod:`agents.her_buffer` ending each relabelled transition
where *its* goal is reached — SB3's buffer would keep the original goal's done flags), was
measured: the policy learns to avoid the goal (U-Maze −14.4, Medium −4.8 over 100 episodes),
since SAC's entropy bonus makes staying alive worth more than a terminal reward of 1.

Files in a run folder ``out_dir``:

- ``model.zip``: the finished model, SB3's own ``model.save`` zip plus a ``dfplan_meta.json``
  entry holding the metadata (SB3 ignores the extra entry; :func:`read_meta` reads it);
- while training: ``checkpoint.json`` (atomic pointer: env steps done, wall seconds so far)
  naming the live ``checkpoint-<steps>/`` folder with the model and its replay buffer
  (``save_replay_buffer``); a new folder only becomes live when the pointer is replaced.
"""

from __future__ import annotations

import io
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

import envs
from agents.protocol import EpisodicAgent, Observation, as_batch
from agents.sb3_runs import (
    CHECKPOINT_POINTER,
    MODEL_FILE,
    check_same_run,
    read_pointer,
    recent_success_rate,
    remove_checkpoints,
    save_checkpoint,
    versions,
)
from dfplan.checkpoint import CheckpointError, atomic_write
from dfplan.device import resolve_device
from envs.mazes import get_env_spec

AGENT_NAME = "sac-her"
"""The agent's name in the benchmark registry and in the saved metadata."""
FORMAT_VERSION = 1
"""Version of the metadata layout inside ``model.zip``."""
META_ENTRY = "dfplan_meta.json"
"""Name of the metadata entry inside the model zip."""
GOAL_SELECTION_STRATEGIES = ("future", "final", "episode")
"""HER goal selection strategies SB3 knows."""


@dataclass(frozen=True)
class SACHERConfig:
    """SAC + HER training settings; SB3 2.x defaults except where a field says otherwise."""

    umaze_steps: int  # env steps of online training on multi2d-umaze-v1
    medium_steps: int  # env steps of online training on multi2d-medium-v1
    large_steps: int  # env steps of online training on multi2d-large-v1
    learning_rate: float = 3e-4  # Adam learning rate of actor, critics and entropy coefficient (SB3 default)
    buffer_size: int = 1_000_000  # replay capacity in transitions; capped at the run's env steps (SB3 default 1M)
    learning_starts: int = 1_000  # random-action env steps before the first update; >= the episode length, since HER cannot sample before an episode ends (SB3 default 100)
    batch_size: int = 256  # transitions per gradient step (SB3 default)
    tau: float = 0.005  # Polyak coefficient of the target critics (SB3 default)
    gamma: float = 0.99  # discount (SB3 default)
    train_freq: int = 1  # env steps between updates (SB3 default)
    gradient_steps: int = 1  # gradient steps per update (SB3 default)
    n_sampled_goal: int = 4  # HER: relabelled goals per real transition (her_ratio 0.8)
    goal_selection_strategy: str = "future"  # HER: where relabelled goals come from: future, final or episode
    net_width: int = 256  # hidden units per layer of actor and critics (SB3 default 256)
    net_depth: int = 2  # hidden layers of actor and critics (SB3 default 2)
    terminate_on_success: bool = False  # True: training episodes end within 0.5 of the goal (and HER's relabelled transitions where their own goal is reached); measured worse, see the module docstring
    checkpoint_every: int = 10_000  # env steps between resumable checkpoints (model + replay buffer)

    def __post_init__(self) -> None:
        for name in ("umaze_steps", "medium_steps", "large_steps", "buffer_size", "batch_size", "train_freq",
                     "gradient_steps", "n_sampled_goal", "net_width", "net_depth", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"SACHERConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0:
            raise ValueError(f"SACHERConfig.learning_starts must be >= 0, got {self.learning_starts}")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 < self.tau <= 1.0 or self.learning_rate <= 0.0:
            raise ValueError("SACHERConfig needs 0 < gamma <= 1, 0 < tau <= 1 and learning_rate > 0")
        if self.goal_selection_strategy not in GOAL_SELECTION_STRATEGIES:
            raise ValueError(f"unknown goal_selection_strategy {self.goal_selection_strategy!r}; "
                             f"valid: {', '.join(GOAL_SELECTION_STRATEGIES)}")

    def capped(self, steps: int) -> SACHERConfig:
        """The same settings with at most ``steps`` gradient steps per maze after the ``learning_starts``
        random-action steps (a smoke test of a preset)."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        env_steps = self.learning_starts + -(-steps // self.gradient_steps) * self.train_freq
        return replace(self, umaze_steps=min(self.umaze_steps, env_steps), medium_steps=min(self.medium_steps, env_steps),
                       large_steps=min(self.large_steps, env_steps), checkpoint_every=min(self.checkpoint_every, env_steps))

    def steps_for(self, maze: str) -> int:
        """Env steps of the run on maze ``umaze``, ``medium`` or ``large``."""
        steps = {"umaze": self.umaze_steps, "medium": self.medium_steps, "large": self.large_steps}
        if maze not in steps:
            raise ValueError(f"unknown maze {maze!r}; valid: {', '.join(steps)}")
        return steps[maze]


PRESETS: dict[str, SACHERConfig] = {
    # Measured on the 2-core project machine with one thread: 42-51 env steps/s (one gradient
    # step of batch 256 per env step dominates; the env alone runs ~6500 steps/s), so 25k env
    # steps take ~8-10 minutes per maze.
    "quick": SACHERConfig(umaze_steps=25_000, medium_steps=25_000, large_steps=25_000, checkpoint_every=5_000),
    # Four times quick, for a background run per maze (~35-40 min alone on one thread), with the
    # discount 0.995 (measured against 0.99 on Medium / Large: docs/baselines.md).
    "cpu": SACHERConfig(umaze_steps=100_000, medium_steps=100_000, large_steps=100_000, gamma=0.995,
                        checkpoint_every=10_000),
    "full": SACHERConfig(umaze_steps=1_000_000, medium_steps=1_000_000, large_steps=1_000_000,
                         checkpoint_every=50_000),
}
"""Named budgets: ``quick`` (one CPU thread, ~10 min per maze), ``cpu`` (100k env steps, ~40 min per maze)
and ``full`` (1M env steps per maze)."""


def get_preset(name: str) -> SACHERConfig:
    """A preset by name; an unknown name raises ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


def training_env_id(env_id: str) -> str:
    """The Multi2D env that trains the model serving ``env_id`` (``maze2d-*`` or ``multi2d-*``)."""
    maze = get_env_spec(env_id).maze.name
    return f"multi2d-{maze}-v1"


def budget_label(env_steps: int) -> str:
    """Human-readable budget for the results table, e.g. ``60k env steps (online)``."""
    if env_steps >= 1_000_000 and env_steps % 100_000 == 0:
        amount = f"{env_steps / 1_000_000:g}M"
    elif env_steps >= 1_000 and env_steps % 100 == 0:
        amount = f"{env_steps / 1_000:g}k"
    else:
        amount = str(env_steps)
    return f"{amount} env steps (online)"


class HerTrainingEnv(gymnasium.Wrapper):
    """The training side of a suite env for SAC + HER.

    Adds ``info["is_success"]`` (the env's own ``info["success"]``, the same 0.5 test as its
    reward; SB3 logs its episode-end mean as the success rate) and exposes the env's vectorized
    :meth:`compute_reward`, which HER calls through ``VecEnv.env_method``. With
    ``terminate_on_success`` the episode also ends once the agent is within 0.5 of the goal.
    """

    def __init__(self, env: gymnasium.Env, terminate_on_success: bool = False) -> None:
        super().__init__(env)
        self.terminate_on_success = terminate_on_success

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "is_success": bool(info["success"])}
        return obs, reward, terminated or (self.terminate_on_success and info["is_success"]), truncated, info

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """Env reward of (achieved, desired) goal pairs: (..., 2) each -> (...) of 1.0 / 0.0."""
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)


def make_training_env(env_id: str, terminate_on_success: bool = False) -> gymnasium.Env:
    """The training env of ``env_id``'s maze: ``multi2d-<maze>-v1`` (TimeLimit included), wrapped."""
    return HerTrainingEnv(envs.make(training_env_id(env_id)), terminate_on_success)


def build_model(config: SACHERConfig, env_id: str, seed: int, device: str = "auto", buffer_size: int | None = None):
    """A fresh SB3 ``SAC`` with ``HerReplayBuffer`` on a one-env ``VecEnv`` of the training env.

    ``buffer_size`` overrides ``config.buffer_size`` (``train`` caps it at the run's steps:
    the buffer then never wraps, so nothing changes but the memory and checkpoint size).
    """
    from stable_baselines3 import SAC, HerReplayBuffer

    from agents.her_buffer import SuccessTerminalHerReplayBuffer

    episode_steps = get_env_spec(env_id).maze.episode_steps
    if config.learning_starts < episode_steps:
        raise ValueError(f"learning_starts {config.learning_starts} < the {episode_steps}-step episodes of {env_id}: "
                         "HER cannot sample before the first episode ends")
    return SAC(
        "MultiInputPolicy",
        _vec_env(env_id, config, seed),
        learning_rate=config.learning_rate,
        buffer_size=buffer_size or config.buffer_size,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        tau=config.tau,
        gamma=config.gamma,
        train_freq=config.train_freq,
        gradient_steps=config.gradient_steps,
        replay_buffer_class=SuccessTerminalHerReplayBuffer if config.terminate_on_success else HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": config.n_sampled_goal,
                              "goal_selection_strategy": config.goal_selection_strategy},
        policy_kwargs={"net_arch": [config.net_width] * config.net_depth},
        seed=seed,
        device=resolve_device(device),
        verbose=0,
    )


def train(env_id: str, preset: str, seed: int, out_dir: str | os.PathLike, device: str = "auto",
          config: SACHERConfig | None = None, *, progress: bool = True, max_steps: int | None = None) -> Path:
    """Train SAC + HER online for ``env_id``'s maze; returns ``out_dir/model.zip``.

    ``env_id`` may be ``maze2d-*`` or ``multi2d-*``: both train on ``multi2d-<maze>-v1``.
    ``config`` replaces the preset's settings (``preset`` is still recorded). A finished
    ``out_dir`` returns at once; an unfinished one resumes from its last checkpoint (the
    replay buffer included; the episode in progress at the checkpoint is cut there, and the
    RNGs are reseeded from ``seed`` and the step count, so a resumed run is reproducible but
    not identical to an uninterrupted one). ``progress`` prints one line per checkpoint.
    ``max_steps`` caps the gradient steps (:meth:`SACHERConfig.capped`: a smoke test of a preset).

    Raises:
        ValueError: unknown env or preset, or ``out_dir`` holding another run (env, seed or
            config differ).
    """
    config = config if config is not None else get_preset(preset)
    if max_steps is not None:
        config = config.capped(max_steps)
    train_env = training_env_id(env_id)
    total = config.steps_for(get_env_spec(train_env).maze.name)
    out = Path(out_dir)
    final = out / MODEL_FILE
    run = {"env": train_env, "preset": preset, "seed": seed, "train_config": asdict(config)}
    if final.is_file():
        check_same_run(final, read_meta(final), run)
        return final
    out.mkdir(parents=True, exist_ok=True)

    from stable_baselines3 import SAC

    done, wall = 0, 0.0
    pointer = read_pointer(out)
    if pointer is None:
        model = build_model(config, train_env, seed, device, buffer_size=min(config.buffer_size, total))
    else:
        check_same_run(out / CHECKPOINT_POINTER, pointer, run)
        folder = out / pointer["folder"]
        model = SAC.load(folder / MODEL_FILE, env=_vec_env(train_env, config, seed), device=resolve_device(device))
        with warnings.catch_warnings():  # cutting the episode in progress is intended: the env restarts
            warnings.filterwarnings("ignore", "The last trajectory in the replay buffer will be truncated")
            model.load_replay_buffer(folder / "replay_buffer.pkl", truncate_last_traj=True)
        done, wall = int(pointer["env_steps"]), float(pointer["train_wall_s"])
        model.set_random_seed(seed + done)
    while done < total:
        began = time.perf_counter()
        model.learn(min(config.checkpoint_every, total - done), reset_num_timesteps=False)
        wall += time.perf_counter() - began
        done = model.num_timesteps
        if progress:
            print(f"{AGENT_NAME} {train_env} seed {seed}: {done}/{total} env steps, {wall:.0f} s, "
                  f"recent success rate {recent_success_rate(model)}", flush=True)
        if done < total:
            save_checkpoint(out, model, {**run, "env_steps": done, "train_wall_s": wall}, done)
    meta = {"format_version": FORMAT_VERSION, "agent": AGENT_NAME, **run, "train_wall_s": round(wall, 1),
            "budget": budget_label(total), "env_steps": done, "device": str(model.device),
            "recent_success_rate": recent_success_rate(model), "versions": versions()}
    save_model(model, final, meta)
    remove_checkpoints(out)
    return final


def finished_model(out_dir: str | os.PathLike) -> Path | None:
    """``out_dir/model.zip`` when ``out_dir`` holds a finished run, else None."""
    final = Path(out_dir) / MODEL_FILE
    return final if final.is_file() else None


def save_model(model, path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write ``model`` (SB3 ``model.save`` zip) with ``meta`` as its ``dfplan_meta.json`` entry, atomically."""
    import zipfile

    data = io.BytesIO()
    model.save(data)
    with zipfile.ZipFile(data, "a") as archive:
        archive.writestr(META_ENTRY, json.dumps(meta, indent=2, sort_keys=True))
    atomic_write(path, lambda tmp: tmp.write_bytes(data.getvalue()))


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a saved SAC + HER model.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: (a ``ValueError``) unreadable, truncated, another agent's file or
            a newer metadata version.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SAC+HER model not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            if META_ENTRY not in archive.namelist():
                raise CheckpointError(f"{path} is not a {AGENT_NAME} model (no {META_ENTRY}; another agent's file?)")
            meta = json.loads(archive.read(META_ENTRY))
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not a readable {AGENT_NAME} model (corrupt or truncated?): {err}") from err
    if not isinstance(meta, dict) or meta.get("agent") != AGENT_NAME:
        agent = meta.get("agent") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path} holds a {agent!r} model, not a {AGENT_NAME} model")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has {AGENT_NAME} format version {meta.get('format_version')}; "
                              f"this code reads version {FORMAT_VERSION}")
    return meta


class SACHERAgent(EpisodicAgent):
    """A trained SAC + HER policy behind the agent protocol: deterministic, stateless.

    ``act`` feeds the policy PointMaze's goal dict built from the raw observation:
    ``observation`` (B, 4) = x, y, vx, vy, ``achieved_goal`` = its x, y, ``desired_goal`` (B, 2)
    from the observation's ``desired_goal`` (a flat array observation gets the maze's fixed
    D4RL goal). Actions: float32 (2,) or (B, 2) in [-1, 1], raw units.

    Args:
        model: an SB3 ``SAC`` with a ``MultiInputPolicy`` over PointMaze's dict observation.
        meta: the saved metadata (``agent``, ``env``, ``preset``, ``seed``, ``budget``, ...).
    """

    def __init__(self, model, meta: dict[str, Any]) -> None:
        self.model = model
        self.meta = meta
        self.fixed_goal = get_env_spec(meta["env"]).maze.goal_xy

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> SACHERAgent:
        """Load ``model.zip`` (no env needed) on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

        Raises:
            FileNotFoundError: no such file.
            CheckpointError: (a ``ValueError``) corrupt file or another agent's model.
        """
        import zipfile

        from stable_baselines3 import SAC
        from stable_baselines3.common.buffers import DictReplayBuffer

        meta = read_meta(path)
        # HerReplayBuffer needs an env even to be built; prediction needs no buffer at all.
        inference_only = {"replay_buffer_class": DictReplayBuffer, "replay_buffer_kwargs": {}, "buffer_size": 1}
        try:
            model = SAC.load(path, env=None, device=resolve_device(device), custom_objects=inference_only)
        except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, EOFError) as err:
            raise CheckpointError(f"{path} is not a loadable {AGENT_NAME} model: {err}") from err
        return cls(model, meta)

    def reset(self, seed: int | None = None) -> None:
        """Deterministic policy: nothing to reset or seed."""

    def reset_env(self, index: int) -> None:
        """The policy keeps no episode state."""

    def act(self, obs: Observation) -> np.ndarray:
        batch = as_batch(obs)
        goals = batch.goals if batch.goals is not None else np.broadcast_to(self.fixed_goal, (len(batch.states), 2))
        policy_obs = {"observation": batch.states, "achieved_goal": batch.states[:, :2].copy(),
                      "desired_goal": np.array(goals)}
        actions, _ = self.model.predict(policy_obs, deterministic=True)
        actions = np.clip(np.asarray(actions, dtype=np.float32), -1.0, 1.0)  # (B, 2)
        return actions if batch.batched else actions[0]


# ------------------------------------------------------------------------------- internals
def _vec_env(env_id: str, config: SACHERConfig, seed: int):
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(lambda: make_training_env(env_id, config.terminate_on_success), n_envs=1, seed=seed)


