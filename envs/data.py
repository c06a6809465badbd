"""Load Maze2D datasets as arrays for trainers, and import original D4RL hdf5 files.

``load_arrays("maze2d-large-v1")`` (an env id or a Minari dataset id) reads a dataset that
``python -m envs.collect`` wrote into the local Minari store and returns
:class:`MazeArrays`, flat per-step numpy arrays in the PointMaze frame and raw units.

``import_d4rl_hdf5("maze2d-large-sparse-v1.hdf5")`` converts an original D4RL file into the
same kind of Minari dataset. D4RL positions are (row, col) with cell centres at integers;
PointMaze is centred with x the column axis and y minus the row axis (see
:meth:`envs.mazes.MazeSpec.d4rl_to_xy`), so positions, velocities, actions and goals are
converted; rewards are recomputed with the suite's convention (1.0 when the step ends within
0.5 of the fixed goal). The last D4RL step has no successor and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.antmazes import ANT_BODY_DIM, ANTMAZE_ENV_SPECS
from envs.collect import Stream, write_dataset
from envs.mazes import ENV_SPECS, GYM_NAMESPACE, MAZES, MazeSpec, get_env_spec


@dataclass(frozen=True)
class MazeArrays:
    """A Maze2D dataset as flat per-step arrays (N steps; PointMaze frame, raw units).

    Step ``t`` is the transition ``observations[t] --actions[t]--> next_observations[t]``.
    Within a stored episode ``next_observations[t] == observations[t + 1]``; the stored
    episodes of a generated dataset are consecutive chunks of one continuous stream.
    """

    dataset_id: str
    observations: np.ndarray
    """(N, 4) float32: x, y, vx, vy before the step (AntMaze: (N, 29), D4RL's ant state — the
    torso's x, y, then the env's 27-number ``observation``)."""
    actions: np.ndarray
    """(N, 2) float32: action in [-1, 1] (AntMaze: (N, 8) torques)."""
    rewards: np.ndarray
    """(N,) float32: 1.0 when the step ends within 0.5 of the env's fixed goal."""
    next_observations: np.ndarray
    """(N, 4) float32: x, y, vx, vy after the step."""
    goals: np.ndarray
    """(N, 2) float32: the collector's moving target when the action was chosen (AntMaze: the episode's goal)."""
    terminals: np.ndarray
    """(N,) bool: always False (maze2d never terminates)."""
    timeouts: np.ndarray
    """(N,) bool: True on the last step of each stored episode (chunk)."""

    def __len__(self) -> int:
        return len(self.actions)


def _resolve_dataset_id(name: str) -> str:
    key = name.removeprefix(f"{GYM_NAMESPACE}/")
    if key in ANTMAZE_ENV_SPECS:
        return ANTMAZE_ENV_SPECS[key].dataset_id
    return ENV_SPECS[key].dataset_id if key in ENV_SPECS else name


def load_arrays(dataset: str) -> MazeArrays:
    """Read a dataset from the local Minari store (no download) into :class:`MazeArrays`.

    Args:
        dataset: a suite env id (``maze2d-large-v1``, ``multi2d-large-v1``: the maze's
            generated dataset ``dfplan/maze2d-large-v1``; ``antmaze-large-play-v2``: its own
            ``dfplan/antmaze-large-play-v2``) or any Minari dataset id. A dataset whose
            ``observation`` leaves out the position (AntMaze) gets ``achieved_goal`` put first.

    Raises:
        FileNotFoundError: the dataset is not in the local store; the message says how to
            generate it.
    """
    import minari
    from minari.storage import get_dataset_path

    dataset_id = _resolve_dataset_id(dataset)
    if not (get_dataset_path(dataset_id) / "data").exists():
        key = dataset_id.removeprefix(f"{GYM_NAMESPACE}/")
        hint = (
            f"python -m envs.collect {key}"
            if key in ENV_SPECS
            else f"python -m envs.ant_collect {key} --walker results/checkpoints/antmaze/walker.pt"
            if key in ANTMAZE_ENV_SPECS
            else "python -m envs.collect <env id> --dataset-id ..."
        )
        raise FileNotFoundError(
            f"Minari dataset {dataset_id!r} is not in the local store {get_dataset_path()}; "
            f"generate it with `{hint}` (or import a D4RL file with envs.data.import_d4rl_hdf5)"
        )
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("obs", "act", "rew", "next", "goal", "term", "trunc")
    }
    for episode in minari.load_dataset(dataset_id).iterate_episodes():
        obs = np.asarray(episode.observations["observation"])
        if obs.shape[1] == ANT_BODY_DIM:  # AntMaze: D4RL's state puts the torso's (x, y) first
            obs = np.concatenate([np.asarray(episode.observations["achieved_goal"]), obs], axis=1)
        parts["obs"].append(obs[:-1])
        parts["next"].append(obs[1:])
        parts["act"].append(np.asarray(episode.actions))
        parts["rew"].append(np.asarray(episode.rewards))
        parts["term"].append(np.asarray(episode.terminations, dtype=bool))
        truncations = np.asarray(episode.truncations, dtype=bool).copy()
        truncations[-1] = True
        parts["trunc"].append(truncations)
        goals = episode.infos.get("goal") if episode.infos else None
        if goals is None and obs.shape[1] == ANT_BODY_DIM + 2:
            goals = episode.observations["desired_goal"]
        parts["goal"].append(np.asarray(goals)[:-1] if goals is not None else obs[:-1, :2] * np.nan)

    def cat(key: str, dtype: type) -> np.ndarray:
        return np.concatenate(parts[key]).astype(dtype)

    return MazeArrays(
        dataset_id=dataset_id,
        observations=cat("obs", np.float32),
        actions=cat("act", np.float32),
        rewards=cat("rew", np.float32),
        next_observations=cat("next", np.float32),
        goals=cat("goal", np.float32),
        terminals=cat("term", bool),
        timeouts=cat("trunc", bool),
    )


