import numpy as np
import pytest
import torch

from dfplan.data import Trajectories, WindowSampler
from dfplan.normalizer import Normalizer
from dfplan.tokens import TokenLayout


def tagged_episodes():
    """Two episodes whose values encode (episode, step) so windows can be read back."""
    episodes = []
    for e, length in enumerate((7, 4)):
        steps = np.arange(length, dtype=np.float32)
        episodes.append({
            "observations": np.stack([np.arange(length + 1) + 100 * e, np.full(length + 1, e)], 1).astype(np.float32),
            "actions": (steps + 100 * e)[:, None] + 0.5,
            "rewards": -(steps + 100 * e),
        })
    return Trajectories.from_episodes(episodes)


def test_tokens_pack_and_unpack_steps_in_order():
    layout = TokenLayout(obs_dim=2, action_dim=1, use_reward=True, frame_stack=2)
    actions, rewards, obs = torch.randn(3, 6, 1), torch.randn(3, 6), torch.randn(3, 6, 2)
    tokens = layout.to_tokens(actions, rewards, obs)
    assert tokens.shape == (3, 3, layout.token_dim) and layout.token_dim == 8
    torch.testing.assert_close(layout.actions(tokens), actions)
    torch.testing.assert_close(layout.rewards(tokens), rewards)
    torch.testing.assert_close(layout.observations(tokens), obs)
    no_reward = TokenLayout(obs_dim=2, action_dim=1, use_reward=False)
    assert no_reward.rewards(no_reward.to_tokens(actions, None, obs)) is None
    with pytest.raises(ValueError, match="multiple of frame_stack"):
        layout.to_tokens(actions[:, :5], rewards[:, :5], obs[:, :5])


def test_windows_never_cross_episode_boundaries_and_pad_by_holding_still():
    data = tagged_episodes()
    layout = TokenLayout(obs_dim=2, action_dim=1, frame_stack=2)
    sampler = WindowSampler(data, layout, horizon=3)
    assert len(sampler) == (7 - 1) + (4 - 1)  # starts s <= L - frame_stack
    window = sampler.get(np.arange(len(sampler)))
    obs = layout.observations(window.tokens)  # (W, 6, 2)
    episode_of_cond = window.cond[:, 1]
    assert torch.all(obs[..., 1] == episode_of_cond[:, None])  # every step from the cond's episode
    # the first next-observation follows the conditioning observation
    torch.testing.assert_close(obs[:, 0, 0], window.cond[:, 0] + 1)
    # the last start of episode 1 (length 4) is step 2: one real token, then padding
    last = len(sampler) - 1
    assert window.mask[last].tolist() == [True, False, False]
    steps = layout.to_steps(window.tokens[last])
    assert torch.all(steps[2:, 0] == 0) and torch.all(steps[2:, 1] == 0)  # zero action and reward
    assert torch.all(steps[2:, 2] == 104)  # last observation held


def test_trajectories_reject_inconsistent_or_nonfinite_arrays(tmp_path):
    data = tagged_episodes()
    with pytest.raises(ValueError, match="observations must have"):
        Trajectories(data.observations[:-1], data.actions, data.rewards, data.episode_lengths)
    bad = data.actions.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Trajectories(data.observations, bad, data.rewards, data.episode_lengths)
    path = tmp_path / "t.npz"
    data.save(path)
    np.testing.assert_array_equal(Trajectories.load(path).actions, data.actions)
    with pytest.raises(FileNotFoundError):
        Trajectories.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a trajectory"):
        Trajectories.load(tmp_path / "bad.npz")


def test_concatenated_trajectories_keep_every_episode_whole():
    data = tagged_episodes()
    both = Trajectories.concatenate([data, data])
    assert list(both.episode_lengths) == [*data.episode_lengths, *data.episode_lengths]
    np.testing.assert_array_equal(both.observations[len(data.observations):], data.observations)
    wide = Trajectories(np.zeros((3, data.obs_dim + 1)), np.zeros((2, data.action_dim)), np.zeros(2), np.array([2]))
    with pytest.raises(ValueError, match="same observation and action sizes"):
        Trajectories.concatenate([data, wide])
    with pytest.raises(ValueError, match="at least one part"):
        Trajectories.concatenate([])


