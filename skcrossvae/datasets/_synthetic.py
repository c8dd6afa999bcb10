"""Synthetic explicit ratings with a known low-rank ground truth."""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state


#: Up to this many cells, pairs are drawn exactly without replacement from a dense key matrix;
#: larger shapes draw them sparsely (see the Notes of :func:`make_ratings`).
DENSE_CELLS = 2**25


def make_ratings(
    n_users=200,
    n_items=300,
    *,
    density=None,
    n_ratings=None,
    rank=5,
    noise=0.1,
    rating_scale=(1, 5),
    discrete=False,
    user_activity_exponent=1.0,
    item_popularity_exponent=1.0,
    random_state=None,
    return_truth=False,
):
    """Generate explicit ratings from a known low-rank matrix, with skewed activity.

    Every user and every item gets at least one rating, no (user, item) pair appears
    twice, and, as in real rating data, a few users rate much more than the median user
    and a few items are much more popular than the median item.

    Parameters
    ----------
    n_users : int, default=200
        Number of users (rows of the truth matrix), at least 1.
    n_items : int, default=300
        Number of items (columns of the truth matrix), at least 1.
    density : float in (0, 1], default=None
        Fraction of the ``n_users * n_items`` pairs that are rated; the number of ratings
        is ``round(density * n_users * n_items)``. Give exactly one of ``density`` and
        ``n_ratings``.
    n_ratings : int, default=None
        Number of ratings, between ``max(n_users, n_items)`` (so every user and item can
        have one) and ``n_users * n_items``. Give exactly one of ``density`` and
        ``n_ratings``.
    rank : int, default=5
        Rank of the noiseless rating matrix, between 1 and ``min(n_users, n_items)``.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to the noiseless ratings, in
        rating units (so it is about the RMSE of a perfect model when little is clipped).
    rating_scale : tuple of two floats, default=(1, 5)
        Lowest and highest rating. Noisy ratings are clipped to this range.
    discrete : bool, default=False
        Round the noisy ratings to the grid ``low, low + 1, ..., high`` (which needs
        ``high - low`` to be a whole number), as for star ratings.
    user_activity_exponent : float, default=1.0
        Zipf exponent of user activity: the user of activity rank ``k`` (1 = most active)
        is sampled with weight ``k ** -user_activity_exponent``. 0 gives uniform activity.
    item_popularity_exponent : float, default=1.0
        Zipf exponent of item popularity, as for users.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, for reproducible output.
    return_truth : bool, default=False
        Also return the full noiseless ``(n_users, n_items)`` matrix.

    Returns
    -------
    X : ndarray of shape (n_ratings, 2), dtype int64
        (user, item) indices, from 0, sorted by user then item.
    y : ndarray of shape (n_ratings,), dtype float64
        Observed ratings: noiseless value plus noise, rounded if ``discrete``, then
        clipped to ``rating_scale``.
    y_noiseless : ndarray of shape (n_ratings,), dtype float64
        The noiseless ratings of the observed pairs (neither rounded nor clipped).
    truth : ndarray of shape (n_users, n_items), dtype float64
        Only when ``return_truth=True``: the noiseless rating matrix, of rank exactly
        ``rank`` (almost surely); neither rounded nor clipped.

    Notes
    -----
    The noiseless matrix is ``U @ V.T`` with Gaussian factors of ``rank`` columns. The
    first column of ``U`` is all ones, so the first column of ``V`` acts as item offsets
    and also carries the centre of the rating scale; for ``rank >= 2`` the second column
    of ``V`` is constant, so the second column of ``U`` acts as user offsets. Because the
    shift to the rating scale lives inside the factors, the matrix on the rating scale
    has rank ``rank`` (an added constant outside the factors would raise it by one). Its
    entries have mean about the scale's centre and standard deviation about a sixth of
    the scale's width, so nearly all lie inside the scale.

    Clipping and rounding are not linear: ``y`` is not exactly low-rank plus Gaussian
    noise where they act, which is why ``y_noiseless`` and ``truth`` are returned
    unclipped.

    The rated pairs are drawn without replacement with probability proportional to
    ``user_weight * item_weight`` (Gumbel top-k sampling), after one pair per user and per
    item is reserved from a random pairing so that everyone is rated. That needs
    ``n_users * n_items`` keys; above ``DENSE_CELLS`` (2**25) cells, users and items are
    drawn independently with their weights and repeated pairs redrawn, which draws the same
    distribution while few pairs repeat (the case for large, sparse matrices), in memory of
    the order of the number of ratings: a MovieLens-20M shape (138,000 x 27,000, 20 million
    ratings) takes seconds. ``return_truth`` is available up to ``DENSE_CELLS`` cells.

    Examples
    --------
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, y_noiseless = make_ratings(50, 40, density=0.1, random_state=0)
    >>> X.shape, y.shape
    ((200, 2), (200,))
    """
    n_users = _check_integer("n_users", n_users, low=1)
    n_items = _check_integer("n_items", n_items, low=1)
    n_ratings = _resolve_n_ratings(n_users, n_items, density, n_ratings)
    rank = _check_integer("rank", rank, low=1, high=min(n_users, n_items))
    noise = _check_real("noise", noise, low=0.0)
    low, high = _check_rating_scale(rating_scale, discrete)
    user_activity_exponent = _check_real("user_activity_exponent", user_activity_exponent, low=0.0)
    item_popularity_exponent = _check_real(
        "item_popularity_exponent", item_popularity_exponent, low=0.0
    )
    if not isinstance(return_truth, (bool, np.bool_)):
        raise TypeError(f"return_truth must be a bool; got {return_truth!r}")
    rng = check_random_state(random_state)
    dense = n_users * n_items <= DENSE_CELLS
    if return_truth and not dense:
        raise ValueError(
            f"return_truth=True builds the {n_users} x {n_items} matrix ({n_users * n_items * 8 / 2**30:.1f} "
            f"GiB); it is available up to {DENSE_CELLS} cells. Use return_truth=False."
        )
    user_factors, item_factors = _low_rank_factors(n_users, n_items, rank, low, high, rng)
    sample = _sample_pairs if dense else _sample_pairs_sparse
    users, items = sample(n_users, n_items, n_ratings, user_activity_exponent, item_popularity_exponent, rng)
    if dense:
        truth = user_factors @ item_factors.T
        y_noiseless = truth[users, items]
    else:
        y_noiseless = np.einsum("ij,ij->i", user_factors[users], item_factors[items])
    y = y_noiseless + noise * rng.standard_normal(n_ratings)
    if discrete:
        y = low + np.round(y - low)
    y = np.clip(y, low, high)
    X = np.column_stack([users, items]).astype(np.int64)
    if return_truth:
        return X, y, y_noiseless, truth
    return X, y, y_noiseless


