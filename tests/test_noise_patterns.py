"""Training noise patterns: Diffusion Forcing's independent levels and the two baselines'."""

import pytest
import torch

from dfplan.noise_patterns import draw_levels
from dfplan.training import TrainConfig

K = 100


def draw(pattern, batch=256, length=8):
    return draw_levels(pattern, batch, length, K, generator=torch.Generator().manual_seed(0))


def test_independent_levels_vary_within_a_window_and_clean_tokens_are_not_scored():
    k, scored = draw("independent")
    assert k.min() == 0 and k.max() == K
    assert (k != k[:, :1]).any(1).float().mean() > 0.9
    assert torch.equal(scored, k > 0)


def test_full_sequence_shares_one_nonzero_level_per_window():
    k, scored = draw("full_sequence")
    assert torch.equal(k, k[:, :1].expand_as(k)) and k.min() >= 1
    assert bool(scored.all())


def test_teacher_forcing_scores_one_noisy_token_after_a_clean_past():
    k, scored = draw("teacher_forcing")
    assert torch.equal(scored.sum(1), torch.ones(256, dtype=torch.long))
    target = scored.float().argmax(1)
    for row, t in zip(k, target, strict=True):
        assert (row[:t] == 0).all() and 1 <= row[t] <= K and (row[t + 1 :] == K).all()
    assert len(set(target.tolist())) == 8  # every position is a target sometimes


def test_an_unknown_pattern_is_an_error():
    with pytest.raises(ValueError, match="valid: independent, teacher_forcing, full_sequence"):
        draw("causal")
    with pytest.raises(ValueError, match="noise pattern"):
        TrainConfig(noise_pattern="next_token")
