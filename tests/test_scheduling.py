import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dfplan import scheduling

horizons = st.integers(1, 40)
steps = st.integers(1, 60)
uncertainties = st.floats(0.0, 4.0, allow_nan=False)


def assert_valid(matrix, horizon, num_steps):
    assert matrix.dtype == np.int64
    assert matrix.shape[1] == horizon
    assert np.all(matrix[0] == num_steps)
    assert np.all(matrix[-1] == 0)
    assert np.all(np.diff(matrix, axis=0) <= 0)
    assert matrix.min() >= 0 and matrix.max() <= num_steps


@settings(max_examples=60, deadline=None)
@given(horizons, steps, uncertainties)
def test_every_named_matrix_is_valid(horizon, num_steps, uncertainty):
    for name in scheduling.SCHEDULES:
        assert_valid(scheduling.build(name, horizon, num_steps, uncertainty), horizon, num_steps)


@settings(max_examples=60, deadline=None)
@given(horizons, steps, uncertainties)
@example(2, 1, 2.0)  # offsets jump by more than num_steps: rows where nothing moves must be dropped
def test_pyramid_keeps_later_tokens_at_least_as_noisy_in_every_row(horizon, num_steps, uncertainty):
    matrix = scheduling.pyramid(horizon, num_steps, uncertainty)
    assert np.all(np.diff(matrix, axis=1) >= 0)
    # no row is wasted: every row but the first changes something
    assert np.all(np.any(np.diff(matrix, axis=0) < 0, axis=1))


@settings(max_examples=30, deadline=None)
@given(horizons, steps)
def test_full_sequence_and_autoregressive_are_the_pyramid_extremes(horizon, num_steps):
    full = scheduling.full_sequence(horizon, num_steps)
    assert full.shape == (num_steps + 1, horizon)
    np.testing.assert_array_equal(full, scheduling.pyramid(horizon, num_steps, 0.0))
    auto = scheduling.autoregressive(horizon, num_steps)
    assert auto.shape == (horizon * num_steps + 1, horizon)
    np.testing.assert_array_equal(auto, scheduling.pyramid(horizon, num_steps, float(num_steps)))
    # next-token: a token starts only once the previous one is clean
    for t in range(1, horizon):
        started = auto[:, t] < num_steps
        assert np.all(auto[started, t - 1] == 0)


def test_paper_pyramid_moves_each_token_one_step_behind_the_previous():
    matrix = scheduling.pyramid(3, 4)
    np.testing.assert_array_equal(matrix, [[4, 4, 4], [3, 4, 4], [2, 3, 4], [1, 2, 3], [0, 1, 2], [0, 0, 1], [0, 0, 0]])


def test_trapezoid_cleans_both_ends_first():
    matrix = scheduling.trapezoid(5, 4)
    assert np.all(matrix[:, 0] <= matrix[:, 2]) and np.all(matrix[:, 4] <= matrix[:, 2])


def test_unknown_name_raises_listing_valid_names():
    with pytest.raises(ValueError, match="valid: full_sequence, autoregressive, pyramid, trapezoid"):
        scheduling.build("spiral", 4, 10)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.array([[3, 3], [0, 0]]), "first row"),
        (np.array([[4, 4], [1, 0]]), "last row"),
        (np.array([[4, 4], [2, 3], [3, 1], [0, 0]]), "non-increasing"),
        (np.array([[4, 4], [0.5, 0], [0, 0]]), "integers"),
        (np.array([4, 0]), "shape"),
        (np.array([[5, 4], [0, 0]]), r"\[0, 4\]"),
    ],
)
def test_validate_rejects_bad_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        scheduling.validate(matrix, 4)


def test_user_matrix_is_accepted_when_valid_and_checked_against_the_horizon():
    user = [[2, 2, 2], [1, 2, 2], [0, 0, 1], [0, 0, 0]]
    np.testing.assert_array_equal(scheduling.from_array(user, 3, 2), user)
    with pytest.raises(ValueError, match="horizon"):
        scheduling.from_array(user, 4, 2)


@settings(max_examples=60, deadline=None)
@given(horizons, steps, st.data())
def test_warm_start_restarts_kept_tokens_part_way_and_finishes_everything_in_its_rows(horizon, num_steps, data):
    kept = data.draw(st.integers(0, horizon))
    start = data.draw(st.integers(1, num_steps))
    matrix = scheduling.warm_start(horizon, num_steps, kept, start)
    assert matrix.shape == (start + 1, horizon)  # start_step rows of denoising, whatever num_steps
    np.testing.assert_array_equal(matrix[0], np.r_[np.full(kept, start), np.full(horizon - kept, num_steps)])
    assert np.all(matrix[-1] == 0) and np.all(np.diff(matrix, axis=0) <= 0)


def test_warm_start_is_refused_out_of_range():
    with pytest.raises(ValueError, match="start_step"):
        scheduling.warm_start(4, 10, 2, 11)
    with pytest.raises(ValueError, match="kept"):
        scheduling.warm_start(4, 10, 5, 3)
    with pytest.raises(ValueError, match="first row must be all"):
        scheduling.from_array(scheduling.warm_start(4, 10, 2, 3), 4, 10)  # a warm matrix needs init tokens
