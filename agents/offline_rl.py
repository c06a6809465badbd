"""Offline goal-conditioned IQL and CQL baselines through d3rlpy (DESIGN.md section 6).

One model per maze, trained on that maze's locally generated dataset (``maze2d-*`` and
``multi2d-*`` share it) relabelled with hindsight goals (:mod:`agents.hindsight`); the
policy reads ``concat(observation (4), goal (2))`` in raw units, so one model serves the
fixed-goal and the multi-goal env of its maze.

- IQL: Kostrikov et al. 2022, "Offline Reinforcement Learning with Implicit Q-Learning".
- CQL: Kumar et al. 2020, "Conservative Q-Learning for Offline Reinforcement Learning".

Hyper-parameters are d3rlpy 2.8.1's ``IQLConfig`` / ``CQLConfig`` defaults except the two
:class:`OfflineTrainConfig` sets: every network has two hidden layers of 256 ReLU units, tau
0.005, batch 256, Adam, no observation/reward scaling; IQL: expectile 0.7, temperature 3.0,
max weight 100, lr 3e-4; CQL: conservative weight 5.0, 10 action samples, actor lr 1e-4,
critic lr 3e-4, learned entropy temperature. Changed: the discount is 0.995 (d3rlpy: 0.99),
an effective horizon of 200 steps for episodes of 300-800 in which the goal can lie 250 steps
away; CQL's α is fixed at 1 (× the conservative weight 5: CQL(H) with a fixed penalty, as
the CQL paper runs its continuous-control tasks) instead of d3rlpy's Lagrange multiplier,
whose dual ascent had not settled in a CPU budget (α still 0.80 after 2.5k steps, the policy
below random). The saved metadata records the
full d3rlpy config. With the default cap of 3M relabelled transitions (about 110 bytes each
in d3rlpy's buffer, arrays included), U-Maze keeps all of its stream's segments, Medium ~75%
and Large ~37%.

A run folder holds, while training, ``checkpoint-<step>.d3`` (d3rlpy's own file: networks
and optimizers) and ``checkpoint_state.pt`` (step, wall time, RNG states; weights-only
data), both written atomically every ``checkpoint_every`` gradient steps, so an
interrupted run resumes where it stopped and continues exactly as if it had not been
interrupted. A finished run holds ``model.d3`` and ``model.json`` (the metadata).

d3rlpy 2.8.1 pins ``gymnasium==1.0.0``, which Gymnasium-Robotics >= 1.4 rules out, so it
is installed without its pins: see :data:`INSTALL_HINT`.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.hindsight import GoalTransitions, hindsight_relabel
from agents.protocol import EpisodicAgent, Observation, as_batch
from dfplan.checkpoint import CheckpointError, atomic_torch_save, atomic_write, read_torch_file
from dfplan.config import to_dict
from dfplan.data import Trajectories
from dfplan.device import resolve_device
from dfplan.training import SNAPSHOT_MINUTES, Snapshots
from envs import get_suite_spec, is_antmaze
from envs.antmazes import ANT_STATE_DIM

FORMAT = "dfplan.offline_rl"
"""The ``format`` entry of the metadata: tells an offline-RL model from other agents' files."""
FORMAT_VERSION = 1
"""Version of the metadata layout."""
ALGORITHMS = ("iql", "cql")
"""The d3rlpy algorithms this module trains."""
MODEL_FILE = "model.d3"
"""The finished model in a run folder (d3rlpy's ``save`` format)."""
STATE_FILE = "checkpoint_state.pt"
"""A running run's resume state; names its current ``checkpoint-<step>.d3``."""
INSTALL_HINT = ("pip install gym structlog colorama dataclasses-json click scikit-learn h5py "
                "&& pip install --no-deps d3rlpy==2.8.1")
"""How to install d3rlpy on this stack (pip cannot resolve its gymnasium pin here)."""


