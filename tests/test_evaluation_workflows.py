"""Evaluation workflows end to end with a real estimator: ranking scorers on Pipelines in
GridSearchCV, RatingKFold in cross_validate, the warning on unknown ids; and the evaluation
modules importing without torch."""

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skcrossvae.baselines import BiasedMFRegressor
from skcrossvae.datasets import make_ratings, ratings_from_frame
from skcrossvae.exceptions import UnknownIdsWarning
from skcrossvae.metrics import ranking_scorer
from skcrossvae.model_selection import RatingKFold

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 3.0  # make_ratings' ratings lie in [1, 5] around 3: about half are relevant

SCORING = {
    "rmse": "neg_root_mean_squared_error",
    "ndcg@5": ranking_scorer("ndcg", k=5, threshold=THRESHOLD),
    "catalog_recall@5": ranking_scorer("recall", k=5, threshold=THRESHOLD, protocol="catalog"),
}


def quick_model(**params):
    return BiasedMFRegressor(max_iter=3, random_state=0, device="cpu", **params)


@pytest.fixture(scope="module")
def ratings():
    """make_ratings' (X, y): sorted by user, as MovieLens' u1.base is."""
    X, y, _ = make_ratings(40, 30, n_ratings=700, random_state=0)
    assert (np.diff(X[:, 0]) >= 0).all()
    assert 0.2 < np.mean(y > THRESHOLD) < 0.8  # the threshold leaves relevant and irrelevant items
    return X, y


@pytest.fixture(scope="module")
def wide_frame(ratings):
    """The ratings in a DataFrame with more columns than the ids, user column not first."""
    X, y = ratings
    frame = pd.DataFrame({"age": 20 + X[:, 0] % 50, "user": X[:, 0], "item": X[:, 1],
                          "genre": np.where(X[:, 1] % 2, "drama", "comedy"), "rating": y})
    return frame


def select_ids(frame):
    return frame[["user", "item"]]


ID_SELECTORS = {
    "column transformer": lambda: ColumnTransformer(
        [("ids", "passthrough", ["user", "item"])], remainder="drop"
    ),
    "function transformer": lambda: FunctionTransformer(select_ids),
}


@pytest.mark.parametrize("selector", ID_SELECTORS)
def test_grid_search_over_a_pipeline_with_ranking_scorers_and_rating_kfold(wide_frame, selector):
    features = wide_frame.drop(columns="rating")
    y = wide_frame["rating"].to_numpy()
    # a held-out test part whose users and items all have training ratings
    train, test = next(RatingKFold(4, random_state=1, columns=["user", "item"]).split(features))
    pipeline = Pipeline([("ids", ID_SELECTORS[selector]()), ("model", quick_model())])
    search = GridSearchCV(
        pipeline,
        {"model__n_components": [2, 4]},
        scoring=SCORING,
        refit="ndcg@5",
        cv=RatingKFold(2, random_state=0, columns=["user", "item"]),
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=3 on purpose
        warnings.simplefilter("error", UnknownIdsWarning)
        search.fit(features.iloc[train], y[train])
        test_score = search.score(features.iloc[test], y[test])

    for name in SCORING:
        for key in ("mean_test_", "split0_test_", "split1_test_"):
            values = search.cv_results_[key + name]
            assert values.shape == (2,) and np.isfinite(values).all(), (key + name, values)
        if name != "rmse":
            assert ((0 <= search.cv_results_[f"mean_test_{name}"]) <= 1).all()
    assert search.best_index_ == np.argmax(search.cv_results_["mean_test_ndcg@5"])
    # search.score is the refit metric of the refitted pipeline on the test part
    best = search.best_estimator_
    pairs = best[:-1].transform(features.iloc[test])
    assert pairs.shape == (len(test), 2)
    assert np.isfinite(test_score) and 0 <= test_score <= 1
    assert test_score == pytest.approx(SCORING["ndcg@5"](best[-1], pairs, y[test]))


def test_grid_search_over_a_bare_estimator_with_ranking_scorers(ratings):
    X, y = ratings
    search = GridSearchCV(quick_model(), {"n_components": [2, 4]}, scoring=SCORING,
                          refit="ndcg@5", cv=RatingKFold(2, random_state=0), error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", UnknownIdsWarning)
        search.fit(X, y)
        assert np.isfinite(search.score(X[:50], y[:50]))
    for name in SCORING:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all(), name


def known_share(side):
    """A scorer: the share of the test pairs whose user (side 0) or item (side 1) was fitted."""
    vocabulary = "user_ids_" if side == 0 else "item_ids_"
    return lambda estimator, X, y: float(np.isin(X[:, side], getattr(estimator, vocabulary)).mean())


def test_cross_validate_with_rating_kfold_tests_no_unknown_user_on_a_user_sorted_table(ratings):
    X, y = ratings
    scoring = {"known users": known_share(0), "known items": known_share(1)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = cross_validate(BiasedMFRegressor(max_iter=2, device="cpu"), X, y,
                                 cv=RatingKFold(2, random_state=0), scoring=scoring)
        assert results["test_known users"].tolist() == [1.0, 1.0]
        assert results["test_known items"].tolist() == [1.0, 1.0]
        # an unshuffled KFold on the same table tests users the model never saw
        unshuffled = cross_validate(BiasedMFRegressor(max_iter=2, device="cpu"), X, y,
                                    cv=KFold(2), scoring=scoring)
    assert unshuffled["test_known users"].max() < 0.1


def test_scorers_warn_on_an_unshuffled_kfold_of_a_user_sorted_table_but_not_on_rating_kfold(
    ratings,
):
    X, y = ratings
    scoring = {"ndcg@5": SCORING["ndcg@5"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UnknownIdsWarning, match="RatingKFold") as record:
            cross_validate(quick_model(), X, y, cv=KFold(2), scoring=scoring)
        messages = [str(w.message) for w in record if w.category is UnknownIdsWarning]
        assert all("an unknown user" in message for message in messages)
        warnings.simplefilter("error", UnknownIdsWarning)
        results = cross_validate(quick_model(), X, y, cv=RatingKFold(2, random_state=0),
                                 scoring=scoring)
    assert np.isfinite(results["test_ndcg@5"]).all()


def test_ratings_from_frame_feeds_a_pipeline(wide_frame):
    X, y = ratings_from_frame(wide_frame)
    assert list(X.columns) == ["user", "item"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = quick_model().fit(X, y)
    assert np.isfinite(SCORING["catalog_recall@5"](model, X, y))


def test_evaluation_modules_import_without_torch():
    # the package's __init__ loads the torch estimators; the evaluation modules must not need
    # them, so they are imported here from a package object that skips that __init__
    code = textwrap.dedent(
        f"""
        import sys, types
        package = types.ModuleType("skcrossvae")
        package.__path__ = [{str(ROOT / "skcrossvae")!r}]
        sys.modules["skcrossvae"] = package
        import skcrossvae.exceptions, skcrossvae.metrics, skcrossvae.model_selection
        import skcrossvae.datasets
        from skcrossvae.metrics import check_known_ids, ranking_scorer
        from skcrossvae.model_selection import RatingKFold
        from skcrossvae.datasets import ratings_from_frame
        loaded = sorted(name for name in sys.modules if name.startswith("skcrossvae."))
        assert "torch" not in sys.modules, "torch was imported"
        assert not any(name.startswith(("skcrossvae._torch", "skcrossvae.baselines",
                                         "skcrossvae._crossvae")) for name in loaded), loaded
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
