"""Tools for testing rating estimators: the package's behaviour checks and hypothesis strategies.

The checks state, on (user, item) pairs, what every estimator of the package guarantees and
what scikit-learn's common checks cannot test: prediction within the rating range, top-N
recommendation, the unknown-id policy, fold-in, pickling and model files, seeds, row order,
string ids, bad input. They run on your own estimators too (subclasses of the package's bases):

>>> from skcrossvae.baselines import BiasedMFRegressor
>>> from skcrossvae.testing import parametrize_with_rating_checks
>>> @parametrize_with_rating_checks([BiasedMFRegressor(max_iter=2, random_state=0)])
... def test_rating_estimator(estimator, check):
...     check(estimator)

The strategies draw rating tables for property tests:

>>> from hypothesis import given
>>> from skcrossvae.testing import rating_tables
>>> @given(rating_tables())
... def test_fit_predicts_finite(table):
...     X, y = table
...     ...
"""

import os
import pickle
import tempfile
import unittest
import warnings

import numpy as np
from hypothesis import strategies as st
from sklearn.base import clone

__all__ = [
    "RATING_CHECKS",
    "check_bad_inputs_are_named",
    "check_cuda_request_fails_without_cuda",
    "check_fitted_attributes",
    "check_fold_in",
    "check_ids_of_another_kind_are_refused",
    "check_inputs_are_not_modified",
    "check_model_file_round_trip",
    "check_pickle_round_trip",
    "check_predictions_lie_in_the_rating_range",
    "check_recommend",
    "check_recommend_candidates",
    "check_recommend_matches_predict",
    "check_seed_and_row_order",
    "check_similar_users_and_items",
    "check_string_ids_and_dataframe",
    "check_unknown_ids",
    "low_rank_tables",
    "parametrize_with_rating_checks",
    "rating_tables",
    "toy_ratings",
]


def toy_ratings():
    """The ratings the checks fit on: 25 users, 18 items, raw ids that differ from codes.

    Returns
    -------
    X : ndarray of shape (n_ratings, 2)
    y : ndarray of shape (n_ratings,)
        Integer ratings from 1 to 5.
    """
    rng = np.random.RandomState(0)
    observed = rng.rand(25, 18) < 0.45
    observed[np.arange(25), rng.randint(18, size=25)] = True
    observed[rng.randint(25, size=18), np.arange(18)] = True
    users, items = np.nonzero(observed)
    X = np.column_stack([users * 10 + 1, items + 100])
    y = rng.randint(1, 6, size=len(users)).astype(float)
    return X, y


def _fitted(estimator, X=None, y=None):
    if X is None:
        X, y = toy_ratings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # test-sized fits stop at max_iter on purpose
        return clone(estimator).fit(X, y)


def _raises(error, match, function, *args, **kwargs):
    """Call ``function``; fail unless it raises ``error`` whose message contains ``match``."""
    try:
        function(*args, **kwargs)
    except error as exc:
        if match not in str(exc):
            raise AssertionError(f"{type(exc).__name__} message {str(exc)!r} does not say {match!r}") from exc
        return
    raise AssertionError(f"{getattr(function, '__name__', function)} did not raise {error.__name__} ({match!r})")


def check_predictions_lie_in_the_rating_range(estimator):
    """Predictions of the training pairs are finite and within the range of the ratings."""
    X, y = toy_ratings()
    predictions = _fitted(estimator).predict(X)
    assert predictions.shape == (len(X),)
    assert np.isfinite(predictions).all()
    assert predictions.min() >= y.min() - 1e-9 and predictions.max() <= y.max() + 1e-9


def check_fitted_attributes(estimator):
    """The id vocabularies, their sizes, ``n_features_in_`` and the iteration counts."""
    X, _ = toy_ratings()
    fitted = _fitted(estimator)
    assert fitted.n_users_ == len(np.unique(X[:, 0])) and fitted.n_items_ == len(np.unique(X[:, 1]))
    assert np.array_equal(fitted.user_ids_, np.unique(X[:, 0]))
    assert np.array_equal(fitted.item_ids_, np.unique(X[:, 1]))
    assert fitted.n_features_in_ == 2
    assert 1 <= fitted.n_iter_ and len(fitted.loss_curve_) == fitted.n_iter_


