"""Hypothesis strategies for rating tables, usable in your own tests.

Examples
--------
>>> from hypothesis import given
>>> from skcrossvae.testing import rating_tables
>>> @given(rating_tables())
... def test_fit_predicts_finite(table):
...     X, y = table
...     ...
"""

import numpy as np
from hypothesis import strategies as st


@st.composite
def rating_tables(draw, min_users=2, max_users=12, min_items=2, max_items=12,
                  rating_scale=(1.0, 5.0), string_ids=None):
    """Random (X, y): distinct (user, item) pairs covering every user and item, ratings in scale.

    Parameters
    ----------
    min_users, max_users, min_items, max_items : int
        Bounds on the numbers of distinct users and items.
    rating_scale : tuple of float
        Ratings are drawn uniformly in this closed interval.
    string_ids : bool or None
        Use string ids (True), integer ids (False) or either (None).

    Returns
    -------
    strategy
        Draws ``(X, y)`` with ``X`` an object array of shape (n, 2) and ``y`` float64.
    """
    n_users = draw(st.integers(min_users, max_users))
    n_items = draw(st.integers(min_items, max_items))
    seed = draw(st.integers(0, 2**31 - 1))
    use_strings = draw(st.booleans()) if string_ids is None else string_ids
    rng = np.random.RandomState(seed)
    density = draw(st.floats(0.2, 1.0))
    observed = rng.rand(n_users, n_items) < density
    # Every user and item gets a rating so the drawn sizes are the real ones.
    observed[np.arange(n_users), rng.randint(n_items, size=n_users)] = True
    observed[rng.randint(n_users, size=n_items), np.arange(n_items)] = True
    users, items = np.nonzero(observed)
    low, high = rating_scale
    ratings = rng.uniform(low, high, size=len(users))
    if use_strings:
        users = np.array([f"u{u}" for u in users], dtype=object)
        items = np.array([f"i{i}" for i in items], dtype=object)
    X = np.column_stack([users, items]).astype(object)
    return X, ratings


@st.composite
def low_rank_tables(draw, n_users=(30, 50), n_items=(20, 40), rank=(1, 3), density=(0.5, 0.8)):
    """Noiseless low-rank rating tables: ``(X, y, R)`` with ``R`` the full matrix.

    ``y`` holds the entries of ``R = 3 + P Q^T`` at the observed pairs (a random share
    ``density`` of all pairs, every user and item observed at least once).
    """
    size_users = draw(st.integers(*n_users))
    size_items = draw(st.integers(*n_items))
    true_rank = draw(st.integers(*rank))
    share = draw(st.floats(*density))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    full = 3.0 + rng.randn(size_users, true_rank) @ rng.randn(true_rank, size_items) / np.sqrt(true_rank)
    observed = rng.rand(size_users, size_items) < share
    observed[np.arange(size_users), rng.randint(size_items, size=size_users)] = True
    observed[rng.randint(size_users, size=size_items), np.arange(size_items)] = True
    users, items = np.nonzero(observed)
    return np.column_stack([users, items]), full[users, items], full
