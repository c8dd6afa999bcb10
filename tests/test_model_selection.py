"""Tests of skcrossvae.model_selection: the paper's splits, grid, RatingKFold and GridSearchCV
integration."""

from itertools import product

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    PredefinedSplit,
    check_cv,
    cross_validate,
)

from skcrossvae.metrics import ndcg_at_k, ranking_scorer, recall_at_k
from skcrossvae.model_selection import (
    PAPER_SPARSITY_FRACTIONS,
    RatingKFold,
    paper_param_grid,
    predefined_split,
    sparsity_split,
    train_val_test_split,
)
from skcrossvae.testing import rating_tables


class BiasRegressor(RegressorMixin, BaseEstimator):
    """Global mean + shrunk user bias + shrunk item bias: a tiny stand-in recommender.

    ``shrinkage`` is the pseudo-count pulling each bias towards 0, so it changes both the
    predictions and the rankings and makes a meaningful one-parameter grid.
    """

    def __init__(self, shrinkage=1.0):
        self.shrinkage = shrinkage

    @staticmethod
    def _columns(X):
        pairs = X.to_numpy() if hasattr(X, "iloc") else np.asarray(X, dtype=object)
        return pairs[:, 0].tolist(), pairs[:, 1].tolist()

    def _bias(self, ids, residuals):
        totals, counts = {}, {}
        for key, residual in zip(ids, residuals):
            totals[key] = totals.get(key, 0.0) + residual
            counts[key] = counts.get(key, 0) + 1
        return {key: totals[key] / (counts[key] + self.shrinkage) for key in totals}

    def fit(self, X, y):
        users, items = self._columns(X)
        y = np.asarray(y, dtype=float)
        self.global_mean_ = float(y.mean())
        self.user_bias_ = self._bias(users, y - self.global_mean_)
        user_part = np.array([self.user_bias_[user] for user in users])
        self.item_bias_ = self._bias(items, y - self.global_mean_ - user_part)
        self.items_ = np.array(sorted(self.item_bias_))
        self.seen_ = {}
        for user, item in zip(users, items):
            self.seen_.setdefault(user, set()).add(item)
        return self

    def predict(self, X):
        users, items = self._columns(X)
        return np.array(
            [
                self.global_mean_ + self.user_bias_.get(user, 0.0) + self.item_bias_.get(item, 0.0)
                for user, item in zip(users, items)
            ]
        )

    def recommend(self, users, n=10, exclude_seen=True):
        item_scores = np.array([self.item_bias_[item] for item in self.items_])
        ids = np.full((len(users), n), None, dtype=object)
        scores = np.full((len(users), n), -np.inf)
        for row, user in enumerate(users):  # unknown users: ranked by item bias alone
            user_scores = self.global_mean_ + self.user_bias_.get(user, 0.0) + item_scores
            if exclude_seen:
                seen = self.seen_.get(user, set())
                user_scores[[item in seen for item in self.items_]] = -np.inf
            best = np.argsort(-user_scores, kind="stable")[:n]
            best = best[np.isfinite(user_scores[best])]
            ids[row, : len(best)] = self.items_[best]
            scores[row, : len(best)] = user_scores[best]
        return ids, scores


def toy_ratings(n_users=40, n_items=25, density=0.5, seed=0):
    """Ratings 1-5 from user and item effects plus noise, as (X, y) numpy arrays."""
    rng = np.random.default_rng(seed)
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items)])
    pairs = pairs[rng.random(len(pairs)) < density]
    user_effect, item_effect = rng.normal(0, 1, n_users), rng.normal(0, 1, n_items)
    noise = rng.normal(0, 0.5, len(pairs))
    y = np.clip(np.round(3.2 + user_effect[pairs[:, 0]] + item_effect[pairs[:, 1]] + noise), 1, 5)
    return pairs, y


# ---------------------------------------------------------------- train_val_test_split


def row_ids(X):
    return list(X.index) if hasattr(X, "index") else [row[0] for row in X]


def test_split_sizes_are_the_papers_70_15_15():
    X, y = np.c_[np.arange(1000), np.zeros(1000, int)], np.arange(1000.0)
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(X, y, random_state=0)
    assert (len(X_train), len(X_val), len(X_test)) == (700, 150, 150)
    assert (len(y_train), len(y_val), len(y_test)) == (700, 150, 150)


