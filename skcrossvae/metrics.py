"""Evaluation metrics of the paper: RMSE, MAE, NDCG@k and Recall@k for explicit ratings.

The ranking metrics follow Section 4.2 of the paper: ratings are binarised as relevant when
greater than a threshold (3 on a 1-5 scale), Recall@k and NDCG@k are computed per user with the
formulas of Liang et al. (2018) and averaged over the users who have at least two held-out
ratings. Two ranking protocols are available:

``'heldout'`` (the paper's)
    Each user's held-out rated items are ranked by the predicted rating.
``'catalog'`` (the one of implicit-feedback libraries)
    The whole catalogue of items the user did not rate in training is ranked, through the
    estimator's ``recommend``; the user's relevant held-out items are the targets.

:func:`ranking_scorer` wraps both protocols as scikit-learn scorers for ``GridSearchCV``. The
scorers, and :func:`catalog_ranking_score`, accept a fitted estimator or a fitted
:class:`~sklearn.pipeline.Pipeline` ending in one: ``X`` goes through the steps before the last
one, and the last step is scored on the (user id, item id) pairs that come out.
:func:`check_known_ids` warns when most of the scored pairs have ids unseen in fit.
"""

from numbers import Integral, Real
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array, check_consistent_length

from skcrossvae._data import encode_ids, root_mean_square, split_id_columns
from skcrossvae.exceptions import UnknownIdsWarning

__all__ = [
    "rmse",
    "mae",
    "ndcg_at_k",
    "recall_at_k",
    "catalog_ranking_score",
    "ranking_scorer",
    "RankingScorer",
    "check_known_ids",
]

_METRICS = ("ndcg", "recall")
_PROTOCOLS = ("heldout", "catalog")
#: check_known_ids warns when the share of pairs with an unknown user or item exceeds this.
_MAX_UNKNOWN_SHARE = 0.5


def _check_ratings(values, name):
    """Validate a 1-d, finite, non-empty numeric array and return it as float64."""
    values = check_array(values, ensure_2d=False, dtype="numeric", input_name=name)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {values.shape}.")
    return values.astype(np.float64, copy=False)


def _check_targets(y_true, y_pred):
    """Validate two 1-d, finite, non-empty, equally long numeric arrays."""
    check_consistent_length(y_true, y_pred)
    return _check_ratings(y_true, "y_true"), _check_ratings(y_pred, "y_pred")


def rmse(y_true, y_pred):
    """Root mean squared error between true and predicted ratings.

    Parameters
    ----------
    y_true : array-like of shape (n_ratings,)
        Observed ratings.
    y_pred : array-like of shape (n_ratings,)
        Predicted ratings.

    Returns
    -------
    float
        ``sqrt(mean((y_true - y_pred) ** 2))``.

    Examples
    --------
    >>> from skcrossvae.metrics import rmse
    >>> round(rmse([1, 2, 3], [1, 2, 5]), 4)
    1.1547
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    return root_mean_square(y_true - y_pred)


def mae(y_true, y_pred):
    """Mean absolute error between true and predicted ratings.

    Parameters
    ----------
    y_true : array-like of shape (n_ratings,)
        Observed ratings.
    y_pred : array-like of shape (n_ratings,)
        Predicted ratings.

    Returns
    -------
    float
        ``mean(abs(y_true - y_pred))``.

    Examples
    --------
    >>> from skcrossvae.metrics import mae
    >>> round(mae([1, 2, 3], [1, 2, 5]), 4)
    0.6667
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1; got {k!r}.")
    return int(k)


def _check_threshold(threshold):
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    return float(threshold)


def _check_metric(metric):
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}; got {metric!r}.")
    return metric


def _pair_columns(X):
    """User and item id columns of ``X`` (ndarray, list of pairs or two-column DataFrame)."""
    if hasattr(X, "iloc"):
        pairs = X.to_numpy()
    elif isinstance(X, np.ndarray):
        pairs = X
    else:
        # dtype=object keeps int user ids ints when item ids are strings (no str coercion)
        pairs = np.asarray(X, dtype=object)
    return split_id_columns(pairs)


def _final_estimator(estimator, X):
    """The estimator that is scored and the (user id, item id) pairs it sees.

    A :class:`~sklearn.pipeline.Pipeline`, nested or not, is unwrapped: ``X`` goes through
    every step but the last (``pipeline[:-1].transform(X)``; ``'passthrough'`` steps leave it
    as it is) and the last step is the estimator. Anything else is returned with ``X``.
    """
    while isinstance(estimator, Pipeline):
        name, final = estimator.steps[-1]
        if final is None or isinstance(final, str):
            raise ValueError(
                f"the last step of the pipeline ({name!r}) is {final!r}; a ranking scorer needs "
                "a pipeline that ends in a fitted recommender."
            )
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = final
    return estimator, X


