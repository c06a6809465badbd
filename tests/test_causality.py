import pytest
import torch

from dfplan.denoisers import DenoiserConfig, build_denoiser

BACKBONES = ["rnn", "transformer"]


def make(backbone, token_cond_dim=0):
    torch.manual_seed(0)
    config = DenoiserConfig(backbone=backbone, width=32, depth=2, heads=2, latent=24)
    return build_denoiser(config, token_dim=5, cond_dim=3, token_cond_dim=token_cond_dim, levels=100).eval()


def inputs(batch=2, length=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, length, 5, generator=g), torch.randint(0, 101, (batch, length), generator=g),
            torch.randn(batch, 3, generator=g))


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("t", [0, 3, 5])
def test_changing_a_later_token_never_changes_earlier_outputs(backbone, t):
    model = make(backbone)
    x, k, cond = inputs()
    with torch.no_grad():
        before = model(x, k, cond)
        x2, k2 = x.clone(), k.clone()
        x2[:, t + 1 :] += 10 * torch.randn_like(x2[:, t + 1 :])
        k2[:, t + 1 :] = 100 - k2[:, t + 1 :]
        after = model(x2, k2, cond)
    torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_outputs_depend_on_the_conditioning_and_the_noise_level(backbone):
    model = make(backbone)
    x, k, cond = inputs()
    with torch.no_grad():
        base = model(x, k, cond)
        assert not torch.allclose(model(x, k, cond + 1), base)
        assert not torch.allclose(model(x, (k + 50).clamp(max=100), cond), base)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("split", [1, 4])
def test_cached_past_gives_the_same_outputs_as_recomputing(backbone, split):
    model = make(backbone)
    x, k, cond = inputs(length=8)
    with torch.no_grad():
        full = model(x, k, cond)
        cache = model.encode(x[:, :split], k[:, :split], cond)
        cached = model(x[:, split:], k[:, split:], cond, cache=cache)
    torch.testing.assert_close(cached, full[:, split:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_cache_can_be_extended_in_chunks(backbone):
    model = make(backbone)
    x, k, cond = inputs(length=9)
    with torch.no_grad():
        full = model(x, k, cond)
        cache = model.encode(x[:, :2], k[:, :2], cond)
        cache = model.encode(x[:, 2:5], k[:, 2:5], cond, cache=cache)
        assert cache.length == (5 if backbone == "rnn" else 6)  # transformer also caches the cond token
        cached = model(x[:, 5:], k[:, 5:], cond, cache=cache)
    torch.testing.assert_close(cached, full[:, 5:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_per_token_conditioning_is_causal_too(backbone):
    model = make(backbone, token_cond_dim=2)
    x, k, cond = inputs()
    tc = torch.randn(2, 7, 2)
    with torch.no_grad():
        before = model(x, k, cond, tc)
        tc2 = tc.clone()
        tc2[:, 4:] += 1
        after = model(x, k, cond, tc2)
    torch.testing.assert_close(after[:, :4], before[:, :4])
    assert not torch.allclose(after[:, 4:], before[:, 4:])
    with pytest.raises(ValueError, match="token_cond"):
        model(x, k, cond)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_wrong_shapes_get_clear_errors(backbone):
    model = make(backbone)
    x, k, cond = inputs()
    with pytest.raises(ValueError, match=r"x must be \(B, T, 5\)"):
        model(x[..., :4], k, cond)
    with pytest.raises(ValueError, match="k must be"):
        model(x, k[:, :3], cond)
    with pytest.raises(ValueError, match="cond must be"):
        model(x, k, None)


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: rnn, transformer"):
        DenoiserConfig(backbone="lstm")
