"""The six suite envs: registration, check_env, episode rules, layouts and lazy imports."""

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.mazes import MAZES

EPISODE_STEPS = {"umaze": 300, "medium": 600, "large": 800}


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_check_env_passes(env_id):
    env = envs.make(env_id)
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_registered_under_project_namespace(env_id):
    env = gymnasium.make(f"dfplan/{env_id}")
    assert env.spec.max_episode_steps == EPISODE_STEPS[env_id.split("-")[1]]
    obs, info = env.reset(seed=0)
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    assert obs["observation"].shape == (4,)
    assert set(info) >= {"success", "first_reach_step"}
    env.close()


def test_unknown_env_id_lists_valid_ids():
    with pytest.raises(ValueError, match="maze2d-umaze-v1"):
        envs.make("maze2d-tiny-v1")


@pytest.mark.parametrize("env_id", ["maze2d-umaze-v1", "multi2d-large-v1"])
def test_episode_truncates_at_length_and_never_terminates(env_id):
    env = envs.make(env_id)
    env.reset(seed=1)
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        steps += 1
        assert not terminated
        if truncated:
            break
    assert steps == envs.get_env_spec(env_id).maze.episode_steps


def test_layouts_match_gymnasium_robotics():
    from gymnasium_robotics.envs.maze import maps

    assert [list(r) for r in MAZES["umaze"].layout] == maps.U_MAZE
    assert [list(r) for r in MAZES["medium"].layout] == maps.MEDIUM_MAZE
    assert [list(r) for r in MAZES["large"].layout] == maps.LARGE_MAZE


def test_import_envs_does_not_load_mujoco():
    code = "import sys, envs; assert 'mujoco' not in sys.modules, 'mujoco imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
