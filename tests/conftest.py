"""Shared fixtures: one tiny Diffusion Forcing model trained once per test session."""

from __future__ import annotations

import os

import pytest
import torch

from dfplan.demo import demo_model_config
from dfplan.synthetic import LinearGaussianWalk
from dfplan.training import TrainConfig, train

torch.set_num_threads(int(os.environ.get("DFPLAN_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def walk() -> LinearGaussianWalk:
    return LinearGaussianWalk()


@pytest.fixture(scope="session")
def trained_walk_model(walk, tmp_path_factory):
    """The demo's transformer, trained for 1500 steps (~30-45 s on 2 CPU cores)."""
    data = walk.generate(episodes=256, length=32, seed=0)
    config = TrainConfig(steps=1500, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=0.99,
                         log_every=500, checkpoint_every=1500, device="cpu")
    return train(demo_model_config(), config, data, tmp_path_factory.mktemp("walk"), progress=False)


@pytest.fixture(scope="session")
def umaze_data():
    """30k steps of the suite's waypoint controller on U-Maze as one trajectory (~4 s)."""
    import numpy as np

    from dfplan.data import Trajectories
    from envs.collect import collect_stream
    from envs.mazes import MAZES

    stream = collect_stream(MAZES["umaze"], 30_000, seed=0, progress=False)
    return Trajectories(observations=stream.observations.astype(np.float32), actions=stream.actions,
                        rewards=np.zeros(len(stream.actions), np.float32), episode_lengths=np.array([len(stream.actions)]))


@pytest.fixture(scope="session")
def tiny_maze_checkpoint(tmp_path_factory):
    """A tiny maze DF model (a few training steps on a short U-Maze stream), as a checkpoint file."""
    import numpy as np

    from dfplan.data import Trajectories
    from dfplan.denoisers import DenoiserConfig
    from dfplan.model import ModelConfig
    from dfplan.tokens import TokenLayout
    from envs.collect import collect_stream
    from envs.mazes import MAZES

    stream = collect_stream(MAZES["umaze"], 3000, seed=0, progress=False)
    data = Trajectories(observations=stream.observations.astype(np.float32), actions=stream.actions,
                        rewards=np.zeros(len(stream.actions), np.float32), episode_lengths=np.array([len(stream.actions)]))
    config = ModelConfig(layout=TokenLayout(obs_dim=4, action_dim=2, use_reward=False, frame_stack=10), horizon=8,
                         denoiser=DenoiserConfig(backbone="transformer", width=32, depth=1, heads=2))
    folder = tmp_path_factory.mktemp("tiny_maze")
    train(config, TrainConfig(steps=30, batch_size=16, warmup_steps=5, checkpoint_every=30, device="cpu"), data,
          folder, progress=False)
    return folder / "checkpoint.pt"


@pytest.fixture(scope="session")
def plain_loop_steps():
    """``run(agent, env_id, seed=0, action_dim=2) -> steps``: one full episode in a plain ``while``
    loop, checking that every action is a float32 (action_dim,) within [-1, 1]."""
    import numpy as np

    import envs

    def run(agent, env_id: str, seed: int = 0, action_dim: int = 2) -> int:
        env = envs.make(env_id)
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        steps = 0
        while True:
            action = agent.act(obs)
            assert action.shape == (action_dim,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
            obs, _, terminated, truncated, _ = env.step(action)
            steps += 1
            if terminated or truncated:
                env.close()
                return steps

    return run