def check_recommend(estimator):
    """Top-n lists in raw ids, best first, without rated items; a bad ``n`` is named."""
    X, _ = toy_ratings()
    fitted = _fitted(estimator)
    users = np.unique(X[:, 0])[:4]
    item_ids, scores = fitted.recommend(users, n=3)
    assert item_ids.shape == scores.shape == (4, 3)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for position, user in enumerate(users):
        finite = np.isfinite(scores[position])
        assert not set(X[X[:, 0] == user, 1]) & set(item_ids[position][finite])
    assert fitted.recommend(users, n=3, exclude_seen=False)[0].shape == (4, 3)
    _raises(ValueError, "n must be an integer", fitted.recommend, users[:1], n=0)
    _raises(ValueError, "n must be an integer", fitted.recommend, users[:1], n=fitted.n_items_ + 1)


def check_recommend_matches_predict(estimator):
    """The scores of ``recommend`` are the predictions (before clipping to the rating range)."""
    X, y = toy_ratings()
    fitted = _fitted(estimator)
    user = X[0, 0]
    item_ids, scores = fitted.recommend([user], n=5, exclude_seen=False)
    pairs = np.column_stack([np.repeat(user, 5), item_ids[0]])
    np.testing.assert_allclose(fitted.predict(pairs), np.clip(scores[0], y.min(), y.max()), rtol=1e-6, atol=1e-6)


def check_recommend_candidates(estimator):
    """``recommend(items=...)`` ranks only the candidates, with the scores of a full ranking."""
    X, _ = toy_ratings()
    fitted = _fitted(estimator)
    user = X[0, 0]
    candidates = fitted.item_ids_[::3]
    item_ids, scores = fitted.recommend([user], n=len(candidates), items=candidates, exclude_seen=False)
    assert set(item_ids[0]) == set(candidates)
    all_ids, all_scores = fitted.recommend([user], n=fitted.n_items_, exclude_seen=False)
    full = dict(zip(all_ids[0], all_scores[0]))
    np.testing.assert_allclose(scores[0], [full[item] for item in item_ids[0]], rtol=1e-6, atol=1e-6)
    seen = set(X[X[:, 0] == user, 1])
    unseen_ids, unseen_scores = fitted.recommend([user], n=len(candidates), items=candidates)
    assert not seen & set(unseen_ids[0][np.isfinite(unseen_scores[0])])
    _raises(ValueError, "repeated ids", fitted.recommend, [user], n=1, items=[candidates[0]] * 2)
    _raises(ValueError, "n must be an integer", fitted.recommend, [user], n=len(candidates) + 1, items=candidates)
    strict = clone(fitted).set_params(handle_unknown="error")
    strict = _fitted(strict)
    _raises(ValueError, "unknown item id(s) [-7]", strict.recommend, [user], n=1, items=[-7, candidates[0]])
    # Under the 'mean' policy an unknown candidate gets the fallback score.
    ids, fallback = fitted.recommend([user], n=2, items=[-7, candidates[0]], exclude_seen=False)
    user_code = np.searchsorted(fitted.user_ids_, user)
    expected = fitted.global_mean_ + fitted.user_fallback_[user_code]
    assert fallback[0][list(ids[0]).index(-7)] == expected


def check_unknown_ids(estimator):
    """The 'mean' policy predicts the fallback; the 'error' policy names the unknown ids."""
    X, y = toy_ratings()
    fitted = _fitted(estimator)
    known_item = X[0, 1]
    predictions = fitted.predict(np.array([[-5, known_item], [-5, -7]]))
    item_code = np.searchsorted(fitted.item_ids_, known_item)
    assert abs(predictions[0] - (fitted.global_mean_ + fitted.item_fallback_[item_code])) < 1e-9
    assert abs(predictions[1] - fitted.global_mean_) < 1e-9
    assert fitted.recommend([-5], n=2)[0].shape == (1, 2)
    strict = _fitted(clone(estimator).set_params(handle_unknown="error"))
    _raises(ValueError, "unknown user id(s) [-5]", strict.predict, np.array([[-5, known_item]]))
    _raises(ValueError, "unknown item id(s) [-7]", strict.predict, np.array([[X[0, 0], -7]]))


def check_pickle_round_trip(estimator):
    """A pickled estimator predicts the same."""
    X, _ = toy_ratings()
    fitted = _fitted(estimator)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X), fitted.predict(X))


def check_model_file_round_trip(estimator):
    """``save`` and :func:`skcrossvae.load` give back the same class, parameters and predictions."""
    from . import load

    X, _ = toy_ratings()
    fitted = _fitted(estimator)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.skcv")
        fitted.save(path)
        restored = load(path, expected=type(fitted))
    assert restored.get_params() == fitted.get_params()
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.recommend(X[:3, 0], n=2)[0], fitted.recommend(X[:3, 0], n=2)[0])