@settings(deadline=None)
@given(
    st.integers(3, 400),
    st.tuples(*[st.floats(0.05, 1.0)] * 3),
    st.integers(0, 2**32 - 1),
)
def test_split_parts_are_disjoint_cover_everything_and_stay_aligned(n, weights, seed):
    sizes = tuple(w / sum(weights) for w in weights)
    X, y = np.c_[np.arange(n), np.arange(n) + 1000], np.arange(n) * 10.0
    try:
        X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
            X, y, sizes=sizes, random_state=seed
        )
    except ValueError as error:  # too few ratings for one of the parts
        assert "part empty" in str(error)
        return
    ids = np.concatenate([X_train[:, 0], X_val[:, 0], X_test[:, 0]])
    assert sorted(ids) == list(range(n))
    for X_part, y_part in ((X_train, y_train), (X_val, y_val), (X_test, y_test)):
        assert len(X_part) >= 1
        np.testing.assert_array_equal(y_part, X_part[:, 0] * 10.0)
    assert abs(len(X_train) - sizes[0] * n) <= 1


def test_split_is_reproducible_for_a_seed():
    X, y = toy_ratings()
    first = train_val_test_split(X, y, random_state=42)
    again = train_val_test_split(X, y, random_state=42)
    other = train_val_test_split(X, y, random_state=43)
    for part, same in zip(first, again):
        np.testing.assert_array_equal(part, same)
    assert not np.array_equal(first[0], other[0])


def test_split_keeps_dataframes_series_and_lists():
    frame = pd.DataFrame({"user": list("abcdefghij") * 2, "item": range(20)})
    ratings = pd.Series(np.arange(20.0), index=frame.index)
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        frame, ratings, random_state=0
    )
    assert isinstance(X_train, pd.DataFrame) and isinstance(y_test, pd.Series)
    assert sorted(row_ids(X_train) + row_ids(X_val) + row_ids(X_test)) == list(range(20))
    assert list(X_val.index) == list(y_val.index)
    pairs = [(u, i) for u, i in zip(frame["user"], frame["item"])]
    parts = train_val_test_split(pairs, list(ratings), random_state=0)
    assert all(isinstance(part, list) for part in parts)
    assert parts[0] == [pairs[i] for i in X_train.index]


@pytest.mark.parametrize(
    "sizes, message",
    [
        ((0.7, 0.3), "three numbers"),
        ((0.7, "0.15", 0.15), "three numbers"),
        ((0.8, 0.3, -0.1), "positive"),
        ((0.7, 0.2, 0.2), "sum to 1"),
    ],
)
def test_split_rejects_bad_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        train_val_test_split(np.zeros((10, 2)), np.zeros(10), sizes=sizes)


def test_split_rejects_too_few_ratings_and_length_mismatch():
    with pytest.raises(ValueError, match="test part empty with 3 ratings"):
        train_val_test_split(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_val_test_split(np.zeros((10, 2)), np.zeros(9))


# ---------------------------------------------------------------- sparsity_split


@pytest.mark.parametrize("fraction", PAPER_SPARSITY_FRACTIONS)
def test_sparsity_split_halves_the_rest(fraction):
    X, y = np.c_[np.arange(2000), np.zeros(2000, int)], np.zeros(2000)
    X_train, X_val, X_test, *_ = sparsity_split(X, y, fraction, random_state=0)
    assert len(X_train) == round(fraction * 2000)
    assert abs(len(X_val) - len(X_test)) <= 1
    assert len(X_train) + len(X_val) + len(X_test) == 2000


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, "0.1"])
def test_sparsity_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="fraction must be a number in"):
        sparsity_split(np.zeros((10, 2)), np.zeros(10), fraction)


# ---------------------------------------------------------------- predefined_split


def test_predefined_split_trains_on_training_rows_and_validates_on_the_rest():
    X, y, cv = predefined_split(np.ones((5, 2)), np.ones(5), np.zeros((3, 2)), np.zeros(3))
    assert isinstance(cv, PredefinedSplit) and cv.get_n_splits() == 1
    (train, validation), = cv.split(X, y)
    np.testing.assert_array_equal(train, np.arange(5))
    np.testing.assert_array_equal(validation, np.arange(5, 8))
    assert X.shape == (8, 2) and (X[validation] == 0).all() and (y[train] == 1).all()


def test_predefined_split_keeps_dataframes_and_lists():
    train = pd.DataFrame({"user": [1, 2], "item": [3, 4]})
    val = pd.DataFrame({"user": [5], "item": [6]}, index=[7])
    X, y, _ = predefined_split(train, pd.Series([1.0, 2.0]), val, pd.Series([3.0], index=[7]))
    assert isinstance(X, pd.DataFrame) and list(X.index) == [0, 1, 7]
    assert isinstance(y, pd.Series) and list(y) == [1.0, 2.0, 3.0]
    X, y, _ = predefined_split([(1, 3), (2, 4)], [1.0, 2.0], [(5, 6)], [3.0])
    assert X == [(1, 3), (2, 4), (5, 6)] and y == [1.0, 2.0, 3.0]


