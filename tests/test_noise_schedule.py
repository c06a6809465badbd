import math

import pytest
import torch

from dfplan.noise import NoiseConfig, NoiseSchedule, make_betas


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
def test_alpha_bar_starts_clean_decreases_and_ends_near_noise(name):
    schedule = NoiseSchedule(NoiseConfig(beta_schedule=name))
    ab = schedule.alpha_bar
    assert ab.shape == (1001,)
    assert ab[0] == 1.0
    assert torch.all(ab[1:] < ab[:-1])
    assert ab[-1] < 1e-2


def test_linear_betas_match_ddpm_endpoints():
    betas = make_betas("linear", 1000)
    assert betas[0].item() == pytest.approx(1e-4)
    assert betas[-1].item() == pytest.approx(2e-2)


def test_cosine_alpha_bar_matches_closed_form():
    schedule = NoiseSchedule(NoiseConfig(beta_schedule="cosine", levels=100))
    s = 0.008
    f = lambda t: math.cos((t / 100 + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for k in (1, 10, 50, 90):
        assert schedule.alpha_bar[k].item() == pytest.approx(f(k) / f(0), rel=1e-6)


def test_q_sample_has_the_closed_form_moments():
    schedule = NoiseSchedule()
    x0 = torch.full((20000, 1, 1), 0.7)
    k = torch.full((20000, 1), 400)
    x = schedule.q_sample(x0, k, torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))
    ab = schedule.alpha_bar[400].item()
    assert x.mean().item() == pytest.approx(math.sqrt(ab) * 0.7, abs=0.02)
    assert x.var().item() == pytest.approx(1 - ab, rel=0.03)


@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v"])
def test_prediction_conversions_round_trip(prediction):
    schedule = NoiseSchedule(NoiseConfig(prediction=prediction))
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 3, generator=g)
    k = torch.randint(1, 1001, (4, 6), generator=g)
    x = schedule.q_sample(x0, k, noise)
    out = schedule.target(x0, k, noise)
    torch.testing.assert_close(schedule.to_x0(x, k, out), x0, atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(schedule.to_epsilon(x, k, out), noise, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v"])
def test_deterministic_ddim_with_a_perfect_model_lands_on_the_forward_process(prediction):
    schedule = NoiseSchedule(NoiseConfig(prediction=prediction))
    g = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(2, 5, 4, dtype=torch.float64, generator=g), torch.randn(2, 5, 4, dtype=torch.float64, generator=g)
    k_from = torch.tensor([[1000, 800, 500, 30, 0], [700, 700, 1, 0, 0]])
    k_to = torch.tensor([[900, 500, 0, 30, 0], [650, 0, 0, 0, 0]])
    x = schedule.q_sample(x0, k_from, noise)
    x_next = schedule.step(x, schedule.target(x0, k_from, noise), k_from, k_to, eta=0.0)
    expected = schedule.q_sample(x0, k_to, noise)
    expected = torch.where((k_to == k_from)[..., None], x, expected)  # unchanged tokens stay exactly
    torch.testing.assert_close(x_next, expected, atol=1e-6, rtol=1e-6)


def test_step_keeps_tokens_whose_level_does_not_change_and_rejects_noising():
    schedule = NoiseSchedule()
    x = torch.randn(1, 3, 2)
    k = torch.tensor([[500, 200, 0]])
    out = schedule.step(x, torch.zeros_like(x), k, k, eta=1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x)
    with pytest.raises(ValueError, match="k_to must be <= k_from"):
        schedule.step(x, x, k, k + 1)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        schedule.step(x, x, k[:, :2], k[:, :2])


def test_ddpm_like_step_adds_the_right_amount_of_noise():
    schedule = NoiseSchedule()
    x0 = torch.zeros(50000, 1, 1)
    k_from, k_to = torch.full((50000, 1), 600), torch.full((50000, 1), 500)
    x = schedule.q_sample(x0, k_from, torch.randn(x0.shape, generator=torch.Generator().manual_seed(3)))
    x_next = schedule.step(x, x0, k_from, k_to, eta=1.0, generator=torch.Generator().manual_seed(4))
    # with a perfect x0 model the marginal of x_to is q(x_to | x0) whatever eta is
    assert x_next.var().item() == pytest.approx(1 - schedule.alpha_bar[500].item(), rel=0.03)


def test_min_snr_weight_is_min_of_snr_and_gamma_in_x0_space():
    schedule = NoiseSchedule(NoiseConfig(loss_weighting="min_snr", min_snr_gamma=5.0, prediction="x0"))
    k = torch.tensor([[1, 100, 999]])
    snr = schedule.snr(k).float()
    torch.testing.assert_close(schedule.loss_weight(k), torch.minimum(snr, torch.tensor(5.0)))
    eps_schedule = NoiseSchedule(NoiseConfig(loss_weighting="min_snr", prediction="epsilon"))
    torch.testing.assert_close(eps_schedule.loss_weight(k), torch.minimum(snr, torch.tensor(5.0)) / snr)
    assert torch.all(NoiseSchedule().loss_weight(k) == 1)


def test_sampling_steps_map_to_levels_at_both_ends():
    schedule = NoiseSchedule()
    torch.testing.assert_close(schedule.level_from_step(torch.tensor([0, 25, 50]), 50), torch.tensor([0, 500, 1000]))
    with pytest.raises(ValueError, match="sampling steps"):
        schedule.level_from_step(torch.tensor([51]), 50)


@pytest.mark.parametrize(
    ("field", "value"), [("beta_schedule", "quadratic"), ("prediction", "score"), ("loss_weighting", "p2")]
)
def test_unknown_names_list_the_valid_ones(field, value):
    with pytest.raises(ValueError, match="valid:"):
        NoiseConfig(**{field: value})


def test_levels_out_of_range_are_rejected():
    schedule = NoiseSchedule(NoiseConfig(levels=10))
    with pytest.raises(ValueError, match=r"\[0, 10\]"):
        schedule.q_sample(torch.zeros(1, 1, 1), torch.tensor([[11]]), torch.zeros(1, 1, 1))
