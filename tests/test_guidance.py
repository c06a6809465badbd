import itertools

import pytest
import torch

from dfplan.sampler import SamplerConfig, sample


def mean_observation(model):
    return lambda x0: model.layout.observations(x0).mean(dim=(1, 2))  # (B,): push the walk downwards


@pytest.mark.parametrize("schedule", ["full_sequence", "pyramid"])
def test_guidance_lowers_the_cost_of_samples(trained_walk_model, schedule):
    model = trained_walk_model
    cost = mean_observation(model)
    cond = torch.full((128, 1), 1.0)
    unguided = sample(model, cond, 8, SamplerConfig(num_steps=10, schedule=schedule), generator=torch.Generator().manual_seed(0))
    guided = sample(model, cond, 8, SamplerConfig(num_steps=10, schedule=schedule, guidance_scale=3.0), cost=cost,
                    generator=torch.Generator().manual_seed(0))
    assert cost(guided).mean() < cost(unguided).mean() - 0.25
    # guidance steers, it does not break the dynamics the model learned
    obs, act = model.layout.observations(guided)[..., 0], model.layout.actions(guided)[..., 0]
    prev = torch.cat([cond, obs[:, :-1]], dim=1)
    assert ((obs - 0.9 * prev - act).pow(2).mean().sqrt() / 0.3).item() < 1.0


def test_monte_carlo_guidance_averages_over_sampled_futures(trained_walk_model):
    model = trained_walk_model
    batches = []

    def cost(x0):
        batches.append(x0.shape[0])
        return model.layout.observations(x0).mean(dim=(1, 2))

    cond = torch.full((16, 1), 1.0)
    config = SamplerConfig(num_steps=10, schedule="pyramid", guidance_scale=1.0)
    single = sample(model, cond, 8, config, cost=cost, generator=torch.Generator().manual_seed(0))
    calls_single = len(batches)
    batches.clear()
    mcg = sample(model, cond, 8, SamplerConfig(num_steps=10, schedule="pyramid", guidance_scale=1.0, mcg_samples=4),
                 cost=cost, generator=torch.Generator().manual_seed(0))
    assert len(batches) == 4 * calls_single and set(batches) == {16}  # the cost saw 4 futures per guided row
    assert not torch.allclose(single, mcg)  # and the averaged gradient changed the plan
    assert torch.isfinite(mcg).all()


def test_context_tokens_condition_the_continuation(trained_walk_model):
    model = trained_walk_model
    layout = model.layout
    n = 256
    cond = torch.full((n, 1), 1.5)
    # a past that walked down from 1.5 to 0 with actions consistent with o' = 0.9·o + a
    obs = torch.tensor([1.0, 0.5, 0.0])
    act = obs - 0.9 * torch.tensor([1.5, 1.0, 0.5])
    past = layout.to_tokens(act.expand(n, 3)[..., None], -(obs**2).expand(n, 3), obs.expand(n, 3)[..., None])
    config = SamplerConfig(num_steps=10, schedule="autoregressive")
    without = sample(model, cond, 4, config, generator=torch.Generator().manual_seed(0))
    assert layout.observations(without)[:, 0, 0].mean().item() == pytest.approx(0.9 * 1.5, abs=0.3)
    for level in (0, 50):
        config = SamplerConfig(num_steps=10, schedule="autoregressive", stabilization_level=level)
        out = sample(model, cond, 4, config, context=past, generator=torch.Generator().manual_seed(0))
        first = layout.observations(out)[:, 0, 0]
        assert first.mean().item() == pytest.approx(0.0, abs=0.3)  # continues from the context, not from cond


