"""One behaviour suite run over every estimator of the package (new ones are found automatically).

It covers, on (user, item) pairs, what scikit-learn's common checks cannot: prediction, top-N
recommendation, the unknown-id policy, persistence, seeds, order invariance and bad input.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import skcrossvae
from _estimators import all_estimators, fast_instance

ESTIMATORS = all_estimators(include_baselines=False)


@pytest.fixture(scope="module")
def toy_ratings():
    rng = np.random.RandomState(0)
    observed = rng.rand(25, 18) < 0.45
    observed[np.arange(25), rng.randint(18, size=25)] = True
    observed[rng.randint(25, size=18), np.arange(18)] = True
    users, items = np.nonzero(observed)
    X = np.column_stack([users * 10 + 1, items + 100])  # raw ids differ from codes
    y = rng.randint(1, 6, size=len(users)).astype(float)
    return X, y


def _fit(cls, X, y, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fast_instance(cls, **overrides).fit(X, y)


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda cls: cls.__name__)
def fitted(request, toy_ratings):
    X, y = toy_ratings
    return _fit(request.param, X, y)


def test_predict_is_finite_and_within_the_rating_range(fitted, toy_ratings):
    X, y = toy_ratings
    predictions = fitted.predict(X)
    assert predictions.shape == (len(X),)
    assert np.isfinite(predictions).all()
    assert predictions.min() >= y.min() - 1e-9 and predictions.max() <= y.max() + 1e-9


def test_fitted_attributes(fitted, toy_ratings):
    X, _ = toy_ratings
    assert fitted.n_users_ == len(np.unique(X[:, 0])) and fitted.n_items_ == len(np.unique(X[:, 1]))
    assert np.array_equal(fitted.user_ids_, np.unique(X[:, 0]))
    assert fitted.n_features_in_ == 2
    assert 1 <= fitted.n_iter_ and len(fitted.loss_curve_) == fitted.n_iter_


def test_recommend_returns_unseen_items_best_first(fitted, toy_ratings):
    X, _ = toy_ratings
    users = np.unique(X[:, 0])[:4]
    item_ids, scores = fitted.recommend(users, n=3)
    assert item_ids.shape == scores.shape == (4, 3)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for user, row in zip(users, item_ids):
        finite = np.isfinite(scores[users.tolist().index(user)])
        rated = set(X[X[:, 0] == user, 1])
        assert not rated & set(row[finite])
    with_seen, _ = fitted.recommend(users, n=3, exclude_seen=False)
    assert with_seen.shape == (4, 3)


def test_recommend_scores_match_predict(fitted, toy_ratings):
    X, y = toy_ratings
    user = X[0, 0]
    item_ids, scores = fitted.recommend([user], n=5, exclude_seen=False)
    pairs = np.column_stack([np.repeat(user, 5), item_ids[0]])
    np.testing.assert_allclose(
        fitted.predict(pairs), np.clip(scores[0], y.min(), y.max()), rtol=1e-6, atol=1e-6
    )


def test_recommend_rejects_bad_n(fitted, toy_ratings):
    with pytest.raises(ValueError, match="n must be an integer"):
        fitted.recommend([toy_ratings[0][0, 0]], n=0)
    with pytest.raises(ValueError, match="n must be an integer"):
        fitted.recommend([toy_ratings[0][0, 0]], n=fitted.n_items_ + 1)


def test_unknown_ids_mean_policy_uses_fallback(fitted, toy_ratings):
    X, _ = toy_ratings
    known_item = X[0, 1]
    unknown = np.array([[-5, known_item], [-5, -7]])
    predictions = fitted.predict(unknown)
    item_code = np.searchsorted(fitted.item_ids_, known_item)
    assert predictions[0] == pytest.approx(fitted.global_mean_ + fitted.item_fallback_[item_code])
    assert predictions[1] == pytest.approx(fitted.global_mean_)
    item_ids, _ = fitted.recommend([-5], n=2)
    assert item_ids.shape == (1, 2)


def test_unknown_ids_error_policy_names_them(fitted, toy_ratings):
    X, _ = toy_ratings
    strict = clone(fitted).set_params(handle_unknown="error")
    strict = _fit(type(fitted), X, toy_ratings[1], handle_unknown="error")
    with pytest.raises(ValueError, match=r"unknown user id\(s\) \[-5\]"):
        strict.predict(np.array([[-5, X[0, 1]]]))
    with pytest.raises(ValueError, match=r"unknown item id\(s\) \[-7\]"):
        strict.predict(np.array([[X[0, 0], -7]]))


def test_pickle_round_trip_keeps_predictions(fitted, toy_ratings):
    X, _ = toy_ratings
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))


def test_save_load_round_trip_keeps_predictions(fitted, toy_ratings, tmp_path):
    X, _ = toy_ratings
    path = tmp_path / "model.skcv"
    fitted.save(path)
    restored = skcrossvae.load(path)
    assert type(restored) is type(fitted)
    assert restored.get_params() == fitted.get_params()
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.recommend(X[:3, 0], n=2)[0], fitted.recommend(X[:3, 0], n=2)[0])


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_same_seed_same_predictions_and_row_order_does_not_matter(cls, toy_ratings):
    X, y = toy_ratings
    first = _fit(cls, X, y).predict(X)
    again = _fit(cls, X, y).predict(X)
    np.testing.assert_array_equal(first, again)
    order = np.random.RandomState(1).permutation(len(y))
    shuffled = _fit(cls, X[order], y[order]).predict(X)
    np.testing.assert_array_equal(first, shuffled)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_string_ids_and_dataframe_input(cls, toy_ratings):
    pd = pytest.importorskip("pandas")
    X, y = toy_ratings
    frame = pd.DataFrame({"user": [f"u{u}" for u in X[:, 0]], "item": X[:, 1]})
    model = _fit(cls, frame, y)
    assert list(model.feature_names_in_) == ["user", "item"]
    assert np.isfinite(model.predict(frame.iloc[:5])).all()
    item_ids, _ = model.recommend(["u1"], n=2)
    assert item_ids.dtype.kind == "i"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_inputs_are_not_modified(cls, toy_ratings):
    X, y = toy_ratings
    X_copy, y_copy = X.copy(), y.copy()
    model = _fit(cls, X, y)
    model.predict(X)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


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
    ("mixed id types", lambda X, y: (np.column_stack([np.array(["a"] + list(X[1:, 0]), dtype=object), X[:, 1]]), y), "mix types"),
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda case: case[0])
def test_bad_input_gets_a_clear_error(cls, case, toy_ratings):
    _, make_bad, message = case
    X_bad, y_bad = make_bad(*toy_ratings)
    with pytest.raises(ValueError, match=message):
        fast_instance(cls).fit(X_bad, y_bad)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_predict_rejects_ids_of_another_kind(cls, toy_ratings):
    X, y = toy_ratings
    model = _fit(cls, X, y)
    with pytest.raises(ValueError, match="user ids were numbers at fit time but are strings now"):
        model.predict(np.array([["a", 100]], dtype=object))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_cuda_request_fails_loudly_without_cuda(cls, toy_ratings):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if "device" not in cls().get_params():
        pytest.skip("estimator has no device")
    with pytest.raises(ValueError, match="CUDA is not available"):
        fast_instance(cls, device="cuda").fit(*toy_ratings)