@pytest.mark.parametrize("mode", ["gaussian", "minmax"])
def test_normalizer_fits_the_data_and_round_trips(mode):
    data = tagged_episodes()
    layout = TokenLayout(obs_dim=2, action_dim=1, frame_stack=2)
    norm = Normalizer(layout, mode).fit(data)
    window = WindowSampler(data, layout, 2).get(np.arange(5))
    z = norm.normalize(window.tokens)
    torch.testing.assert_close(norm.unnormalize(z), window.tokens, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(norm.unnormalize_obs(norm.normalize_obs(window.cond)), window.cond, atol=1e-4, rtol=1e-5)
    all_actions = norm.normalize_obs(torch.from_numpy(data.observations))
    if mode == "gaussian":
        assert abs(all_actions[:, 0].mean().item()) < 1e-4 and all_actions[:, 0].std(unbiased=False).item() == pytest.approx(1, abs=1e-3)
    else:
        assert all_actions.min().item() == pytest.approx(-1) and all_actions.max().item() == pytest.approx(1)
    with pytest.raises(ValueError, match="valid: gaussian, minmax"):
        Normalizer(layout, "robust")


def test_a_delta_layout_stores_per_step_displacements_and_sums_them_back_from_the_start():
    layout = TokenLayout(obs_dim=3, action_dim=1, use_reward=False, frame_stack=2, delta_dims=2)
    actions, obs, start = torch.randn(2, 4, 1), torch.randn(2, 4, 3), torch.randn(2, 3)
    tokens = layout.to_tokens(actions, None, obs, start)
    stored = layout.observations(tokens)
    torch.testing.assert_close(stored[:, 0, :2], obs[:, 0, :2] - start[:, :2])  # the first step's from the start
    torch.testing.assert_close(stored[:, 1:, :2], obs[:, 1:, :2] - obs[:, :-1, :2])
    torch.testing.assert_close(stored[..., 2], obs[..., 2])  # entries past delta_dims as they are
    torch.testing.assert_close(layout.observations(layout.absolute(tokens, start)), obs)
    torch.testing.assert_close(layout.actions(layout.absolute(tokens, start)), actions)
    plain = TokenLayout(obs_dim=3, action_dim=1, use_reward=False, frame_stack=2)
    assert plain.absolute(tokens, start) is tokens
    with pytest.raises(ValueError, match="needs start"):
        layout.to_tokens(actions, None, obs)
    with pytest.raises(ValueError, match="start must be"):
        layout.absolute(tokens, start[:, :2])
    with pytest.raises(ValueError, match="delta_dims must be in"):
        TokenLayout(obs_dim=3, action_dim=1, delta_dims=4)


def test_delta_windows_start_from_their_conditioning_observation_and_the_normalizer_keeps_both_scales():
    data = tagged_episodes()
    layout = TokenLayout(obs_dim=2, action_dim=1, frame_stack=2, delta_dims=1)
    window = WindowSampler(data, layout, horizon=2).get(np.array([0, 3]))  # episode 0 from steps 0 and 3
    absolute = layout.observations(layout.absolute(window.tokens, window.cond))
    torch.testing.assert_close(absolute[:, :, 0], torch.tensor([[1.0, 2, 3, 4], [4, 5, 6, 7]]))
    torch.testing.assert_close(layout.observations(window.tokens)[:, :, 0], torch.ones(2, 4))  # one unit a step
    normalizer = Normalizer(layout, "gaussian").fit(data)
    loc, scale = normalizer.obs_stats()  # the conditioning observation: positions as they are
    np.testing.assert_allclose(loc.numpy(), data.observations.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scale.numpy(), data.observations.std(0), rtol=1e-5)
    step_obs = slice(layout.action_dim + 1, layout.step_dim)
    np.testing.assert_allclose(normalizer.step_loc[step_obs][0].item(), 1.0)  # every in-episode step moves 1
    assert normalizer.step_scale[step_obs][0].item() == 1.0  # no spread: scale 1 (never across episodes: +93)
    obs = torch.from_numpy(data.observations[:3])
    torch.testing.assert_close(normalizer.unnormalize_obs(normalizer.normalize_obs(obs)), obs)