def _low_rank_factors(n_users, n_items, rank, low, high, rng):
    """Factors whose product is the noiseless (n_users, n_items) rating matrix, of rank ``rank``."""
    user_factors = rng.standard_normal((n_users, rank))
    item_factors = rng.standard_normal((n_items, rank))
    user_factors[:, 0] = 1.0
    if rank >= 2:
        item_factors[:, 1] = 1.0
    # Each entry of user_factors @ item_factors.T is a sum of `rank` terms of variance 1.
    scale = (high - low) / 6.0 / math.sqrt(rank)
    item_factors *= scale
    # Absorbed by the all-ones user column, so the shift keeps the rank.
    item_factors[:, 0] += (low + high) / 2.0
    return user_factors, item_factors


def _sample_pairs(n_users, n_items, n_ratings, user_exponent, item_exponent, rng):
    """Distinct (user, item) pairs covering every user and item, drawn with Zipf skew."""
    log_user_weights = _zipf_log_weights(n_users, user_exponent, rng)
    log_item_weights = _zipf_log_weights(n_items, item_exponent, rng)
    # Gumbel top-k: the n largest perturbed log-weights are a weighted sample without
    # replacement.
    keys = log_user_weights[:, None] + log_item_weights[None, :]
    keys += rng.gumbel(size=keys.shape)
    # Reserve a random pairing that covers everyone.
    covering_users, covering_items = _covering_pairs(n_users, n_items, rng)
    keys[covering_users, covering_items] = np.inf
    flat_keys = keys.ravel()
    n_left_out = flat_keys.size - n_ratings
    if n_left_out > 0:
        chosen = np.argpartition(flat_keys, n_left_out)[n_left_out:]
    else:
        chosen = np.arange(flat_keys.size)
    users, items = np.divmod(np.sort(chosen), n_items)
    return users, items


