"""The checkpoints shipped in dfplan/checkpoints load by name, fit the size budget and act."""

from pathlib import Path

import numpy as np
import pytest

import envs
from dfplan.planner import DFPlanner, resolve_checkpoint, shipped_names
from envs.antmazes import ANTMAZE_ENV_SPECS

SHIPPED = [name for name in shipped_names() if resolve_checkpoint(name).exists()]


def test_every_maze_has_a_shipped_checkpoint():
    assert sorted(SHIPPED) == sorted(shipped_names())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_by_name_and_acts(name):
    path = resolve_checkpoint(name)
    assert path.stat().st_size <= 20 * 2**20
    env = envs.make(name)
    planner = DFPlanner.load(name, device="cpu", env=env)
    assert planner.meta["planner"] and planner.meta["env"] == name.replace("multi2d-", "maze2d-")
    obs, _ = env.reset(seed=0)
    action = planner.act(obs)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)


@pytest.mark.parametrize("name", sorted(ANTMAZE_ENV_SPECS))
def test_every_antmaze_env_has_a_shipped_planner_that_loads_by_name_and_acts_with_its_own_torques(name):
    path = resolve_checkpoint(name)
    assert path.stat().st_size <= 20 * 2**20
    assert path.with_suffix(".inverse.pt").is_file() and path.with_suffix(".cost.pt").is_file()
    env = envs.make(name)
    planner = DFPlanner.load(name, device="cpu", env=env)
    assert planner.meta["env"] == name and planner.config.action_mode != "pd"  # actions from the model
    obs, _ = env.reset(seed=0)
    action = planner.act(obs)
    assert action.shape == (8,) and np.all(np.abs(action) <= 1)


SUITE_CHECKPOINTS = Path(__file__).resolve().parents[1] / "results" / "checkpoints"
VARIANTS = sorted(path for path in (SUITE_CHECKPOINTS / "df-variants").glob("*.pt")
                  if not path.name.endswith((".cost.pt", ".inverse.pt")))  # a variant's own sidecars are not checkpoints


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.stem)
def test_shipped_variant_checkpoints_load_and_act(path):
    """The ablation models (goal-conditioned, other token sizes, AntMaze displacements) behind results rows stay
    loadable and act in their env."""
    assert path.stat().st_size <= 20 * 2**20
    planner = DFPlanner.load(path, device="cpu")
    env = envs.make(planner.meta["env"])
    planner.check_env(env)
    obs, _ = env.reset(seed=0)
    action = planner.act(obs)
    assert action.shape == env.action_space.shape and np.all(np.abs(action) <= 1)  # 2 forces, or an ant's 8 torques


VIDEO = sorted((SUITE_CHECKPOINTS / "video").glob("*.pt"))


def test_shipped_model_lists_are_not_empty():
    assert VARIANTS and VIDEO  # a moved folder must not turn the tests below into no tests


@pytest.mark.parametrize("path", VIDEO, ids=lambda p: p.stem)
def test_shipped_video_world_model_loads_and_scores_frames(path):
    import torch

    from dfplan.video.cli import _load

    assert path.stat().st_size <= 20 * 2**20
    model, meta = _load(str(path), "cpu")
    assert path.stem == f"{meta['video']['env'] or 'clips'}-{meta['video']['method']}"  # the name ship gives it
    layout, horizon = model.config.layout, model.config.horizon
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(2, horizon, layout.token_dim, generator=generator)  # pixels in [0, 1]
    actions = torch.rand(2, horizon, model.config.token_cond_dim, generator=generator) * 2 - 1
    with torch.no_grad():
        loss = model(frames, frames[:, 0, : layout.obs_dim], token_cond=actions, generator=generator)
    assert torch.isfinite(loss) and loss.item() > 0