@dataclass(frozen=True)
class OfflineTrainConfig:
    """Training settings; every d3rlpy hyper-parameter not listed here is d3rlpy's default."""

    iql_steps: int  # gradient steps when algorithm is iql
    cql_steps: int  # gradient steps when algorithm is cql
    algorithm: str = "iql"  # iql or cql
    batch_size: int = 256  # transitions per gradient step (d3rlpy's default)
    checkpoint_every: int = 5_000  # gradient steps between resumable checkpoints
    segment_length: int = 300  # steps per stream segment cut for relabelling (copies end at segment ends)
    future_goals: int = 2  # future-state relabelled copies per segment, besides its fixed-goal copy
    max_transitions: int = 3_000_000  # cap on relabelled transitions (random whole segments kept); bounds memory
    gamma: float = 0.995  # discount (d3rlpy's default 0.99: a 100-step horizon for goals up to 250 steps away)
    cql_alpha_learning_rate: float = 0.0  # CQL: learning rate of the Lagrange multiplier α (0 = α fixed at 1; d3rlpy's default 1e-4)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}; valid: {', '.join(ALGORITHMS)}")
        for name in ("iql_steps", "cql_steps", "batch_size", "checkpoint_every", "segment_length", "max_transitions"):
            if getattr(self, name) < 1:
                raise ValueError(f"OfflineTrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.future_goals < 0:
            raise ValueError(f"OfflineTrainConfig.future_goals must be >= 0, got {self.future_goals}")
        if not 0.0 < self.gamma <= 1.0 or self.cql_alpha_learning_rate < 0:
            raise ValueError("OfflineTrainConfig needs 0 < gamma <= 1 and cql_alpha_learning_rate >= 0")

    def capped(self, steps: int) -> OfflineTrainConfig:
        """The same settings with at most ``steps`` gradient steps (a smoke test of a preset)."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        return replace(self, iql_steps=min(self.iql_steps, steps), cql_steps=min(self.cql_steps, steps),
                       checkpoint_every=min(self.checkpoint_every, steps))

    @property
    def gradient_steps(self) -> int:
        """Gradient steps of the configured algorithm."""
        return self.iql_steps if self.algorithm == "iql" else self.cql_steps


PRESETS: dict[str, OfflineTrainConfig] = {
    # On one CPU thread: ~1 min of data preparation plus gradient steps of batch 256 measured at
    # 17-27 ms (IQL: ~7 min per maze) and 130-160 ms (CQL: ~20 min per maze).
    "quick": OfflineTrainConfig(iql_steps=15_000, cql_steps=8_000, checkpoint_every=500),
    # Longer CPU runs (~1 h of IQL, ~1 h of CQL per maze on one thread; resumable): past the point
    # where the quick models were still changing (IQL's Q loss still rising at 15k steps).
    "cpu": OfflineTrainConfig(iql_steps=100_000, cql_steps=25_000, checkpoint_every=2_000),
    "full": OfflineTrainConfig(iql_steps=1_000_000, cql_steps=1_000_000, checkpoint_every=10_000),
}
"""Named budgets; ``train(..., algorithm=...)`` picks the algorithm (IQL unless told)."""


def get_preset(name: str, algorithm: str = "iql") -> OfflineTrainConfig:
    """Preset ``name`` for ``algorithm``; unknown names raise ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return replace(PRESETS[name], algorithm=algorithm)


def budget_label(steps: int, batch_size: int) -> str:
    """Human-readable budget for the results table, e.g. ``20k gradient steps × batch 256``."""
    if steps >= 1_000_000 and steps % 100_000 == 0:
        amount = f"{steps / 1_000_000:g}M"
    elif steps >= 1_000 and steps % 100 == 0:
        amount = f"{steps / 1_000:g}k"
    else:
        amount = str(steps)
    return f"{amount} gradient steps × batch {batch_size}"


def _d3rlpy():
    try:
        import d3rlpy
    except ImportError as err:
        raise ImportError(f"the iql/cql baselines need d3rlpy; install it with `{INSTALL_HINT}`") from err
    return d3rlpy


def _d3rlpy_device(device: str) -> str:
    """d3rlpy's device string (``cpu:0``, ``cuda:N``) for ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N``."""
    resolved = resolve_device(device)
    return f"{resolved.type}:{resolved.index or 0}"


def to_mdp_dataset(transitions: GoalTransitions):
    """The relabelled copies as a d3rlpy ``MDPDataset`` (one episode per copy, ending in a timeout)."""
    d3rlpy = _d3rlpy()
    return d3rlpy.dataset.MDPDataset(
        observations=transitions.observations,
        actions=transitions.actions,
        rewards=transitions.rewards,
        terminals=np.zeros(len(transitions.rewards), dtype=np.float32),
        timeouts=transitions.timeouts.astype(np.float32),
        action_space=d3rlpy.constants.ActionSpace.CONTINUOUS,
        action_size=transitions.actions.shape[1],
    )


def _create_algo(config: OfflineTrainConfig, device: str):
    algos = _d3rlpy().algos
    if config.algorithm == "iql":
        algo = algos.IQLConfig(batch_size=config.batch_size, gamma=config.gamma)
    else:
        algo = algos.CQLConfig(batch_size=config.batch_size, gamma=config.gamma,
                               alpha_learning_rate=config.cql_alpha_learning_rate)
    return algo.create(device=_d3rlpy_device(device))


def _meta_path(model: Path) -> Path:
    return model.with_suffix(".json")


def finished_model(out_dir: str | os.PathLike) -> Path | None:
    """The finished model file of run folder ``out_dir``, or None when training has not finished."""
    model = Path(out_dir) / MODEL_FILE
    return model if model.is_file() and _meta_path(model).is_file() else None


def read_meta(model: str | os.PathLike) -> dict[str, Any]:
    """The metadata saved beside an offline-RL model file.

    Raises:
        FileNotFoundError: ``model`` does not exist.
        CheckpointError: no readable offline-RL metadata beside it (another agent's file?).
    """
    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"offline-RL model not found: {model}")
    path = _meta_path(model)
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise CheckpointError(f"{model} is not an offline-RL model: no metadata {path.name} beside it") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not readable JSON (corrupt or truncated?): {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path} is not offline-RL metadata (format {found!r}, expected {FORMAT!r})")
    if meta.get("version") != FORMAT_VERSION or meta.get("algorithm") not in ALGORITHMS:
        raise CheckpointError(f"{path} has metadata version {meta.get('version')} / algorithm "
                              f"{meta.get('algorithm')!r}; this dfplan reads version {FORMAT_VERSION} of {ALGORITHMS}")
    return meta


