"""Rating data handling: id encoding and the baseline predictors shared by the decoder and the benchmarks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcrossvae._data import (
    RatingTable,
    build_vocabulary,
    damped_biases,
    encode_ids,
    extend_vocabulary,
    normalise_id_column,
)
from skcrossvae.datasets import make_ratings
from skcrossvae.testing import rating_tables


def _encoded(X, y):
    (user_ids, users), (item_ids, items) = build_vocabulary(X[:, 0]), build_vocabulary(X[:, 1])
    return RatingTable(users, items, y, len(user_ids), len(item_ids))


@settings(max_examples=50, deadline=None)
@given(rating_tables(), st.floats(0.5, 20.0))
def test_each_bias_is_the_damped_mean_of_its_residuals(table, damping):
    ratings = _encoded(*table)
    mean, user_bias, item_bias = damped_biases(ratings, damping)
    assert mean == ratings.values.mean()
    # The fixed point of the alternating ridge regressions, for users and for items.
    residual = ratings.values - mean - item_bias[ratings.items]
    expected_users = np.bincount(ratings.users, residual, ratings.n_users) / (
        np.bincount(ratings.users, minlength=ratings.n_users) + damping)
    residual = ratings.values - mean - user_bias[ratings.users]
    expected_items = np.bincount(ratings.items, residual, ratings.n_items) / (
        np.bincount(ratings.items, minlength=ratings.n_items) + damping)
    np.testing.assert_allclose(user_bias, expected_users, atol=1e-6)
    np.testing.assert_allclose(item_bias, expected_items, atol=1e-6)


def test_damping_shrinks_the_biases_of_short_rows_most():
    # Two users with the same ratings on average, one with 2 ratings, the other with 40.
    users = np.r_[np.zeros(2, int), np.ones(40, int), np.full(40, 2)]
    items = np.r_[np.arange(2), np.arange(40), np.arange(40)]
    values = np.r_[np.full(2, 5.0), np.full(40, 5.0), np.full(40, 1.0)]
    _, user_bias, _ = damped_biases(RatingTable(users, items, values, 3, 40), damping=5.0)
    assert 0 < user_bias[0] < user_bias[1]
    _, stronger, _ = damped_biases(RatingTable(users, items, values, 3, 40), damping=20.0)
    assert 0 < stronger[0] < user_bias[0]


@pytest.mark.parametrize("scale", [1e-150, 1e-6, 1e6, 1e149])
def test_the_biases_of_scaled_ratings_are_the_scaled_biases(scale):
    # The stopping tolerance follows the ratings' spread: on a scale of 1e-150 the sweeps used
    # to stop after the first one, giving other biases than the same ratings on a 1-5 scale.
    X, y, _ = make_ratings(30, 20, n_ratings=300, random_state=1)
    table = _encoded(X, y)
    mean, user_bias, item_bias = damped_biases(table, damping=5.0)
    scaled = RatingTable(table.users, table.items, table.values * scale, table.n_users, table.n_items)
    scaled_mean, scaled_users, scaled_items = damped_biases(scaled, damping=5.0)
    np.testing.assert_allclose(scaled_mean / scale, mean, rtol=1e-12)
    np.testing.assert_allclose(scaled_users / scale, user_bias, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scaled_items / scale, item_bias, rtol=0, atol=1e-12)


def test_codes_without_ratings_get_a_zero_bias():
    table = RatingTable(np.array([0, 0, 2]), np.array([0, 1, 1]), np.array([1.0, 2.0, 5.0]), 4, 3)
    _, user_bias, item_bias = damped_biases(table, damping=1.0)
    assert user_bias[1] == user_bias[3] == item_bias[2] == 0.0


def test_unsigned_ids_beyond_int64_are_refused_not_wrapped():
    from skcrossvae.baselines import BiasedMFRegressor

    X = np.array([[2**63, 1], [2**63 + 5, 2], [2**63, 2], [3, 1]], dtype=np.uint64)
    # Each offending id is named once, however many ratings it has.
    with pytest.raises(ValueError, match=r"user ids \[9223372036854775808, 9223372036854775813\] are "
                                         "outside the int64 range.*as strings"):
        BiasedMFRegressor(max_iter=1).fit(X, [1.0, 2.0, 3.0, 4.0])


def test_python_ints_beyond_int64_are_refused_with_a_clear_error():
    column = np.array([1, 2**70, -(2**70)], dtype=object)
    with pytest.raises(ValueError, match=r"item ids \[1180591620717411303424, -1180591620717411303424\] "
                                         "are outside the int64 range"):
        normalise_id_column(column, "item")


def test_large_unsigned_ids_within_int64_stay_exact():
    from skcrossvae.baselines import BiasedMFRegressor

    big = np.uint64(2**63 - 10)
    X = np.array([[big, 1], [big, 2], [big - np.uint64(1), 1], [big - np.uint64(1), 3]], dtype=np.uint64)
    model = BiasedMFRegressor(max_iter=2, early_stopping=False, random_state=0).fit(X, [1.0, 5.0, 2.0, 4.0])
    assert model.user_ids_.tolist() == [2**63 - 11, 2**63 - 10]
    items, _ = model.recommend([2**63 - 11], n=1)
    assert items.tolist() == [[2]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, unique=True),
       st.lists(st.integers(-80, 80), min_size=1, max_size=30))
def test_extended_vocabulary_keeps_known_codes_and_appends_new_ids(fitted, added):
    vocabulary = np.array(sorted(fitted), dtype=np.int64)
    ids = np.array(added, dtype=np.int64)
    extended, codes = extend_vocabulary(vocabulary, ids, "user")
    np.testing.assert_array_equal(extended[:len(vocabulary)], vocabulary)
    np.testing.assert_array_equal(extended[codes], ids)
    assert len(np.unique(extended)) == len(extended)
    # The unsorted vocabulary still encodes every id to its position, and unknown ids as unknown.
    probe = np.arange(-100, 101)
    probe_codes, known = encode_ids(extended, probe, "user")
    np.testing.assert_array_equal(known, np.isin(probe, extended))
    np.testing.assert_array_equal(extended[probe_codes[known]], probe[known])


def test_extended_string_vocabulary():
    vocabulary = np.array(["b", "d"])
    extended, codes = extend_vocabulary(vocabulary, np.array(["zz", "d", "a", "zz"]), "item")
    assert list(extended) == ["b", "d", "a", "zz"] and list(codes) == [3, 1, 2, 3]