def test_predefined_split_errors_are_clear():
    with pytest.raises(TypeError, match="X: .* same type; got ndarray and list"):
        predefined_split(np.ones((2, 2)), np.ones(2), [(0, 0)], np.ones(1))
    with pytest.raises(ValueError, match="different columns"):
        predefined_split(
            pd.DataFrame({"user": [1], "item": [2]}), pd.Series([1.0]),
            pd.DataFrame({"u": [1], "i": [2]}), pd.Series([1.0]),
        )
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        predefined_split(np.ones((2, 2)), np.ones(3), np.ones((1, 2)), np.ones(1))


# ---------------------------------------------------------------- paper_param_grid

WIDTHS = (10, 25, 50, 100)
DIMS = (10, 15, 25, 50)
BETAS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def satisfies_paper_constraints(params):
    *hidden, intermediate_dim = params["encoder_layer_sizes"]
    widths = tuple(hidden) + params["fusion_layer_sizes"]
    return params["n_components"] <= intermediate_dim <= min(widths, default=np.inf)


def as_key(params):
    return tuple(sorted(params.items()))


def test_full_grid_is_the_constrained_brute_force_enumeration():
    grid = list(ParameterGrid(paper_param_grid("full", preset=None)))
    assert all(satisfies_paper_constraints(params) for params in grid)
    # one width per MLP, as documented
    layers = [()] + [(width,) * n_layers for n_layers in (1, 2) for width in WIDTHS]
    brute_force = {
        as_key(params)
        for n_components, intermediate_dim, hidden, fusion, beta_user, beta_item
        in product(DIMS, DIMS, layers, layers, BETAS, BETAS)
        if satisfies_paper_constraints(params := dict(
            n_components=n_components, encoder_layer_sizes=(*hidden, intermediate_dim),
            fusion_layer_sizes=fusion, beta=(beta_user, beta_item)))
    }
    assert len(grid) == len(brute_force) == 15336
    assert {as_key(params) for params in grid} == brute_force


def test_small_grid_is_a_constrained_subset_of_the_full_one():
    small = list(ParameterGrid(paper_param_grid("small")))
    assert len(small) == 18
    full = {as_key(params) for params in ParameterGrid(paper_param_grid("full"))}
    assert all(as_key(params) in full for params in small)


def test_the_grid_searches_the_paper_model_unless_told_otherwise():
    from skcrossvae import PAPER_PARAMS, CrossFeedbackVAERegressor

    for params in ParameterGrid(paper_param_grid("small")):
        model = CrossFeedbackVAERegressor().set_params(**params)
        assert {name: model.get_params()[name] for name in PAPER_PARAMS} == PAPER_PARAMS
    assert not set(PAPER_PARAMS) & set(paper_param_grid("small", preset=None)[0])
    prefixed = paper_param_grid("small", prefix="model__")[0]
    assert all(name.startswith("model__") for name in prefixed)
    with pytest.raises(ValueError, match="preset must be 'paper' or None"):
        paper_param_grid(preset="ours")


def test_param_grid_rejects_unknown_scale():
    with pytest.raises(ValueError, match="scale must be 'full' or 'small'; got 'medium'"):
        paper_param_grid("medium")


# ---------------------------------------------------------------- GridSearchCV


@pytest.mark.parametrize("as_frame", [False, True])
def test_grid_search_selects_on_the_validation_set_with_ranking_scorers(as_frame):
    X, y = toy_ratings()
    X_train, X_val, _, y_train, y_val, _ = train_val_test_split(X, y, random_state=0)
    if as_frame:
        X_train, X_val = (pd.DataFrame(part, columns=["user", "item"]) for part in (X_train, X_val))
        y_train, y_val = pd.Series(y_train), pd.Series(y_val, index=X_val.index)
    X_joined, y_joined, cv = predefined_split(X_train, y_train, X_val, y_val)
    scoring = {
        "rmse": "neg_root_mean_squared_error",
        "ndcg@5": ranking_scorer("ndcg", k=5),
        "recall@5": ranking_scorer("recall", k=5),
        "catalog ndcg@5": ranking_scorer("ndcg", k=5, protocol="catalog"),
        "catalog recall@30": ranking_scorer("recall", k=30, protocol="catalog"),
    }
    search = GridSearchCV(
        BiasRegressor(), {"shrinkage": [0.1, 5.0, 1e4]}, scoring=scoring, refit="rmse", cv=cv
    ).fit(X_joined, y_joined)

    for name in scoring:
        values = search.cv_results_[f"mean_test_{name}"]
        assert np.isfinite(values).all(), name
        if name != "rmse":
            assert ((0 <= values) & (values <= 1)).all(), name
    # the scores are those of a model fitted on the training part, judged on the validation part
    best = search.best_index_
    model = BiasRegressor(**search.best_params_).fit(X_train, y_train)
    users = np.asarray(X_val)[:, 0]
    assert search.cv_results_["mean_test_ndcg@5"][best] == pytest.approx(
        ndcg_at_k(users, y_val, model.predict(X_val), k=5)
    )
    assert search.cv_results_["mean_test_recall@5"][best] == pytest.approx(
        recall_at_k(users, y_val, model.predict(X_val), k=5)
    )
    assert search.cv_results_["mean_test_rmse"][best] == pytest.approx(
        -np.sqrt(np.mean((model.predict(X_val) - np.asarray(y_val)) ** 2))
    )