def _warn_if_mostly_unknown(estimator, X):
    """The check of :func:`check_known_ids` on an estimator that is not a pipeline."""
    user_ids = getattr(estimator, "user_ids_", None)
    item_ids = getattr(estimator, "item_ids_", None)
    if user_ids is None or item_ids is None:
        return None
    # the estimators validate X with check_array(dtype=None) before splitting its columns
    pairs = check_array(X, dtype=None, ensure_min_samples=0, input_name="X")
    users, items = split_id_columns(pairs)
    if len(users) == 0:
        return 0.0
    _, user_known = encode_ids(np.asarray(user_ids), users, "user")
    _, item_known = encode_ids(np.asarray(item_ids), items, "item")
    n_unknown = int(np.count_nonzero(~(user_known & item_known)))
    share = n_unknown / len(users)
    if share > _MAX_UNKNOWN_SHARE:
        warnings.warn(
            f"{share:.0%} of the pairs scored ({n_unknown} of {len(users)}) have a user or an "
            f"item that {type(estimator).__name__} did not see in fit "
            f"({np.count_nonzero(~user_known)} an unknown user, "
            f"{np.count_nonzero(~item_known)} an unknown item). Their predictions are "
            "fallbacks, so the score mostly measures those. Split the ratings so that test "
            "users and items also have training ratings: use "
            "skcrossvae.model_selection.RatingKFold, or shuffle the ratings before splitting "
            "(e.g. KFold(shuffle=True); an unshuffled KFold on a table sorted by user tests "
            "users absent from training).",
            UnknownIdsWarning,
            stacklevel=3,
        )
    return share


def check_known_ids(estimator, X):
    """Warn when most (user, item) pairs of ``X`` have an id the estimator did not see in fit.

    The ranking scorers of this module run this check on the pairs they score.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        An estimator with the ``user_ids_`` and ``item_ids_`` vocabularies that the
        estimators of skcrossvae set in ``fit``, or a :class:`~sklearn.pipeline.Pipeline`
        ending in one (``X`` then goes through the steps before the last one first).
        Estimators without these attributes are not checked.
    X : array-like of shape (n_pairs, 2)
        (user id, item id) pairs: ndarray, list of pairs or two-column DataFrame.

    Returns
    -------
    share : float or None
        The share of the pairs whose user or item is not in the vocabularies, in [0, 1]
        (0 for no pair); None when the estimator has no vocabularies to compare with.

    Warns
    -----
    UnknownIdsWarning
        When ``share`` is greater than 0.5. The warning gives the share and the numbers of
        pairs with an unknown user and with an unknown item.

    Raises
    ------
    ValueError
        When ``X`` does not have two id columns, or its ids are of another kind (numbers or
        strings) than the ids seen in fit.

    Notes
    -----
    Pairs with an unknown id get fallback predictions, so a score over mostly such pairs says
    little about the model. A split that puts whole users in the test part causes this, for
    example ``KFold`` without shuffling on a table sorted by user, as MovieLens files are;
    :class:`~skcrossvae.model_selection.RatingKFold` keeps every test user and item in
    training.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrossvae.metrics import check_known_ids
    >>> class Fitted:
    ...     user_ids_, item_ids_ = np.array([1, 2]), np.array([10, 20])
    >>> check_known_ids(Fitted(), [[1, 10], [2, 20], [3, 10], [1, 30]])
    0.5
    """
    estimator, X = _final_estimator(estimator, X)
    return _warn_if_mostly_unknown(estimator, X)


def _encode_users(users):
    """Sorted unique user ids and each row's code (position among them)."""
    try:
        return np.unique(users, return_inverse=True)
    except TypeError as exc:
        raise TypeError(
            f"users must be ids of one comparable type (all integers or all strings): {exc}"
        ) from None


