"""Tests of skcrossvae.metrics: RMSE/MAE, the paper's NDCG@k / Recall@k, the scorers (also on
pipelines) and the check of unknown ids."""

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import ndcg_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skcrossvae.exceptions import UnknownIdsWarning
from skcrossvae.metrics import (
    catalog_ranking_score,
    check_known_ids,
    mae,
    ndcg_at_k,
    ranking_scorer,
    recall_at_k,
    rmse,
)

RANKING_METRICS = {"ndcg": ndcg_at_k, "recall": recall_at_k}


def reference_score(metric, users, y_true, y_pred, k, threshold=3.0):
    """Per-user loop straight from Liang et al. (2018), to check the vectorised code."""
    per_user = []
    for user in dict.fromkeys(users):
        rows = [i for i, u in enumerate(users) if u == user]
        n_relevant = sum(y_true[i] > threshold for i in rows)
        if len(rows) < 2 or n_relevant == 0:
            continue
        ranked = sorted(rows, key=lambda i: -y_pred[i])  # stable: ties keep input order
        top_relevant = [y_true[i] > threshold for i in ranked[:k]]
        n_ideal = min(k, n_relevant)
        if metric == "recall":
            per_user.append(sum(top_relevant) / n_ideal)
        else:
            dcg = sum(rel / math.log2(rank + 2) for rank, rel in enumerate(top_relevant))
            idcg = sum(1 / math.log2(rank + 2) for rank in range(n_ideal))
            per_user.append(dcg / idcg)
    return float(np.mean(per_user)) if per_user else float("nan")


@st.composite
def rating_sets(draw, max_ratings=40, integer_scores=True):
    """(users, y_true, y_pred) with a few users, 1-5 ratings and possibly tied scores."""
    n = draw(st.integers(1, max_ratings))
    users = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    y_true = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    score = st.integers(-20, 20) if integer_scores else st.floats(-10, 10)
    y_pred = draw(st.lists(score, min_size=n, max_size=n))
    return np.array(users), np.array(y_true, dtype=float), np.array(y_pred, dtype=float)