# ---------------------------------------------------------------- RatingKFold


def id_codes(X):
    """User and item codes of pairs (integers or strings), for checking splits."""
    pairs = X.to_numpy() if hasattr(X, "iloc") else np.asarray(X, dtype=object)
    return tuple(np.unique(pairs[:, k].astype(str), return_inverse=True)[1] for k in range(2))


def check_rating_folds(users, items, splits, n_splits):
    """Assert the rules of RatingKFold on the splits of pairs with these user and item codes."""
    n_ratings = len(users)
    assert len(splits) == n_splits
    test_count = np.zeros(n_ratings, dtype=int)
    fold_of = np.full(n_ratings, -1)
    for fold, (train, test) in enumerate(splits):
        assert train.dtype.kind == test.dtype.kind == "i"
        assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()
        assert np.array_equal(np.union1d(train, test), np.arange(n_ratings))
        assert len(test) > 0 and len(np.intersect1d(train, test)) == 0
        # every test user and item has a rating in the training part of the split
        assert set(users[test]) <= set(users[train])
        assert set(items[test]) <= set(items[train])
        test_count[test] += 1
        fold_of[test] = fold
    assert test_count.max() <= 1  # each rating is in at most one test fold
    user_counts, item_counts = np.bincount(users), np.bincount(items)
    testable = (user_counts[users] >= n_splits) & (item_counts[items] >= n_splits)
    assert not (test_count.astype(bool) & ~testable).any()  # rare users and items stay in training
    tested = fold_of >= 0
    # each item keeps at most one testable rating out of the test folds (step 3)
    kept_back = np.bincount(items[testable & ~tested], minlength=len(item_counts))
    assert kept_back.max(initial=0) <= 1
    # folds as balanced as the moves of step 3 allow, over all ratings and for each user
    fold_sizes = np.bincount(fold_of[tested], minlength=n_splits)
    assert fold_sizes.max() - fold_sizes.min() <= 1 + np.count_nonzero(testable & ~tested)
    for user in np.unique(users[testable]):
        mine = users == user
        per_fold = np.bincount(fold_of[mine & tested], minlength=n_splits)
        assert per_fold.max() - per_fold.min() <= 1 + np.count_nonzero(mine & testable & ~tested)
    return fold_of


def fold_tests(cv, X):
    """The test indices of each split."""
    return [test for _, test in cv.split(X)]