def _mean_over_users(per_user, metric, k):
    """Mean of the per-user scores; NaN and a warning when no user qualifies."""
    if per_user.size == 0:
        warnings.warn(
            f"{metric}@{k} is undefined: no user has at least 2 held-out ratings with at "
            "least one relevant; returning NaN.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(per_user.mean())


def _per_user_metric(metric, k, user_codes, ranks, is_hit, n_relevant):
    """Liang et al. (2018) Recall@k or NDCG@k of each user from their ranked slots.

    ``user_codes``, ``ranks`` (0-based) and ``is_hit`` describe every ranked slot; ``n_relevant``
    (all >= 1) holds each user's number of relevant items, which sets the normaliser.
    """
    n_users = len(n_relevant)
    if n_users == 0:
        return np.empty(0)
    top_hits = is_hit & (ranks < k)
    n_ideal = np.minimum(k, n_relevant)
    if metric == "recall":
        hits = np.bincount(user_codes, weights=top_hits, minlength=n_users)
        return hits / n_ideal
    gains = np.zeros(len(ranks))
    gains[top_hits] = 1.0 / np.log2(ranks[top_hits] + 2.0)
    dcg = np.bincount(user_codes, weights=gains, minlength=n_users)
    # IDCG: the min(k, n_relevant) relevant items ranked first
    cumulative_discounts = np.cumsum(1.0 / np.log2(np.arange(2, n_ideal.max() + 2)))
    return dcg / cumulative_discounts[n_ideal - 1]


def _heldout_ranking_score(metric, users, y_true, y_pred, k, threshold):
    """The paper's protocol: rank each user's held-out items by ``y_pred`` (see ndcg_at_k)."""
    metric = _check_metric(metric)
    k = _check_k(k)
    threshold = _check_threshold(threshold)
    y_true, y_pred = _check_targets(y_true, y_pred)
    users = np.asarray(users)
    if users.ndim != 1:
        raise ValueError(f"users must be one-dimensional; got shape {users.shape}.")
    check_consistent_length(users, y_true)
    _, codes = _encode_users(users)

    # np.lexsort sorts by the last key first: user, then score descending, then input order
    order = np.lexsort((np.arange(len(codes)), -y_pred, codes))
    sorted_codes = codes[order]
    n_rated = np.bincount(codes)
    first_slot = np.cumsum(n_rated) - n_rated
    ranks = np.arange(len(order)) - first_slot[sorted_codes]
    is_relevant = y_true[order] > threshold
    n_relevant = np.bincount(sorted_codes, weights=is_relevant, minlength=len(n_rated))

    kept = (n_rated >= 2) & (n_relevant > 0)
    in_kept = kept[sorted_codes]
    kept_codes = np.cumsum(kept) - 1  # renumber the kept users 0..n_kept-1
    per_user = _per_user_metric(
        metric,
        k,
        kept_codes[sorted_codes[in_kept]],
        ranks[in_kept],
        is_relevant[in_kept],
        n_relevant[kept].astype(np.int64),
    )
    return _mean_over_users(per_user, metric, k)


def ndcg_at_k(users, y_true, y_pred, k=20, threshold=3.0):
    """Mean NDCG@k over users, ranking each user's held-out items by predicted rating.

    Parameters
    ----------
    users : array-like of shape (n_ratings,)
        User id of each rating (integers or strings).
    y_true : array-like of shape (n_ratings,)
        Observed ratings.
    y_pred : array-like of shape (n_ratings,)
        Predicted ratings, used as ranking scores.
    k : int, default=20
        Length of the ranked list that counts.
    threshold : float, default=3.0
        Ratings strictly greater than ``threshold`` are relevant.

    Returns
    -------
    float
        ``DCG@k / IDCG@k`` averaged over the users kept, where
        ``DCG@k = sum_{r=1..k} rel_r / log2(r + 1)`` and ``IDCG@k`` is the DCG of the
        ``min(k, n_relevant)`` relevant items ranked first. NaN if no user qualifies.

    Notes
    -----
    For each user, the held-out rated items are ranked by predicted rating, highest first;
    ties keep the input order (a stable sort). An item is relevant when its true rating is
    greater than ``threshold``. Users with fewer than two held-out ratings (the paper averages
    over users who rated at least two items) or with no relevant held-out item (the metric is
    undefined, 0 / 0) are left out of the average. When no user is left, the result is NaN and
    an :class:`~sklearn.exceptions.UndefinedMetricWarning` is issued (NaN rather than an error so
    that a grid search ranks such a candidate last instead of failing).

    The computation is vectorised (one ``np.lexsort`` over all ratings, no loop over users):
    five million ratings take a few seconds.

    For one user with binary relevance and no tied scores this equals
    :func:`sklearn.metrics.ndcg_score` (which averages over tied scores instead).

    References
    ----------
    .. [1] D. Liang, R. G. Krishnan, M. D. Hoffman and T. Jebara, "Variational Autoencoders
       for Collaborative Filtering", WWW 2018.

    Examples
    --------
    User 0 has relevant items at ranks 1 and 3, user 1 at rank 2:

    >>> from skcrossvae.metrics import ndcg_at_k
    >>> users = [0, 0, 0, 1, 1]
    >>> y_true = [5, 1, 4, 2, 5]
    >>> y_pred = [4.5, 3.9, 2.0, 4.0, 3.0]
    >>> round(ndcg_at_k(users, y_true, y_pred, k=2), 4)  # (1 / 1.6309 + 0.6309) / 2
    0.622
    """
    return _heldout_ranking_score("ndcg", users, y_true, y_pred, k, threshold)


def recall_at_k(users, y_true, y_pred, k=20, threshold=3.0):
    """Mean Recall@k over users, ranking each user's held-out items by predicted rating.

    Parameters
    ----------
    users : array-like of shape (n_ratings,)
        User id of each rating (integers or strings).
    y_true : array-like of shape (n_ratings,)
        Observed ratings.
    y_pred : array-like of shape (n_ratings,)
        Predicted ratings, used as ranking scores.
    k : int, default=20
        Length of the ranked list that counts.
    threshold : float, default=3.0
        Ratings strictly greater than ``threshold`` are relevant.

    Returns
    -------
    float
        ``(relevant items in the top k) / min(k, n_relevant)`` averaged over the users kept.
        NaN if no user qualifies.

    Notes
    -----
    For each user, the held-out rated items are ranked by predicted rating, highest first;
    ties keep the input order (a stable sort). An item is relevant when its true rating is
    greater than ``threshold``. Users with fewer than two held-out ratings (the paper averages
    over users who rated at least two items) or with no relevant held-out item (the metric is
    undefined, 0 / 0) are left out of the average. When no user is left, the result is NaN and
    an :class:`~sklearn.exceptions.UndefinedMetricWarning` is issued (NaN rather than an error so
    that a grid search ranks such a candidate last instead of failing).

    The computation is vectorised (one ``np.lexsort`` over all ratings, no loop over users):
    five million ratings take a few seconds.

    Because of the ``min(k, n_relevant)`` normaliser (Liang et al. 2018), Recall@k is a
    precision while ``k < n_relevant`` and can decrease when ``k`` grows; it is
    non-decreasing in ``k`` once ``k >= n_relevant``.

    References
    ----------
    .. [1] D. Liang, R. G. Krishnan, M. D. Hoffman and T. Jebara, "Variational Autoencoders
       for Collaborative Filtering", WWW 2018.

    Examples
    --------
    >>> from skcrossvae.metrics import recall_at_k
    >>> users = [0, 0, 0, 1, 1]
    >>> y_true = [5, 1, 4, 2, 5]
    >>> y_pred = [4.5, 3.9, 2.0, 4.0, 3.0]
    >>> recall_at_k(users, y_true, y_pred, k=2)  # (1/2 + 1/1) / 2
    0.75
    """
    return _heldout_ranking_score("recall", users, y_true, y_pred, k, threshold)


def catalog_ranking_score(estimator, X, y, metric="ndcg", k=20, threshold=3.0):
    """Mean NDCG@k or Recall@k when ranking each user's whole unseen catalogue.

    The protocol of implicit-feedback libraries: for every user of ``X``, the fitted
    ``estimator`` ranks all the items the user did not rate in training
    (``estimator.recommend(users, n=k, exclude_seen=True)``); the targets are the user's
    held-out items of ``X`` rated above ``threshold``.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Must have ``recommend(users, n, exclude_seen)`` returning ``(item_ids, scores)``,
        two arrays of shape (n_users, n) in raw item ids, best first. A
        :class:`~sklearn.pipeline.Pipeline` (possibly nested) ending in such an estimator
        is accepted: ``X`` goes through the steps before the last one, and the last step
        ranks the users of the transformed pairs.
    X : array-like of shape (n_ratings, 2)
        Held-out (user id, item id) pairs: ndarray, list of pairs or two-column DataFrame;
        for a pipeline, any input its first step accepts.
    y : array-like of shape (n_ratings,)
        Held-out ratings.
    metric : {'ndcg', 'recall'}, default='ndcg'
        Which metric to average.
    k : int, default=20
        Length of the recommendation list.
    threshold : float, default=3.0
        Held-out ratings strictly greater than ``threshold`` are relevant.

    Returns
    -------
    float
        The metric averaged over the users kept; NaN (with an ``UndefinedMetricWarning``)
        if no user qualifies.

    Warns
    -----
    UnknownIdsWarning
        When more than half of the pairs have a user or an item unseen in fit (see
        :func:`check_known_ids`).

    Notes
    -----
    The formulas are those of :func:`ndcg_at_k` and :func:`recall_at_k` with the
    recommendation list as the ranking and ``n_relevant`` the number of distinct relevant
    held-out items. The user filter is the same, applied to ``X``: users with fewer than two
    held-out ratings or none relevant are left out, so both protocols average over the same
    users. Slots of the recommendation list whose score is NaN or infinite are treated as
    empty (a catalogue with fewer than ``k`` unseen items may be padded that way), and so is
    a list shorter than ``k``. If the estimator has an ``n_items_`` attribute smaller than
    ``k``, it is asked for ``n_items_`` items (the whole catalogue); the formulas keep ``k``.

    References
    ----------
    .. [1] D. Liang, R. G. Krishnan, M. D. Hoffman and T. Jebara, "Variational Autoencoders
       for Collaborative Filtering", WWW 2018.
    """
    metric = _check_metric(metric)
    k = _check_k(k)
    threshold = _check_threshold(threshold)
    estimator, X = _final_estimator(estimator, X)
    _warn_if_mostly_unknown(estimator, X)
    return _catalog_score(estimator, X, y, metric, k, threshold)


def _catalog_score(estimator, X, y, metric, k, threshold):
    """:func:`catalog_ranking_score` for checked arguments and an estimator, not a pipeline."""
    if not hasattr(estimator, "recommend"):
        raise TypeError(
            f"the catalog protocol needs an estimator with a recommend method; "
            f"{type(estimator).__name__} has none."
        )
    users, items = _pair_columns(X)
    y = _check_ratings(y, "y")
    check_consistent_length(users, y)
    user_ids, codes = _encode_users(users)

    n_rated = np.bincount(codes, minlength=len(user_ids))
    is_relevant = y > threshold
    relevant_codes, relevant_items = codes[is_relevant], items[is_relevant]
    has_relevant = np.bincount(relevant_codes, minlength=len(user_ids)) > 0
    kept = (n_rated >= 2) & has_relevant
    if not kept.any():
        return _mean_over_users(np.empty(0), metric, k)
    kept_codes = np.cumsum(kept) - 1
    in_kept = kept[relevant_codes]
    relevant_codes, relevant_items = kept_codes[relevant_codes[in_kept]], relevant_items[in_kept]

    # a catalogue smaller than k is ranked whole (estimators may refuse n > n_items_)
    n_recommended = min(k, getattr(estimator, "n_items_", k))
    recommended, scores = estimator.recommend(user_ids[kept], n=n_recommended, exclude_seen=True)
    recommended, scores = np.asarray(recommended), np.asarray(scores, dtype=np.float64)
    n_kept = int(kept.sum())
    if (
        recommended.ndim != 2
        or recommended.shape[0] != n_kept
        or recommended.shape[1] > n_recommended
    ):
        raise ValueError(
            f"recommend(users, n={n_recommended}) must return item ids of shape "
            f"({n_kept}, {n_recommended}) for {n_kept} users; got shape {recommended.shape}."
        )
    if scores.shape != recommended.shape:
        raise ValueError(
            f"recommend returned scores of shape {scores.shape} but item ids of shape "
            f"{recommended.shape}."
        )
    filled = np.isfinite(scores)
    slot_codes = np.broadcast_to(np.arange(n_kept)[:, None], recommended.shape)[filled]
    slot_ranks = np.broadcast_to(np.arange(recommended.shape[1]), recommended.shape)[filled]

    # encode held-out and recommended items together so (user, item) pairs become integers
    try:
        _, item_codes = np.unique(
            np.concatenate([relevant_items, recommended[filled]]), return_inverse=True
        )
    except TypeError as exc:
        raise TypeError(
            f"item ids returned by recommend ({recommended.dtype}) cannot be compared with the "
            f"item ids of X ({items.dtype}): {exc}"
        ) from None
    n_item_codes = int(item_codes.max()) + 1
    pair_keys = np.concatenate([relevant_codes, slot_codes]).astype(np.int64) * n_item_codes
    pair_keys += item_codes
    relevant_keys = np.unique(pair_keys[: len(relevant_items)])
    is_hit = np.isin(pair_keys[len(relevant_items) :], relevant_keys)
    n_relevant = np.bincount(relevant_keys // n_item_codes, minlength=n_kept)

    per_user = _per_user_metric(metric, k, slot_codes, slot_ranks, is_hit, n_relevant)
    return _mean_over_users(per_user, metric, k)


class RankingScorer:
    """A scikit-learn scorer ``(estimator, X, y) -> float`` for NDCG@k or Recall@k.

    Build it with :func:`ranking_scorer`, which documents the parameters. Instances are
    plain picklable objects, so they work with ``GridSearchCV(n_jobs=...)``.

    The estimator scored may be a :class:`~sklearn.pipeline.Pipeline` (possibly nested)
    ending in a recommender: ``X`` then goes through the steps before the last one, and the
    last step is scored on the (user id, item id) pairs that come out.
    """

    def __init__(self, metric="ndcg", k=20, threshold=3.0, protocol="heldout"):
        self.metric = _check_metric(metric)
        self.k = _check_k(k)
        self.threshold = _check_threshold(threshold)
        if protocol not in _PROTOCOLS:
            raise ValueError(f"protocol must be one of {_PROTOCOLS}; got {protocol!r}.")
        self.protocol = protocol

    def __call__(self, estimator, X, y):
        """Score the fitted ``estimator`` on held-out pairs ``X`` and ratings ``y``.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            A recommender with ``predict`` (``'heldout'`` protocol) or ``recommend``
            (``'catalog'``), or a :class:`~sklearn.pipeline.Pipeline` ending in one.
        X : array-like of shape (n_ratings, 2)
            Held-out (user id, item id) pairs; for a pipeline, any input its first step
            accepts, provided the steps before the last one turn it into such pairs.
        y : array-like of shape (n_ratings,)
            Held-out ratings.

        Returns
        -------
        float
            The metric, greater is better; NaN if no user qualifies.

        Warns
        -----
        UnknownIdsWarning
            When more than half of the pairs have a user or an item unseen in fit (see
            :func:`check_known_ids`).
        """
        final, pairs = _final_estimator(estimator, X)
        _warn_if_mostly_unknown(final, pairs)
        if self.protocol == "catalog":
            return _catalog_score(final, pairs, y, self.metric, self.k, self.threshold)
        users, _ = _pair_columns(pairs)
        return _heldout_ranking_score(
            self.metric, users, y, final.predict(pairs), self.k, self.threshold
        )

    def __repr__(self):
        return (
            f"ranking_scorer(metric={self.metric!r}, k={self.k}, threshold={self.threshold}, "
            f"protocol={self.protocol!r})"
        )


def ranking_scorer(metric, k=20, threshold=3.0, protocol="heldout"):
    """A scorer for ``GridSearchCV`` / ``cross_validate`` computing NDCG@k or Recall@k.

    The callable groups the ratings by the user column of ``X`` (its first column).
    Greater is better for both metrics, as scikit-learn scorers expect. It scores a fitted
    estimator or a fitted :class:`~sklearn.pipeline.Pipeline` (possibly nested) ending in
    one: ``X`` then goes through the steps before the last one (for example a step that
    selects the user and item columns of a wider DataFrame), and the last step is scored
    on the pairs that come out, grouped by their first column. It warns with
    :class:`~skcrossvae.exceptions.UnknownIdsWarning` when more than half of the pairs have
    a user or an item unseen in fit (see :func:`check_known_ids`).

    Parameters
    ----------
    metric : {'ndcg', 'recall'}
        The ranking metric.
    k : int, default=20
        Length of the ranked list that counts (the paper uses 20 and 50).
    threshold : float, default=3.0
        Ratings strictly greater than ``threshold`` are relevant.
    protocol : {'heldout', 'catalog'}, default='heldout'
        ``'heldout'`` (the paper's): rank each user's held-out items by ``predict``, see
        :func:`ndcg_at_k`. ``'catalog'``: rank all items unseen in training with
        ``recommend``, see :func:`catalog_ranking_score`.

    Returns
    -------
    RankingScorer
        Callable ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from skcrossvae.metrics import ranking_scorer
    >>> ranking_scorer("ndcg", k=20)
    ranking_scorer(metric='ndcg', k=20, threshold=3.0, protocol='heldout')

    Select on RMSE and report NDCG@20 as well::

        GridSearchCV(estimator, param_grid,
                     scoring={"rmse": "neg_root_mean_squared_error",
                              "ndcg@20": ranking_scorer("ndcg", k=20)},
                     refit="rmse")
    """
    return RankingScorer(metric, k, threshold, protocol)