def quiet(function, *args, **kwargs):
    """Call a ranking metric, silencing the warning for data where it is undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return function(*args, **kwargs)


# ---------------------------------------------------------------- RMSE / MAE


def test_rmse_and_mae_hand_computed():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 1]) == pytest.approx(1.0)
    assert rmse(np.array([4.0]), np.array([4.0])) == 0.0


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([1, 2], [1, 2, 3], "inconsistent numbers of samples"),
        ([1, np.nan], [1, 2], "NaN"),
        ([1, 2], [1, np.inf], "infinity"),
        ([], [], "0 sample"),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]], "one-dimensional"),
    ],
)
def test_rmse_and_mae_reject_bad_input(metric, y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metric(y_true, y_pred)


# ---------------------------------------------------------------- hand-computed ranking


def test_ndcg_and_recall_hand_computed_single_user():
    # ranked by score: relevant, irrelevant, relevant
    users, y_true, y_pred = [7, 7, 7], [5, 2, 4], [0.9, 0.5, 0.1]
    idcg_2 = 1 + 1 / math.log2(3)
    assert ndcg_at_k(users, y_true, y_pred, k=1) == pytest.approx(1.0)
    assert ndcg_at_k(users, y_true, y_pred, k=2) == pytest.approx(1 / idcg_2)
    assert ndcg_at_k(users, y_true, y_pred, k=3) == pytest.approx((1 + 1 / math.log2(4)) / idcg_2)
    assert recall_at_k(users, y_true, y_pred, k=1) == pytest.approx(1.0)
    assert recall_at_k(users, y_true, y_pred, k=2) == pytest.approx(0.5)
    assert recall_at_k(users, y_true, y_pred, k=3) == pytest.approx(1.0)


def test_recall_can_decrease_with_k_below_the_number_of_relevant_items():
    # Liang et al.'s min(k, n_relevant) normaliser makes Recall@k a precision for small k
    users, y_true, y_pred = [0, 0, 0], [5, 1, 5], [3, 2, 1]
    assert recall_at_k(users, y_true, y_pred, k=1) > recall_at_k(users, y_true, y_pred, k=2)


def test_ranking_averages_users_with_their_own_list_lengths():
    users = ["u", "u", "u", "v", "v"]
    y_true = [5, 1, 4, 2, 5]
    y_pred = [4.5, 3.9, 2.0, 4.0, 3.0]
    ndcg_u = 1 / (1 + 1 / math.log2(3))
    ndcg_v = 1 / math.log2(3)
    assert ndcg_at_k(users, y_true, y_pred, k=2) == pytest.approx((ndcg_u + ndcg_v) / 2)
    assert recall_at_k(users, y_true, y_pred, k=2) == pytest.approx((0.5 + 1.0) / 2)


def test_string_and_integer_user_ids_give_the_same_scores():
    y_true, y_pred = [5, 1, 4, 2, 5, 4], [1, 2, 3, 4, 5, 6]
    as_ints = ndcg_at_k([3, 3, 1, 1, 2, 2], y_true, y_pred, k=1)
    as_strings = ndcg_at_k(pd.Series(["c", "c", "a", "a", "b", "b"]), y_true, y_pred, k=1)
    assert as_ints == pytest.approx(as_strings)


@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_tied_scores_keep_input_order(metric):
    score = RANKING_METRICS[metric]
    assert score([0, 0], [1, 5], [2.0, 2.0], k=1) == 0.0
    assert score([0, 0], [5, 1], [2.0, 2.0], k=1) == 1.0


@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_users_with_one_rating_or_nothing_relevant_are_left_out(metric):
    score = RANKING_METRICS[metric]
    # user 1 has a single rating, user 2 nothing above 3; only user 0 (a perfect 1.0) counts
    users = [0, 0, 1, 2, 2]
    y_true = [5, 1, 5, 3, 1]
    y_pred = [2, 1, 0, 5, 4]
    assert score(users, y_true, y_pred, k=5) == 1.0


@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_threshold_is_strict_and_configurable(metric):
    score = RANKING_METRICS[metric]
    users, y_true, y_pred = [0, 0], [3, 4], [1, 0]
    assert score(users, y_true, y_pred, k=1) == 0.0
    assert score(users, y_true, y_pred, k=1, threshold=2.5) == 1.0


@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_no_qualifying_user_gives_nan_and_a_warning(metric):
    with pytest.warns(UndefinedMetricWarning, match="no user"):
        result = RANKING_METRICS[metric]([0, 1, 1], [5, 1, 2], [1, 2, 3], k=3)
    assert math.isnan(result)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"k": 0}, ValueError, "k must be an integer >= 1"),
        ({"k": 2.5}, ValueError, "k must be an integer >= 1"),
        ({"threshold": float("nan")}, ValueError, "threshold must be a finite number"),
        ({"users": [0, 0]}, ValueError, "inconsistent numbers of samples"),
        ({"users": [[0, 0, 0]]}, ValueError, "users must be one-dimensional"),
        ({"users": np.array([0, "a", 1], dtype=object)}, TypeError, "one comparable type"),
        ({"y_pred": [1, np.nan, 2]}, ValueError, "NaN"),
    ],
)
def test_ranking_metrics_reject_bad_input(kwargs, error, message):
    arguments = {"users": [0, 0, 0], "y_true": [5, 1, 4], "y_pred": [1, 2, 3]} | kwargs
    with pytest.raises(error, match=message):
        ndcg_at_k(**arguments)


# ---------------------------------------------------------------- properties


@settings(deadline=None)
@given(rating_sets(), st.integers(1, 12), st.sampled_from(["ndcg", "recall"]))
def test_vectorised_metric_matches_the_per_user_loop(data, k, metric):
    users, y_true, y_pred = data
    result = quiet(RANKING_METRICS[metric], users, y_true, y_pred, k=k)
    expected = reference_score(metric, list(users), list(y_true), list(y_pred), k)
    assert result == pytest.approx(expected, nan_ok=True)


@settings(deadline=None)
@given(rating_sets(integer_scores=False), st.integers(1, 12), st.sampled_from(["ndcg", "recall"]))
def test_metrics_lie_in_the_unit_interval(data, k, metric):
    result = quiet(RANKING_METRICS[metric], *data, k=k)
    assert math.isnan(result) or 0.0 <= result <= 1.0 + 1e-12


@settings(deadline=None)
@given(rating_sets(), st.integers(1, 12), st.sampled_from(["ndcg", "recall"]))
def test_ranking_by_the_true_ratings_scores_one(data, k, metric):
    users, y_true, _ = data
    result = quiet(RANKING_METRICS[metric], users, y_true, y_true, k=k)
    assert math.isnan(result) or result == pytest.approx(1.0)


@settings(deadline=None)
@given(rating_sets(), st.integers(1, 12), st.sampled_from(["ndcg", "recall"]))
def test_strictly_increasing_transforms_of_the_scores_change_nothing(data, k, metric):
    users, y_true, y_pred = data  # integer scores: the transforms below are exact
    score = RANKING_METRICS[metric]
    original = quiet(score, users, y_true, y_pred, k=k)
    for transformed in (5 * y_pred - 3, y_pred**3 + 2 * y_pred, np.exp(y_pred / 7)):
        assert quiet(score, users, y_true, transformed, k=k) == pytest.approx(
            original, nan_ok=True
        )


@settings(deadline=None)
@given(
    st.integers(2, 30).flatmap(
        lambda n: st.tuples(
            st.lists(st.booleans(), min_size=n, max_size=n).filter(any),
            st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n, unique=True),
        )
    ),
    st.integers(1, 40),
)
def test_ndcg_agrees_with_sklearn_where_the_definitions_coincide(data, k):
    # They coincide for one user with binary relevance (gain = relevance), at least two
    # items and one relevant (so the user is kept and IDCG > 0) and no tied scores (sklearn
    # averages over ties, we break them by input order). Any k: both truncate IDCG at
    # min(k, n_relevant) ideal positions.
    relevant, scores = data
    y_true = np.where(relevant, 5.0, 1.0)
    ours = ndcg_at_k(np.zeros(len(scores)), y_true, scores, k=k)
    theirs = ndcg_score([np.array(relevant, dtype=float)], [scores], k=k)
    assert ours == pytest.approx(theirs)


@settings(deadline=None)
@given(rating_sets(), st.integers(0, 10))
def test_recall_never_decreases_with_k_once_k_reaches_the_relevant_count(data, extra):
    # below n_relevant, Recall@k is a precision and may decrease (see the test above)
    users, y_true, y_pred = data
    most_relevant = max(np.sum((users == user) & (y_true > 3)) for user in np.unique(users))
    k = max(int(most_relevant), 1)
    smaller = quiet(recall_at_k, users, y_true, y_pred, k=k)
    larger = quiet(recall_at_k, users, y_true, y_pred, k=k + extra)
    assert math.isnan(smaller) or larger >= smaller - 1e-12


# ---------------------------------------------------------------- catalog protocol


class FixedRecommender:
    """Returns preset recommendation lists and records how it was called."""

    def __init__(self, lists):
        self.lists = lists
        self.calls = []

    def recommend(self, users, n=10, exclude_seen=True):
        self.calls.append((list(users), n, exclude_seen))
        lists = [self.lists[user][:n] for user in users]
        items = np.array(lists, dtype=object)
        scores = np.array([np.linspace(1, 0, len(items)) for items in lists])
        return items, scores


CATALOG_X = [("a", 1), ("a", 2), ("a", 3), ("b", 4), ("b", 5), ("c", 6)]
CATALOG_Y = [5, 4, 1, 5, 2, 5]


def test_catalog_protocol_hand_computed():
    estimator = FixedRecommender({"a": [9, 1, 2], "b": [4, 7, 8]})
    ndcg_a = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg = catalog_ranking_score(estimator, CATALOG_X, CATALOG_Y, "ndcg", k=3)
    assert ndcg == pytest.approx((ndcg_a + 1.0) / 2)
    assert catalog_ranking_score(estimator, CATALOG_X, CATALOG_Y, "recall", k=3) == 1.0
    assert catalog_ranking_score(estimator, CATALOG_X, CATALOG_Y, "recall", k=1) == 0.5
    # only the users kept by the filter are ranked ('c' has a single held-out rating)
    assert estimator.calls[0] == (["a", "b"], 3, True)


def test_catalog_protocol_accepts_a_dataframe():
    estimator = FixedRecommender({"a": [9, 1, 2], "b": [4, 7, 8]})
    frame = pd.DataFrame(CATALOG_X, columns=["user", "item"])
    assert catalog_ranking_score(estimator, frame, pd.Series(CATALOG_Y), "recall", k=3) == 1.0


def test_catalog_protocol_ignores_padded_slots_and_short_lists():
    class Padded(FixedRecommender):
        def recommend(self, users, n=10, exclude_seen=True):
            items, scores = super().recommend(users, n, exclude_seen)
            scores[:, -1] = -np.inf  # an estimator pads a small catalogue like this
            return items, scores

    padded = Padded({"a": [1, 2, None], "b": [4, 5, None]})
    assert catalog_ranking_score(padded, CATALOG_X, CATALOG_Y, "recall", k=3) == 1.0
    short = FixedRecommender({"a": [1], "b": [4]})
    assert catalog_ranking_score(short, CATALOG_X, CATALOG_Y, "recall", k=3) == 0.75


def test_catalog_protocol_asks_a_small_catalogue_for_all_its_items():
    estimator = FixedRecommender({"a": [1, 2], "b": [4, 5]})
    estimator.n_items_ = 2  # the size of the fitted catalogue
    assert catalog_ranking_score(estimator, CATALOG_X, CATALOG_Y, "recall", k=20) == 1.0
    assert estimator.calls[0][1] == 2


def test_catalog_protocol_with_no_qualifying_user_does_not_call_recommend():
    estimator = FixedRecommender({})
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(catalog_ranking_score(estimator, [(0, 1)], [5.0], "ndcg", k=3))
    assert estimator.calls == []


def test_catalog_protocol_errors_are_clear():
    with pytest.raises(TypeError, match="recommend"):
        catalog_ranking_score(object(), CATALOG_X, CATALOG_Y, "ndcg", k=3)

    class IgnoresN(FixedRecommender):
        def recommend(self, users, n=10, exclude_seen=True):
            return super().recommend(users, 4, exclude_seen)

    too_long = IgnoresN({"a": [1, 2, 3, 4], "b": [4, 5, 6, 7]})
    expected = r"n=3\) must return item ids of shape \(2, 3\) for 2 users; got shape \(2, 4\)"
    with pytest.raises(ValueError, match=expected):
        catalog_ranking_score(too_long, CATALOG_X, CATALOG_Y, "ndcg", k=3)
    strings = FixedRecommender({"a": ["x", "y", "z"], "b": ["x", "y", "z"]})
    with pytest.raises(TypeError, match="cannot be compared"):
        catalog_ranking_score(strings, CATALOG_X, CATALOG_Y, "ndcg", k=3)


# ---------------------------------------------------------------- scorers


class ScoreByItem:
    """Predicts the item id itself, so the ranking is known in advance."""

    def predict(self, X):
        return np.asarray(X)[:, 1].astype(float)


def test_heldout_scorer_groups_by_the_first_column():
    X = np.array([[0, 1], [0, 2], [0, 3], [1, 1], [1, 2]])
    y = np.array([1, 1, 5, 5, 1])
    expected = ndcg_at_k(X[:, 0], y, X[:, 1].astype(float), k=2)
    scorer = ranking_scorer("ndcg", k=2)
    assert scorer(ScoreByItem(), X, y) == pytest.approx(expected)
    frame = pd.DataFrame(X, columns=["user", "item"])
    assert scorer(ScoreByItem(), frame, pd.Series(y)) == pytest.approx(expected)
    assert scorer(ScoreByItem(), X.tolist(), y.tolist()) == pytest.approx(expected)


def test_scorer_dispatches_to_the_catalog_protocol():
    estimator = FixedRecommender({"a": [9, 1, 2], "b": [4, 7, 8]})
    scorer = ranking_scorer("recall", k=3, protocol="catalog")
    assert scorer(estimator, CATALOG_X, CATALOG_Y) == 1.0


def test_scorer_repr_and_pickling():
    scorer = ranking_scorer("recall", k=50, threshold=3.5, protocol="catalog")
    assert repr(scorer) == (
        "ranking_scorer(metric='recall', k=50, threshold=3.5, protocol='catalog')"
    )
    assert repr(pickle.loads(pickle.dumps(scorer))) == repr(scorer)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric": "map"}, "metric must be one of"),
        ({"metric": "ndcg", "protocol": "loo"}, "protocol must be one of"),
        ({"metric": "ndcg", "k": 0}, "k must be an integer >= 1"),
        ({"metric": "ndcg", "threshold": "3"}, "threshold must be a finite number"),
    ],
)
def test_ranking_scorer_validates_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ranking_scorer(**kwargs)


# ---------------------------------------------------------------- pipelines


class ItemOrder(RegressorMixin, BaseEstimator):
    """A fittable stand-in recommender with the vocabularies of skcrossvae's estimators.

    It predicts the item id itself and recommends the items of the highest ids, so rankings
    are known in advance; it refuses anything but two columns, as the estimators do.
    """

    @staticmethod
    def _columns(X):
        pairs = np.asarray(X)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"X must have exactly two columns; got shape {pairs.shape}.")
        return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)

    def fit(self, X, y):
        users, items = self._columns(X)
        self.user_ids_, self.item_ids_ = np.unique(users), np.unique(items)
        self.n_items_ = len(self.item_ids_)
        return self

    def predict(self, X):
        return self._columns(X)[1].astype(float)

    def recommend(self, users, n=10, exclude_seen=True):
        best = self.item_ids_[::-1][:n]
        return np.tile(best, (len(users), 1)), np.tile(np.arange(len(best), 0, -1.0), (len(users), 1))


def wide_ratings(n_users=6, n_items=8, seed=0):
    """A DataFrame with the ids in the middle of other columns, and its ratings."""
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.7)
    frame = pd.DataFrame({"age": rng.integers(18, 80, len(users)), "user": users, "item": items,
                          "note": ["x"] * len(users)})
    return frame, rng.integers(1, 6, len(users)).astype(float)


def select_ids(frame):
    return frame[["user", "item"]]


ID_SELECTORS = {
    "column transformer": lambda: ColumnTransformer(
        [("ids", "passthrough", ["user", "item"])], remainder="drop"
    ),
    "function transformer": lambda: FunctionTransformer(select_ids),
}


@pytest.mark.parametrize("selector", ID_SELECTORS)
@pytest.mark.parametrize("protocol", ["heldout", "catalog"])
@pytest.mark.parametrize("metric", ["ndcg", "recall"])
def test_scorers_score_the_last_step_of_a_pipeline_on_the_transformed_pairs(
    selector, protocol, metric
):
    frame, y = wide_ratings()
    pipeline = Pipeline([("ids", ID_SELECTORS[selector]()), ("model", ItemOrder())]).fit(frame, y)
    pairs = frame[["user", "item"]].to_numpy()
    scorer = ranking_scorer(metric, k=3, protocol=protocol)
    # the wide frame cannot be scored directly: the final step needs the selected columns
    with pytest.raises(ValueError, match="two columns"):
        scorer(pipeline[-1], frame, y)
    expected = scorer(pipeline[-1], pairs, y)
    assert scorer(pipeline, frame, y) == pytest.approx(expected)
    if protocol == "heldout":
        assert expected == pytest.approx(
            RANKING_METRICS[metric](pairs[:, 0], y, pairs[:, 1].astype(float), k=3)
        )
    else:
        assert catalog_ranking_score(pipeline, frame, y, metric, k=3) == pytest.approx(expected)


def test_scorers_unwrap_nested_pipelines_and_passthrough_steps():
    frame, y = wide_ratings(seed=1)
    pairs = frame[["user", "item"]].to_numpy()
    inner = Pipeline([("nothing", "passthrough"), ("model", ItemOrder())])
    nested = Pipeline([("ids", FunctionTransformer(select_ids)), ("inner", inner)]).fit(frame, y)
    only_model = make_pipeline(ItemOrder()).fit(pairs, y)
    for protocol in ("heldout", "catalog"):
        scorer = ranking_scorer("ndcg", k=3, protocol=protocol)
        expected = scorer(nested[-1][-1], pairs, y)
        assert scorer(nested, frame, y) == pytest.approx(expected)
        assert scorer(only_model, pairs, y) == pytest.approx(expected)


def test_scorers_reject_a_pipeline_without_a_final_estimator():
    frame, y = wide_ratings()
    pipeline = Pipeline([("ids", FunctionTransformer(select_ids)), ("model", "passthrough")])
    pipeline.fit(frame, y)
    with pytest.raises(ValueError, match=r"last step of the pipeline \('model'\) is 'passthrough'"):
        ranking_scorer("ndcg", k=3)(pipeline, frame, y)
    with pytest.raises(TypeError, match="FunctionTransformer has none"):
        ranking_scorer("ndcg", k=3, protocol="catalog")(
            make_pipeline(FunctionTransformer(select_ids)).fit(frame, y), frame, y
        )


# ---------------------------------------------------------------- unknown ids


class Vocabularies:
    """A fitted estimator's vocabularies only: users 1, 2 and items 10, 20."""

    user_ids_ = np.array([1, 2])
    item_ids_ = np.array([10, 20])