def same_folds(first, second):
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@settings(deadline=None, max_examples=150)
@given(
    rating_tables(max_users=15, max_items=15),
    st.integers(2, 5),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_rating_kfold_follows_its_rules_on_random_tables(table, n_splits, shuffle, seed):
    X, y = table
    cv = RatingKFold(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
    users, items = id_codes(X)
    user_counts, item_counts = np.bincount(users), np.bincount(items)
    n_testable = np.count_nonzero(
        (user_counts[users] >= n_splits) & (item_counts[items] >= n_splits)
    )
    try:
        splits = list(cv.split(X, y))
    except ValueError as error:
        if n_testable == 0:
            assert "can test no rating" in str(error)
        else:
            assert "would leave test fold" in str(error) and "empty" in str(error)
        return
    assert n_testable >= n_splits
    fold_of = check_rating_folds(users, items, splits, n_splits)
    # a seed gives the same folds at every call, and a DataFrame the same as an array
    again = fold_tests(cv, pd.DataFrame(X, columns=["user", "item"]))
    assert same_folds([test for _, test in splits], again)
    assert fold_of.max() == n_splits - 1


@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_rating_kfold_on_a_dense_table_tests_nearly_everything_in_even_folds(n_splits):
    X, y = toy_ratings(density=0.6)
    splits = list(RatingKFold(n_splits, random_state=0).split(X, y))
    fold_of = check_rating_folds(X[:, 0], X[:, 1], splits, n_splits)
    sizes = np.bincount(fold_of[fold_of >= 0])
    assert sizes.max() - sizes.min() <= 1
    assert sizes.sum() == len(y)  # every user and item has at least 5 ratings: all tested


def test_rating_kfold_is_reproducible_and_shuffles():
    X, _ = toy_ratings()
    seeded = fold_tests(RatingKFold(3, random_state=0), X)
    assert same_folds(seeded, fold_tests(RatingKFold(3, random_state=0), X))
    assert not same_folds(seeded, fold_tests(RatingKFold(3, random_state=1), X))
    unshuffled = fold_tests(RatingKFold(3, shuffle=False), X)
    assert same_folds(unshuffled, fold_tests(RatingKFold(3, shuffle=False), X))
    # without shuffling, the first user's ratings are dealt to folds 0, 1, 2 in input order
    first_ratings = np.flatnonzero(X[:, 0] == 0)[:3]
    assert [next(f for f, test in enumerate(unshuffled) if i in test) for i in first_ratings] == [
        0, 1, 2
    ]


def test_rating_kfold_accepts_lists_string_ids_and_wider_frames():
    X, y = toy_ratings(n_users=12, n_items=10, density=0.8)
    expected = fold_tests(RatingKFold(2, random_state=0), X)
    as_list = [(int(u), int(i)) for u, i in X]
    frame = pd.DataFrame({"rating": y, "item": X[:, 1], "user": X[:, 0], "age": 30})
    for data, columns in ((as_list, None), (frame, ["user", "item"]),
                          (np.column_stack([y, X[:, 1], X[:, 0]]), [2, 1])):
        assert same_folds(expected, fold_tests(RatingKFold(2, random_state=0, columns=columns), data))
    strings = np.array([(f"u{u}", f"i{i}") for u, i in X], dtype=object)
    mixed = pd.DataFrame({"user": X[:, 0], "item": [f"i{i}" for i in X[:, 1]]})
    for data in (strings, mixed):
        check_rating_folds(*id_codes(data), list(RatingKFold(2, random_state=0).split(data)), 2)


def test_rating_kfold_follows_the_splitter_protocol():
    X, y = toy_ratings()
    cv = RatingKFold(4, random_state=0)
    assert cv.get_n_splits() == cv.get_n_splits(X, y) == 4
    assert check_cv(cv) is cv
    assert repr(cv) == "RatingKFold(columns=None, n_splits=4, random_state=0, shuffle=True)"
    results = cross_validate(BiasRegressor(), X, y, cv=cv,
                             scoring={"rmse": "neg_root_mean_squared_error",
                                      "ndcg@5": ranking_scorer("ndcg", k=5)})
    assert np.isfinite(results["test_rmse"]).all() and np.isfinite(results["test_ndcg@5"]).all()
    search = GridSearchCV(BiasRegressor(), {"shrinkage": [0.1, 10.0]}, cv=cv,
                          scoring="neg_root_mean_squared_error").fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_splits": 1}, ValueError, "n_splits must be at least 2"),
        ({"n_splits": 0}, ValueError, "n_splits must be at least 2"),
        ({"n_splits": 2.0}, ValueError, "n_splits must be an integer >= 2"),
        ({"n_splits": True}, ValueError, "n_splits must be an integer >= 2"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
        ({"shuffle": False, "random_state": 0}, ValueError, "no effect when shuffle=False"),
        ({"columns": "user"}, ValueError, "columns must name the user and the item"),
        ({"columns": ["user", "item", "rating"]}, ValueError, "columns must name"),
    ],
)
def test_rating_kfold_rejects_bad_parameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        RatingKFold(**kwargs)


def test_rating_kfold_explains_data_it_cannot_split():
    # every user has one rating: none can be tested
    X = np.array([[0, 0], [1, 0], [2, 1], [3, 1]])
    with pytest.raises(ValueError, match=r"can test no rating.*0 of 4 users and 2 of 2 items"):
        list(RatingKFold(2, random_state=0).split(X))
    # two testable ratings cannot fill three folds
    X = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2]])[:7]
    with pytest.raises(ValueError, match="would leave test fold 2 empty"):
        list(RatingKFold(3, shuffle=False).split(X))
    with pytest.raises(ValueError, match=r"X must have two columns; got shape \(3, 3\); pass columns="):
        list(RatingKFold(2).split(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        list(RatingKFold(2).split(X, np.ones(3)))