def check_seed_and_row_order(estimator):
    """The same seed gives the same predictions, whatever the order of the rows."""
    X, y = toy_ratings()
    first = _fitted(estimator).predict(X)
    np.testing.assert_array_equal(first, _fitted(estimator).predict(X))
    order = np.random.RandomState(1).permutation(len(y))
    np.testing.assert_array_equal(first, _fitted(estimator, X[order], y[order]).predict(X))


def check_string_ids_and_dataframe(estimator):
    """String ids in a DataFrame: column names kept, predictions and raw ids back."""
    try:
        import pandas as pd
    except ImportError:
        raise unittest.SkipTest("pandas is not installed") from None
    X, y = toy_ratings()
    frame = pd.DataFrame({"user": [f"u{u}" for u in X[:, 0]], "item": X[:, 1]})
    model = _fitted(estimator, frame, y)
    assert list(model.feature_names_in_) == ["user", "item"]
    assert np.isfinite(model.predict(frame.iloc[:5])).all()
    assert model.recommend(["u1"], n=2)[0].dtype.kind == "i"


def check_inputs_are_not_modified(estimator):
    """``fit`` and ``predict`` leave the caller's arrays as they were."""
    X, y = toy_ratings()
    X_copy, y_copy = X.copy(), y.copy()
    _fitted(estimator, X, y).predict(X)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


#: (name, make the bad (X, y) from good ones, what the ValueError must say)
BAD_INPUTS = [
    ("three columns", lambda X, y: (np.column_stack([X, X[:, 0]]), y), "exactly two columns"),
    ("one column", lambda X, y: (X[:, :1], y), "exactly two columns"),
    ("NaN id", lambda X, y: (np.where(np.arange(len(X))[:, None] == 0, np.nan, X.astype(float)), y), "NaN"),
    ("NaN rating", lambda X, y: (X, np.where(np.arange(len(y)) == 3, np.nan, y)), "NaN or inf"),
    ("inf rating", lambda X, y: (X, np.where(np.arange(len(y)) == 3, np.inf, y)), "NaN or inf"),
    ("text rating", lambda X, y: (X, np.array(["good"] * len(y))), "must be numeric"),
    ("length mismatch", lambda X, y: (X, y[:-1]), "ratings"),
    ("duplicate pair", lambda X, y: (np.vstack([X, X[:1]]), np.append(y, 4.0)), "more than once"),
    ("empty", lambda X, y: (X[:0], y[:0]), "sample"),
    ("one rating", lambda X, y: (X[:1], y[:1]), "at least 2 ratings"),
    ("no y", lambda X, y: (X, None), "requires y"),
    ("mixed id types", lambda X, y: (np.column_stack([np.array(["a"] + list(X[1:, 0]), dtype=object), X[:, 1]]), y),
     "mix types"),
    ("huge id", lambda X, y: (np.where(np.arange(len(X))[:, None] == 0, 2**63, X).astype(np.uint64), y),
     "outside the int64 range"),
]


def check_bad_inputs_are_named(estimator):
    """Every input of :data:`BAD_INPUTS` gets a ``ValueError`` that names the problem."""
    X, y = toy_ratings()
    for name, make_bad, message in BAD_INPUTS:
        X_bad, y_bad = make_bad(X, y)
        try:
            clone(estimator).fit(X_bad, y_bad)
        except ValueError as exc:
            assert message in str(exc), f"{name}: {exc!r} does not say {message!r}"
        else:
            raise AssertionError(f"{name}: fit did not raise a ValueError")


def check_ids_of_another_kind_are_refused(estimator):
    """String ids after a fit on integer ids raise a ``ValueError`` saying so."""
    fitted = _fitted(estimator)
    _raises(ValueError, "user ids were numbers at fit time but are strings now",
            fitted.predict, np.array([["a", 100]], dtype=object))


def check_cuda_request_fails_without_cuda(estimator):
    """``device='cuda'`` on a machine without CUDA raises instead of falling back."""
    if "device" not in estimator.get_params():
        raise unittest.SkipTest(f"{type(estimator).__name__} has no device")
    import torch

    if torch.cuda.is_available():
        raise unittest.SkipTest("this machine has CUDA")
    _raises(ValueError, "CUDA is not available", clone(estimator).set_params(device="cuda").fit, *toy_ratings())


