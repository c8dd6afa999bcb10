"""make_ratings: a known low-rank truth, skewed activity, distinct pairs, clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcrossvae.datasets import make_ratings


def _pair_codes(X, n_items):
    return X[:, 0] * n_items + X[:, 1]


def test_reproducible_for_a_seed():
    first = make_ratings(60, 80, density=0.1, random_state=3, return_truth=True)
    second = make_ratings(
        60, 80, density=0.1, random_state=np.random.RandomState(3), return_truth=True
    )
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = make_ratings(60, 80, density=0.1, random_state=4)
    assert not np.array_equal(first[1], other[1])


def test_shapes_types_and_truth():
    X, y, y_noiseless, truth = make_ratings(
        200, 300, n_ratings=3_000, rank=5, noise=0.1, random_state=0, return_truth=True
    )
    assert X.shape == (3_000, 2) and X.dtype == np.int64
    assert y.shape == (3_000,) and y.dtype == np.float64
    assert truth.shape == (200, 300)
    assert np.linalg.matrix_rank(truth) == 5
    np.testing.assert_array_equal(y_noiseless, truth[X[:, 0], X[:, 1]])
    assert np.unique(_pair_codes(X, 300)).size == 3_000
    assert np.unique(X[:, 0]).size == 200 and np.unique(X[:, 1]).size == 300
    assert y.min() >= 1 and y.max() <= 5
    # Noise of 0.1 on a truth that nearly always lies inside the scale.
    assert 0.08 < np.sqrt(np.mean((y - y_noiseless) ** 2)) < 0.12
    assert 2.5 < truth.mean() < 3.5
    # Sorted by user, then item.
    assert np.all(np.diff(_pair_codes(X, 300)) > 0)


def test_density_sets_the_number_of_ratings():
    X, _, _ = make_ratings(100, 50, density=0.2, random_state=0)
    assert len(X) == 1_000


def test_activity_and_popularity_are_skewed():
    X, _, _ = make_ratings(500, 400, density=0.03, random_state=0)
    user_counts = np.bincount(X[:, 0])
    item_counts = np.bincount(X[:, 1])
    assert user_counts.max() >= 8 * np.median(user_counts)
    assert item_counts.max() >= 8 * np.median(item_counts)


def test_zero_exponents_give_even_activity():
    X, _, _ = make_ratings(
        500,
        400,
        density=0.03,
        user_activity_exponent=0.0,
        item_popularity_exponent=0.0,
        random_state=0,
    )
    user_counts = np.bincount(X[:, 0])
    assert user_counts.max() < 3 * np.median(user_counts)


def test_discrete_ratings_lie_on_the_grid():
    _, y, y_noiseless = make_ratings(50, 60, density=0.2, noise=0.3, discrete=True, random_state=1)
    assert set(np.unique(y)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert not np.allclose(y_noiseless, np.round(y_noiseless)), "the truth itself is not rounded"
    _, y, _ = make_ratings(
        30, 30, density=0.3, rating_scale=(0.5, 4.5), discrete=True, random_state=1
    )
    assert set(np.unique(y)) <= {0.5, 1.5, 2.5, 3.5, 4.5}


def test_full_matrix_and_minimal_number_of_ratings():
    X, _, _ = make_ratings(7, 5, density=1.0, random_state=0)
    assert len(X) == 35 and np.unique(_pair_codes(X, 5)).size == 35
    X, _, _ = make_ratings(7, 5, n_ratings=7, random_state=0)
    assert np.unique(X[:, 0]).size == 7 and np.unique(X[:, 1]).size == 5


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, "exactly one of density and n_ratings"),
        ({"density": 0.1, "n_ratings": 10}, ValueError, "exactly one of density and n_ratings"),
        ({"density": 0.0}, ValueError, "density must be > 0"),
        ({"density": 1.5}, ValueError, "density must be"),
        (
            {"density": 0.001},
            ValueError,
            r"density=0.001 gives n_ratings=6.*max\(n_users, n_items\) = 300",
        ),
        ({"n_ratings": 10}, ValueError, r"n_ratings=10 is invalid.*300"),
        ({"n_ratings": 60_001}, ValueError, "60000"),
        ({"n_ratings": 500.0}, TypeError, "n_ratings must be an integer"),
        ({"density": 0.1, "rank": 0}, ValueError, "rank must be between 1 and 200"),
        ({"density": 0.1, "rank": 201}, ValueError, "rank must be between 1 and 200"),
        ({"density": 0.1, "noise": -1}, ValueError, "noise must be"),
        ({"density": 0.1, "noise": float("nan")}, ValueError, "noise must be finite"),
        ({"density": 0.1, "rating_scale": (5, 1)}, ValueError, "low < high"),
        ({"density": 0.1, "rating_scale": 5}, ValueError, "pair"),
        ({"density": 0.1, "rating_scale": (1, 4.5), "discrete": True}, ValueError, "whole"),
        ({"density": 0.1, "discrete": "yes"}, TypeError, "discrete must be a bool"),
        ({"density": 0.1, "user_activity_exponent": -0.5}, ValueError, "user_activity_exponent"),
        ({"density": 0.1, "item_popularity_exponent": "x"}, TypeError, "item_popularity_exponent"),
        ({"density": 0.1, "return_truth": 1}, TypeError, "return_truth"),
        ({"density": 0.1, "random_state": "seed"}, ValueError, "seed"),
    ],
)
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_ratings(200, 300, **kwargs)


@pytest.mark.parametrize("bad", [0, -3, True, 2.0])
def test_invalid_sizes(bad):
    with pytest.raises((TypeError, ValueError), match="n_users"):
        make_ratings(bad, 10, density=0.5)


@settings(max_examples=40, deadline=None)
@given(
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 12),
    data=st.data(),
)
def test_properties_over_small_problems(n_users, n_items, data):
    rank = data.draw(st.integers(1, min(n_users, n_items)), label="rank")
    n_ratings = data.draw(st.integers(max(n_users, n_items), n_users * n_items), label="n_ratings")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    X, y, y_noiseless, truth = make_ratings(
        n_users, n_items, n_ratings=n_ratings, rank=rank, random_state=seed, return_truth=True
    )
    assert X.shape == (n_ratings, 2)
    assert np.unique(_pair_codes(X, n_items)).size == n_ratings
    assert np.array_equal(np.unique(X[:, 0]), np.arange(n_users))
    assert np.array_equal(np.unique(X[:, 1]), np.arange(n_items))
    assert np.linalg.matrix_rank(truth) == rank
    assert np.all((1 <= y) & (y <= 5))
    np.testing.assert_array_equal(y_noiseless, truth[X[:, 0], X[:, 1]])


def test_large_shapes_are_drawn_sparsely_with_the_same_guarantees():
    n_users, n_items, n_ratings = 9000, 4000, 150_000  # 36 million cells, above DENSE_CELLS
    X, y, y_noiseless = make_ratings(n_users, n_items, n_ratings=n_ratings, discrete=True, random_state=0)
    assert X.shape == (n_ratings, 2) and y.shape == y_noiseless.shape == (n_ratings,)
    keys = X[:, 0] * n_items + X[:, 1]
    assert len(np.unique(keys)) == n_ratings  # no pair twice
    assert np.bincount(X[:, 0], minlength=n_users).min() >= 1
    assert np.bincount(X[:, 1], minlength=n_items).min() >= 1
    assert set(np.unique(y)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # Zipf skew: the busiest tenth of the users hold far more than a tenth of the ratings.
    counts = np.sort(np.bincount(X[:, 0]))[::-1]
    assert counts[: n_users // 10].sum() > 0.3 * n_ratings
    again, _, _ = make_ratings(n_users, n_items, n_ratings=n_ratings, discrete=True, random_state=0)
    np.testing.assert_array_equal(X, again)
    with pytest.raises(ValueError, match="return_truth=True builds the 9000 x 4000 matrix"):
        make_ratings(n_users, n_items, n_ratings=n_ratings, random_state=0, return_truth=True)
