"""Suite datasets as :class:`dfplan.data.Trajectories`, for the planners' trainers.

``maze_trajectories("maze2d-large-v1")`` reads the locally generated Minari dataset
(generating it first when ``create=True``) and joins its stored chunks back into the one
continuous stream the collector produced, so training windows may span chunk
boundaries exactly as the data does. The suite's ``python -m benchmarks train --env ...``
trains on it; ``dfplan`` itself imports no simulator code.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from dfplan.data import Trajectories
from envs.antmazes import ANT_BODY_DIM, ANTMAZE_ENV_SPECS, torso_up
from envs.data import MazeArrays, load_arrays
from envs.mazes import ENV_SPECS, get_env_spec


def to_trajectories(arrays: MazeArrays) -> Trajectories:
    """Split the stream only where it is really discontinuous (``next_obs[t] != obs[t+1]``)."""
    continuous = np.all(np.isclose(arrays.next_observations[:-1], arrays.observations[1:], atol=1e-6), axis=1)
    ends = np.flatnonzero(~continuous)  # last step of each continuous segment (except the final one)
    bounds = np.concatenate([[0], ends + 1, [len(arrays.actions)]])
    lengths = np.diff(bounds)
    observations = np.concatenate(
        [np.concatenate([arrays.observations[a:b], arrays.next_observations[b - 1 : b]]) for a, b in pairwise(bounds)]
    )
    return Trajectories(observations=observations.astype(np.float32), actions=arrays.actions.astype(np.float32),
                        rewards=arrays.rewards.astype(np.float32), episode_lengths=lengths.astype(np.int64))


def upright_only(data: Trajectories) -> Trajectories:
    """AntMaze trajectories with each episode cut before the first state in which the ant lies on
    its side or back (``torso_up < 0``); episodes that start so are dropped.

    The collector's walker flips now and then and its episode walks on upside down (``docs/antmaze.md``:
    9–14 % of a dataset's steps), which D4RL's data hardly has. A model trained on those tails
    learns that flips happen and plans them; this keeps only the upright part of each episode.
    """
    if data.obs_dim != ANT_BODY_DIM + 2:
        raise ValueError(f"upright_only takes AntMaze trajectories (29-number ant states), got {data.obs_dim} numbers")
    up = torso_up(data.observations[:, 2:]) >= 0
    observations, actions, rewards, lengths = [], [], [], []
    obs_start = step_start = 0
    for length in data.episode_lengths.astype(np.int64):
        flipped = np.flatnonzero(~up[obs_start : obs_start + length + 1])
        kept = length if len(flipped) == 0 else int(flipped[0]) - 1  # steps whose both ends are upright
        if kept >= 1:
            observations.append(data.observations[obs_start : obs_start + kept + 1])
            actions.append(data.actions[step_start : step_start + kept])
            rewards.append(data.rewards[step_start : step_start + kept])
            lengths.append(kept)
        obs_start, step_start = obs_start + length + 1, step_start + length
    if not lengths:
        raise ValueError("no episode has an upright step")
    return Trajectories(np.concatenate(observations), np.concatenate(actions), np.concatenate(rewards),
                        np.array(lengths, dtype=data.episode_lengths.dtype))


def maze_trajectories(env_id: str, create: bool = False) -> Trajectories | None:
    """The maze dataset behind ``env_id`` as trajectories; ``None`` if ``env_id`` is no maze id.

    ``create`` generates the dataset (default size) when it is missing from the local store
    (an AntMaze one only when the shipped walker is there to collect it). AntMaze observations
    are D4RL's 29-number ant state, the torso's (x, y) first.
    """
    key = env_id.removeprefix("dfplan/")
    if key in ANTMAZE_ENV_SPECS:  # collected by python -m envs.ant_collect, which needs the shipped walker
        if create:
            from envs.ant_walker import default_walker_path

            if default_walker_path().is_file():
                from envs.ant_collect import main as collect_ant

                try:
                    return to_trajectories(load_arrays(key))
                except FileNotFoundError:
                    collect_ant([key, "--walker", str(default_walker_path())])
        return to_trajectories(load_arrays(key))
    if key not in ENV_SPECS:
        return None
    try:
        arrays = load_arrays(key)
    except FileNotFoundError:
        if not create:
            raise
        from envs.collect import main as collect

        collect([get_env_spec(key).dataset_id.removeprefix("dfplan/")])
        arrays = load_arrays(key)
    return to_trajectories(arrays)