def input_sizes(env_id: str) -> tuple[int, int]:
    """The policy's input and action sizes for ``env_id``: observation + goal (2), actions."""
    return (ANT_STATE_DIM + 2, 8) if is_antmaze(env_id) else (4 + 2, 2)


def load_algo(path: str | os.PathLike, algorithm: str, device: str = "auto", env_id: str = "maze2d-umaze-v1"):
    """Rebuild a d3rlpy algorithm from its ``.d3`` file (``d3rlpy.load_learnable``) for ``env_id``'s sizes.

    Note that d3rlpy's format is a pickle: load only files you trust.

    Raises:
        CheckpointError: the file is corrupt, or holds another algorithm or input size.
    """
    d3rlpy = _d3rlpy()
    try:
        algo = d3rlpy.load_learnable(str(path), device=_d3rlpy_device(device))
    except (pickle.UnpicklingError, EOFError, KeyError, AttributeError, TypeError, ValueError, RuntimeError,
            IndexError) as err:
        raise CheckpointError(f"{path} is not a readable d3rlpy model (corrupt or truncated?): {err}") from err
    found, shape = type(algo).__name__.lower(), tuple(algo.impl.observation_shape)
    inputs, actions = input_sizes(env_id)
    if found != algorithm or shape != (inputs,) or algo.impl.action_size != actions:
        raise CheckpointError(f"{path} holds a {found} model for observations {shape} and "
                              f"{algo.impl.action_size} actions; expected {algorithm} on ({inputs},) -> {actions}")
    return algo