def check_similar_users_and_items(estimator):
    """``similar_users``/``similar_items`` rank the others by the cosine of their latent vectors."""
    if not hasattr(estimator, "similar_items"):
        raise unittest.SkipTest(f"{type(estimator).__name__} has no latent vectors to compare")
    fitted = _fitted(estimator)
    for side, method in (("user", fitted.similar_users), ("item", fitted.similar_items)):
        vocabulary = getattr(fitted, f"{side}_ids_")
        ids, similarities = method(vocabulary[:2], n=3)
        assert ids.shape == similarities.shape == (2, 3)
        assert np.all(np.diff(similarities, axis=1) <= 1e-12) and np.all(np.abs(similarities) <= 1 + 1e-9)
        assert not set(ids[0]) & {vocabulary[0]}
        factors = fitted._factors(side)
        first, best = factors[0], factors[np.searchsorted(vocabulary, ids[0, 0])]
        cosine = first @ best / (np.linalg.norm(first) * np.linalg.norm(best))
        assert abs(cosine - similarities[0, 0]) < 1e-9
        _raises(ValueError, "not seen during fit", method, [-5], n=1)
        _raises(ValueError, "n must be an integer", method, vocabulary[:1], n=len(vocabulary))


def check_fold_in(estimator):
    """``fold_in`` serves new users like fitted ones, changes nothing else, does not depend on how
    users are grouped into calls, survives a model file, and refuses bad ratings atomically."""
    from . import load

    if not hasattr(estimator, "fold_in"):
        raise unittest.SkipTest(f"{type(estimator).__name__} cannot fold in new users")
    X, y = toy_ratings()
    new_users = np.unique(X[:, 0])[-2:]
    held = np.isin(X[:, 0], new_users)
    fitted = _fitted(estimator, X[~held], y[~held])
    untouched = ~held & ~np.isin(X[:, 1], X[held, 1])
    assert untouched.any()
    model = pickle.loads(pickle.dumps(fitted)).fold_in(X[held], y[held])
    assert list(model.user_ids_[-2:]) == list(new_users) and model.fit_sizes_ == fitted.fit_sizes_
    predictions = model.set_params(handle_unknown="error").predict(X[held])  # known now
    assert np.all(np.isfinite(predictions))
    assert np.all((predictions >= y.min() - 1e-9) & (predictions <= y.max() + 1e-9))
    np.testing.assert_array_equal(model.predict(X[untouched]), fitted.predict(X[untouched]))
    one_by_one = pickle.loads(pickle.dumps(fitted))
    for user in new_users[::-1]:
        rows = X[:, 0] == user
        one_by_one.fold_in(X[rows], y[rows])
    np.testing.assert_allclose(one_by_one.predict(X), model.predict(X), atol=1e-6)
    items, _ = model.recommend(new_users[0], n=2)
    assert not np.isin(items, X[X[:, 0] == new_users[0], 1]).any()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.skcv")
        model.save(path)
        np.testing.assert_array_equal(load(path).predict(X), model.predict(X))
    before = model.predict(X)
    _raises(ValueError, "range seen in fit", model.fold_in, [[-7, X[0, 1]]], [y.max() + 1])
    _raises(ValueError, "duplicate", model.fold_in, [[-7, X[0, 1]], [-7, X[0, 1]]], [1.0, 2.0])
    assert model.n_users_ == fitted.n_users_ + 2
    np.testing.assert_array_equal(model.predict(X), before)
    if "warm_start" in model.get_params():
        _raises(ValueError, "added by fold_in", model.set_params(warm_start=True).fit, X, y)


#: Every check, in the order :func:`parametrize_with_rating_checks` runs them.
RATING_CHECKS = (
    check_predictions_lie_in_the_rating_range,
    check_fitted_attributes,
    check_recommend,
    check_recommend_matches_predict,
    check_recommend_candidates,
    check_unknown_ids,
    check_pickle_round_trip,
    check_model_file_round_trip,
    check_seed_and_row_order,
    check_string_ids_and_dataframe,
    check_inputs_are_not_modified,
    check_bad_inputs_are_named,
    check_ids_of_another_kind_are_refused,
    check_cuda_request_fails_without_cuda,
    check_similar_users_and_items,
    check_fold_in,
)


def parametrize_with_rating_checks(estimators):
    """A ``pytest.mark.parametrize`` over every (estimator, check) pair, as scikit-learn's
    ``parametrize_with_checks`` does for its own checks.

    Parameters
    ----------
    estimators : list of estimator instances
        Unfitted, with test-sized settings (each check fits clones on a toy matrix).

    Returns
    -------
    decorator
        For a test ``test(estimator, check)`` that calls ``check(estimator)``.
    """
    import pytest

    pairs = [(estimator, check) for estimator in estimators for check in RATING_CHECKS]
    ids = [f"{type(estimator).__name__}{_setting(estimator)}-{check.__name__}" for estimator, check in pairs]
    return pytest.mark.parametrize("estimator, check", pairs, ids=ids)


def _setting(estimator):
    """A short label of the parameters that tell two instances of one class apart."""
    side = estimator.get_params().get("side")
    return f"[side={side}]" if side is not None else ""


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