def _covering_pairs(n_users, n_items, rng):
    """A random pairing that covers everyone: pair k links user k mod n_users with item k mod
    n_items (after shuffling), which gives max(n_users, n_items) distinct pairs."""
    steps = np.arange(max(n_users, n_items))
    return rng.permutation(n_users)[steps % n_users], rng.permutation(n_items)[steps % n_items]


def _sample_pairs_sparse(n_users, n_items, n_ratings, user_exponent, item_exponent, rng):
    """The pairs of :func:`_sample_pairs` for shapes too large for a dense key matrix.

    Users and items are drawn independently with their Zipf weights (with replacement) and
    repeated pairs dropped, until ``n_ratings`` distinct pairs (the covering pairs included)
    are drawn: a weighted sample without replacement as long as few pairs repeat, which holds
    for the sparse matrices this path serves.
    """
    user_p = np.exp(_zipf_log_weights(n_users, user_exponent, rng))
    item_p = np.exp(_zipf_log_weights(n_items, item_exponent, rng))
    user_p, item_p = user_p / user_p.sum(), item_p / item_p.sum()
    covering_users, covering_items = _covering_pairs(n_users, n_items, rng)
    keys = _distinct(covering_users.astype(np.int64) * n_items + covering_items)
    while len(keys) < n_ratings:
        missing = n_ratings - len(keys)
        draws = 2 * missing + 1000
        drawn = rng.choice(n_users, draws, p=user_p).astype(np.int64) * n_items + rng.choice(n_items, draws, p=item_p)
        drawn = _distinct(drawn)
        new = drawn[~np.isin(drawn, keys, assume_unique=True, kind="sort")]
        keys = np.sort(np.concatenate([keys, rng.permutation(new)[:missing]]))
    return np.divmod(keys, n_items)


def _distinct(values):
    """The distinct values, sorted."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _zipf_log_weights(n, exponent, rng):
    """Log of Zipf weights ``k ** -exponent`` (k = 1..n), assigned in random order."""
    return -exponent * np.log(rng.permutation(n) + 1.0)


def _resolve_n_ratings(n_users, n_items, density, n_ratings):
    n_cells = n_users * n_items
    if (density is None) == (n_ratings is None):
        raise ValueError(
            "Give exactly one of density and n_ratings; got "
            f"density={density!r}, n_ratings={n_ratings!r}"
        )
    if density is not None:
        density = _check_real("density", density, low=0.0, high=1.0)
        if density == 0.0:
            raise ValueError("density must be > 0")
        n_ratings = round(density * n_cells)
        source = f"density={density!r} gives n_ratings={n_ratings}, but "
    else:
        n_ratings = _check_integer("n_ratings", n_ratings, low=1)
        source = f"n_ratings={n_ratings} is invalid: "
    minimum = max(n_users, n_items)
    if not minimum <= n_ratings <= n_cells:
        raise ValueError(
            f"{source}it must lie between max(n_users, n_items) = {minimum} (one rating for "
            f"every user and item) and n_users * n_items = {n_cells}"
        )
    return n_ratings


def _check_integer(name, value, *, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}; got {value}")
    return int(value)


def _check_real(name, value, *, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be finite and {bounds}; got {value}")
    return float(value)


def _check_rating_scale(rating_scale, discrete):
    if not isinstance(discrete, (bool, np.bool_)):
        raise TypeError(f"discrete must be a bool; got {discrete!r}")
    try:
        low, high = rating_scale
    except (TypeError, ValueError):
        raise ValueError(
            f"rating_scale must be a pair (low, high); got {rating_scale!r}"
        ) from None
    low = _check_real("rating_scale[0]", low, low=-math.inf)
    high = _check_real("rating_scale[1]", high, low=-math.inf)
    if not low < high:
        raise ValueError(f"rating_scale must have low < high; got {rating_scale!r}")
    if discrete and not float(high - low).is_integer():
        raise ValueError(
            "discrete=True rounds to low, low + 1, ..., high, so high - low must be a whole "
            f"number; got rating_scale={rating_scale!r}"
        )
    return low, high