def test_bad_sampler_inputs_get_clear_errors(trained_walk_model):
    model = trained_walk_model
    with pytest.raises(ValueError, match=r"cond must be \(B, 1\)"):
        sample(model, torch.zeros(4, 3), 8)
    with pytest.raises(ValueError, match="NaN"):
        sample(model, torch.full((4, 1), float("nan")), 8)
    with pytest.raises(ValueError, match="valid:"):
        SamplerConfig(schedule="zigzag")
    with pytest.raises(ValueError, match="cost must return"):
        sample(model, torch.zeros(4, 1), 8, SamplerConfig(num_steps=2, guidance_scale=1.0), cost=lambda x: x.sum())


def test_reward_guidance_raises_the_predicted_and_the_true_return(trained_walk_model):
    from dfplan.costs import reward_cost

    model = trained_walk_model  # rewards r_t = −o_{t+1}²: the return is highest for a walk kept near 0
    cond = torch.full((128, 1), 1.5)
    config = SamplerConfig(num_steps=10, schedule="full_sequence")
    unguided = sample(model, cond, 8, config, generator=torch.Generator().manual_seed(0))
    guided = sample(model, cond, 8, SamplerConfig(num_steps=10, schedule="full_sequence", guidance_scale=2.0),
                    cost=reward_cost(model.layout), generator=torch.Generator().manual_seed(0))

    def returns(x0):
        predicted = model.layout.rewards(x0).sum(-1).mean().item()
        true = -model.layout.observations(x0)[..., 0].pow(2).sum(-1).mean().item()
        return predicted, true

    (predicted_u, true_u), (predicted_g, true_g) = returns(unguided), returns(guided)
    assert predicted_g > predicted_u + 0.5 and true_g > true_u + 0.5


@pytest.mark.parametrize("guided", [False, True])
def test_on_row_sees_every_row_and_a_clean_token_stays_as_it_ends(trained_walk_model, guided):
    model = trained_walk_model
    seen = []
    config = SamplerConfig(num_steps=5, schedule="pyramid", guidance_scale=1.0 if guided else 0.0)
    cond = torch.full((4, 1), 1.0)
    out = sample(model, cond, 6, config, cost=mean_observation(model) if guided else None,
                 generator=torch.Generator().manual_seed(0), on_row=lambda m, x0, k: seen.append((m, x0, k)))
    with_hook = sample(model, cond, 6, config, cost=mean_observation(model) if guided else None,
                       generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, with_hook)  # watching changes nothing
    rows = [m for m, _, _ in seen]
    assert rows == sorted(set(rows)) and len(rows) >= 6  # each row once, in order
    for (_, _, k_before), (_, x0_after, _) in itertools.pairwise(seen):
        clean = k_before[0] == 0  # tokens left clean by a row are reported as themselves from then on ...
        assert torch.allclose(x0_after[:, clean], out[:, clean], atol=1e-5)  # ... and are what the sample ends with
    assert (seen[-1][2] == 0).all()


def test_guidance_reads_known_tokens_as_imposed_not_as_predicted(trained_walk_model):
    model = trained_walk_model
    cond = torch.full((8, 1), 1.0)
    known = torch.full((8, 8, model.layout.token_dim), -2.0)
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:, 5:] = True  # the last three tokens imposed

    def late(x0):  # a cost on the imposed tokens only
        return model.layout.observations(x0)[:, 5:].pow(2).mean(dim=(1, 2))

    def run(cost, scale=3.0):
        return sample(model, cond, 8, SamplerConfig(num_steps=10, schedule="full_sequence", guidance_scale=scale),
                      cost=cost, known=known, known_mask=mask, generator=torch.Generator().manual_seed(0))

    unguided, guided = run(None, 0.0), run(late)
    torch.testing.assert_close(guided[:, 5:], known[:, 5:])  # imposed at the end
    # imposed, the cost is a constant: no gradient through the model's noisy predictions of them
    torch.testing.assert_close(guided, unguided)
    free = run(lambda x0: model.layout.observations(x0)[:, :5].mean(dim=(1, 2)))  # a cost on the free tokens
    assert model.layout.observations(free)[:, :5].mean() < model.layout.observations(unguided)[:, :5].mean() - 0.1