def _rng_state() -> dict[str, Any]:
    """Global numpy and torch RNG states (d3rlpy samples batches with ``np.random``), weights-only data."""
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (d3rlpy samples with the legacy global RNG)
    state = {"numpy_keys": torch.from_numpy(keys.astype(np.int64)), "numpy_pos": int(pos),
             "numpy_has_gauss": int(has_gauss), "numpy_cached_gaussian": float(cached),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    np.random.set_state(("MT19937",  # noqa: NPY002 (d3rlpy samples with the legacy global RNG)
                         state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


def _check_same_run(where: Path, saved: dict[str, Any], run: dict[str, Any]) -> None:
    differing = sorted(key for key in run if saved.get(key) != run[key])
    if differing:
        raise ValueError(f"{where} holds a different run (differs in {', '.join(differing)}); "
                         "use another output folder or remove it")


def _goal_dataset(env_id: str, config: OfflineTrainConfig, seed: int, data: Trajectories | None):
    """The relabelled d3rlpy dataset of ``env_id``'s maze stream (or of ``data``) and facts about it."""
    if data is None:
        from agents.datasets import maze_trajectories

        data = maze_trajectories(env_id, create=True)
    transitions = hindsight_relabel(data, get_suite_spec(env_id).maze.goal_xy, config.segment_length,
                                    config.future_goals, config.max_transitions, seed)
    facts = {"stream_steps": data.num_steps, "transitions": transitions.num_transitions,
             "copies": len(transitions.copy_lengths), "fixed_goal_copies": int(transitions.fixed_goal.sum())}
    return to_mdp_dataset(transitions), facts


def train(env_id: str, preset: str, seed: int, out_dir: str | os.PathLike, device: str = "auto",
          config: OfflineTrainConfig | None = None, algorithm: str | None = None, *,
          data: Trajectories | None = None, progress: bool = True,
          snapshot_minutes: tuple[float, ...] = SNAPSHOT_MINUTES, max_steps: int | None = None) -> Path:
    """Train IQL or CQL on ``env_id``'s maze dataset, relabelled; returns the finished model file.

    A finished ``out_dir`` of the same run is returned at once (another run's raises
    ``ValueError``); an unfinished one is resumed from its last checkpoint. The metadata's
    ``train_wall_s`` is the time of the gradient steps and checkpoints, summed over resumes;
    ``data_prep_s`` the last session's loading and relabelling.

    Args:
        env_id: suite env id; ``maze2d-*`` and ``multi2d-*`` both train on the maze's dataset.
        preset: ``quick`` or ``full`` (a label only when ``config`` is given).
        seed: seeds relabelling, network initialisation and batch sampling.
        out_dir: the run folder.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        config: explicit settings instead of the preset.
        algorithm: ``iql`` or ``cql``; None means ``config.algorithm`` (IQL for a preset).
            Contradicting an explicit ``config`` raises ``ValueError``.
        data: the stream to train on instead of the maze's Minari dataset (tests, tiny runs).
        progress: print one line per checkpoint.
        snapshot_minutes: at the first checkpoint past each of these training minutes, the
            model is also kept as ``snapshots/model-<minutes>min.d3`` (with its metadata), for
            the score-against-compute curves.
        max_steps: cap on the gradient steps (:meth:`OfflineTrainConfig.capped`: a smoke test of a preset).
    """
    spec = get_suite_spec(env_id)
    if config is None:
        config = get_preset(preset, algorithm or "iql")
    elif algorithm is not None and algorithm != config.algorithm:
        raise ValueError(f"algorithm={algorithm!r} contradicts config.algorithm={config.algorithm!r}")
    if max_steps is not None:
        config = config.capped(max_steps)
    out = Path(out_dir)
    run = {"algorithm": config.algorithm, "env": spec.env_id, "preset": preset, "seed": seed,
           "train_config": to_dict(config)}
    model = finished_model(out)
    if model is not None:
        _check_same_run(model, read_meta(model), run)
        return model
    out.mkdir(parents=True, exist_ok=True)

    prep_began = time.perf_counter()
    dataset, dataset_facts = _goal_dataset(spec.env_id, config, seed, data)
    prep_s = time.perf_counter() - prep_began

    state_path = out / STATE_FILE
    if state_path.exists():
        state = read_torch_file(state_path, "offline-RL training state")
        _check_same_run(state_path, state["run"], run)
        algo = load_algo(out / state["checkpoint"], config.algorithm, device, spec.env_id)
        steps_done, wall_before, history = int(state["steps_done"]), float(state["train_wall_s"]), state["history"]
        _set_rng_state(state["rng"])
    else:
        _d3rlpy().seed(seed)
        algo, steps_done, wall_before, history = _create_algo(config, device), 0, 0.0, []

    def meta_now(steps: int, wall: float) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "agent": config.algorithm, **run,
                "train_wall_s": round(wall, 2), "data_prep_s": round(prep_s, 2),
                "budget": budget_label(config.gradient_steps, config.batch_size), "steps_done": steps,
                "device": str(resolve_device(device)), "dataset": dataset_facts, "history": history,
                "d3rlpy_config": json.loads(algo.config.serialize()),
                "versions": {"d3rlpy": _d3rlpy().__version__, "torch": torch.__version__}}

    snapshots = Snapshots(out, snapshot_minutes, "model", ".d3")
    noop_logger = _d3rlpy().logging.NoopAdapterFactory()
    began = time.perf_counter()
    while steps_done < config.gradient_steps:
        chunk = min(config.checkpoint_every, config.gradient_steps - steps_done)
        results = algo.fit(dataset, n_steps=chunk, n_steps_per_epoch=chunk, logger_adapter=noop_logger,
                           show_progress=False)
        steps_done += chunk
        wall = wall_before + time.perf_counter() - began
        history.append({"step": steps_done, "wall_s": round(wall, 2),
                        **{k: round(float(v), 6) for k, v in results[-1][1].items()}})
        _save_checkpoint(out, algo, {"run": run, "steps_done": steps_done, "train_wall_s": wall,
                                     "history": history, "rng": _rng_state()})
        for minutes, path in snapshots.due(wall):
            _save_model(path, algo, {**meta_now(steps_done, wall), "snapshot_minutes": minutes})
        if progress:
            losses = ", ".join(f"{k} {v:.4g}" for k, v in history[-1].items() if k.endswith("loss"))
            print(f"{config.algorithm} {spec.env_id}: step {steps_done}/{config.gradient_steps}, "
                  f"{wall:.0f} s, {losses}", flush=True)

    model = _save_model(out / MODEL_FILE, algo, meta_now(steps_done, wall_before + time.perf_counter() - began))
    state_path.unlink(missing_ok=True)
    for old in out.glob("checkpoint-*.d3"):
        old.unlink()
    return model


def _save_model(path: Path, algo, meta: dict[str, Any]) -> Path:
    """A loadable model file and its metadata beside it (``model.json``)."""
    atomic_write(path, lambda tmp: algo.save(str(tmp)))
    atomic_write(_meta_path(path), lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    return path


def _save_checkpoint(out: Path, algo, state: dict[str, Any]) -> None:
    """Write ``checkpoint-<step>.d3``, then the state naming it, then drop older checkpoints."""
    name = f"checkpoint-{state['steps_done']:09d}.d3"
    atomic_write(out / name, lambda tmp: algo.save(str(tmp)))
    atomic_torch_save({**state, "checkpoint": name}, out / STATE_FILE)
    for old in out.glob("checkpoint-*.d3"):
        if old.name != name:
            old.unlink()


class OfflineRLAgent(EpisodicAgent):
    """A trained IQL/CQL policy: deterministic ``predict`` of d3rlpy on ``concat(obs, goal)``.

    Stateless between steps; flat observations (no ``desired_goal``) use the training env's
    fixed goal. Actions are float32, clipped to [-1, 1].

    Args:
        algo: the d3rlpy algorithm (IQL or CQL, built for (6,) inputs and 2 actions).
        meta: the saved metadata (``algorithm``, ``env``, ``seed``, ``budget``, ...).
        device: where ``algo`` runs (``cpu``, ``cuda``, ``cuda:N``), as results rows record it.
    """

    def __init__(self, algo, meta: dict[str, Any], device: str = "cpu") -> None:
        self.algo = algo
        self.meta = meta
        self.device = device
        self.fixed_goal = get_suite_spec(meta["env"]).maze.goal_xy
        self.antmaze = is_antmaze(meta["env"])

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> OfflineRLAgent:
        """The agent from a model file (or a run folder holding a finished model).

        Raises:
            FileNotFoundError: nothing at ``path`` (or no finished model in the folder).
            CheckpointError: a corrupt file, or another agent's.
        """
        path = Path(path)
        if path.is_dir():
            model = finished_model(path)
            if model is None:
                raise FileNotFoundError(f"{path} holds no finished offline-RL model")
            path = model
        meta = read_meta(path)
        return cls(load_algo(path, meta["algorithm"], device, meta["env"]), meta, str(resolve_device(device)))

    def reset(self, seed: int | None = None) -> None:
        """The policy is deterministic and stateless: nothing to reset."""

    def reset_env(self, index: int) -> None:
        """No per-env episode state."""

    def act(self, obs: Observation) -> np.ndarray:
        """Greedy action(s): obs (4,) / (B, 4) with goal (2,) / (B, 2), raw units → (2,) / (B, 2)
        (AntMaze: D4RL's 29-number ant state, the torso's (x, y) from ``achieved_goal``, → 8 torques)."""
        batch = as_batch(obs, state_dim=ANT_STATE_DIM, with_position=True) if self.antmaze else as_batch(obs)
        goals = batch.goals if batch.goals is not None else np.broadcast_to(self.fixed_goal, (len(batch.states), 2))
        inputs = np.concatenate([batch.states, goals], axis=1).astype(np.float32)  # (B, O + 2)
        actions = np.clip(self.algo.predict(inputs), -1.0, 1.0).astype(np.float32)  # (B, A)
        return actions if batch.batched else actions[0]