def _maze_from_filename(path: Path) -> MazeSpec:
    matches = [maze for name, maze in MAZES.items() if name in path.name]
    if len(matches) != 1:
        raise ValueError(
            f"cannot tell the maze from {path.name!r}; pass env_id (e.g. 'maze2d-large-v1')"
        )
    return matches[0]


def read_d4rl_hdf5(path: str | Path, maze: MazeSpec) -> Stream:
    """Read an original D4RL maze2d hdf5 file as one stream in the PointMaze frame.

    Uses ``observations`` (N, 4) = (row, col, v_row, v_col), ``actions`` (N, 2) in (row, col)
    and ``infos/goal`` (N, 2) in (row, col). Returns N − 1 steps.
    """
    import h5py

    with h5py.File(path, "r") as file:
        missing = [key for key in ("observations", "actions", "infos/goal") if key not in file]
        if missing:
            raise ValueError(f"{path} is not a D4RL maze2d file: missing {missing}")
        d4rl_obs = np.asarray(file["observations"], dtype=np.float64)
        d4rl_actions = np.asarray(file["actions"], dtype=np.float64)
        d4rl_goals = np.asarray(file["infos/goal"], dtype=np.float64)
    if d4rl_obs.ndim != 2 or d4rl_obs.shape[1] != 4 or len(d4rl_obs) < 2:
        raise ValueError(
            f"{path}: expected observations of shape (N >= 2, 4), got {d4rl_obs.shape}"
        )
    observations = np.concatenate(
        [maze.d4rl_to_xy(d4rl_obs[:, :2]), maze.d4rl_to_xy_vector(d4rl_obs[:, 2:])], axis=1
    )
    actions = maze.d4rl_to_xy_vector(d4rl_actions[:-1]).astype(np.float32)
    return Stream(observations, actions, maze.d4rl_to_xy(d4rl_goals), n_goals_reached=0)


def import_d4rl_hdf5(
    path: str | Path,
    env_id: str | None = None,
    dataset_id: str | None = None,
    overwrite: bool = False,
) -> str:
    """Convert an original D4RL ``maze2d-*.hdf5`` file into a Minari dataset in the local store.

    Args:
        path: the D4RL file.
        env_id: suite env whose maze the file holds; inferred from the file name if None.
        dataset_id: Minari id to write (default ``dfplan/d4rl-maze2d-<maze>-v1``).
        overwrite: replace an existing dataset of that id.

    Returns:
        The Minari dataset id written (readable with :func:`load_arrays`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such D4RL file: {path}")
    maze = get_env_spec(env_id).maze if env_id is not None else _maze_from_filename(path)
    spec = get_env_spec(f"maze2d-{maze.name}-v1")
    dataset_id = dataset_id or f"{GYM_NAMESPACE}/d4rl-maze2d-{maze.name}-v1"
    write_dataset(dataset_id, read_d4rl_hdf5(path, maze), spec, seed=-1, overwrite=overwrite)
    return dataset_id