def test_check_known_ids_returns_the_share_and_warns_above_one_half():
    known, unknown_user, unknown_item = [1, 10], [3, 10], [2, 30]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownIdsWarning)
        assert check_known_ids(Vocabularies(), [known, known]) == 0.0
        assert check_known_ids(Vocabularies(), [known, unknown_user]) == 0.5
        assert check_known_ids(Vocabularies(), np.empty((0, 2), dtype=int)) == 0.0
    with pytest.warns(UnknownIdsWarning) as record:
        share = check_known_ids(Vocabularies(), [known, unknown_user, unknown_item, [4, 40]])
    assert share == 0.75
    message = str(record[0].message)
    assert "75% of the pairs scored (3 of 4)" in message
    assert "2 an unknown user, 2 an unknown item" in message
    assert "skcrossvae.model_selection.RatingKFold" in message
    assert "KFold(shuffle=True)" in message
    assert issubclass(UnknownIdsWarning, UserWarning)


def test_check_known_ids_compares_ids_as_the_estimators_normalise_them():
    class StringItems:
        user_ids_ = np.array([1, 2])
        item_ids_ = np.array(["a", "b"])

    frame = pd.DataFrame({"user": [1, 2, 2], "item": ["a", "b", "c"]})
    assert check_known_ids(StringItems(), frame) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="item ids were strings at fit time but are numbers now"):
        check_known_ids(StringItems(), [[1, 1], [2, 2]])
    with pytest.raises(ValueError, match="exactly two columns"):
        check_known_ids(StringItems(), np.zeros((2, 3)))


def test_check_known_ids_skips_estimators_without_vocabularies_and_unwraps_pipelines():
    assert check_known_ids(ItemOrder.__new__(ItemOrder), [[1, 2]]) is None
    frame, y = wide_ratings()
    pipeline = make_pipeline(FunctionTransformer(select_ids), ItemOrder()).fit(frame, y)
    assert check_known_ids(pipeline, frame) == 0.0
    shifted = frame.assign(user=frame["user"] + 100)
    with pytest.warns(UnknownIdsWarning, match="100% of the pairs scored"):
        assert check_known_ids(pipeline, shifted) == 1.0


@pytest.mark.parametrize("protocol", ["heldout", "catalog"])
def test_scorers_warn_when_most_pairs_have_unknown_ids(protocol):
    frame, y = wide_ratings(n_users=8)
    pairs = frame[["user", "item"]].to_numpy()
    first_users = pairs[:, 0] < 2
    model = ItemOrder().fit(pairs[first_users], y[first_users])
    scorer = ranking_scorer("ndcg", k=3, protocol=protocol)
    with pytest.warns(UnknownIdsWarning, match="an unknown user"):
        quiet(scorer, model, pairs[~first_users], y[~first_users])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownIdsWarning)
        quiet(scorer, model, pairs[first_users], y[first_users])
    with pytest.warns(UnknownIdsWarning):
        quiet(catalog_ranking_score, model, pairs[~first_users], y[~first_users], k=3)
