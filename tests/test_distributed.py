"""Large searches on a real distributed engine: GridSearchCV and the experiment commands' fits
through joblib's Dask backend."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.baselines import BayesianMFRegressor
from skcrossvae.experiments._common import Split, score_configurations

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def _toy_ratings():
    rng = np.random.RandomState(0)
    users, items = np.nonzero(rng.rand(30, 20) < 0.5)
    return np.column_stack([users, items]), rng.randint(1, 6, len(users)).astype(float)


@pytest.mark.slow
def test_gridsearch_runs_on_a_dask_cluster(dask_client):
    X, y = _toy_ratings()
    estimator = CrossFeedbackVAERegressor(max_iter=2, batch_size=10, final_iter=1, random_state=0,
                                          device="cpu")
    search = GridSearchCV(estimator, {"n_components": [2, 3]}, cv=KFold(2, shuffle=True, random_state=0),
                          scoring="neg_root_mean_squared_error", n_jobs=2)
    with joblib.parallel_backend("dask"), warnings.catch_warnings(), \
            distributed.get_task_stream(dask_client) as task_stream:
        warnings.simplefilter("ignore")
        search.fit(X, y)
    assert len(task_stream.data) >= 4  # the 2 candidates x 2 folds ran as Dask tasks
    assert len(search.cv_results_["params"]) == 2
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert np.isfinite(search.best_estimator_.predict(X)).all()


@pytest.mark.slow
def test_experiment_fits_run_on_a_dask_cluster(dask_client):
    X, y = _toy_ratings()
    split = Split("toy", X[::2], X[1::2], y[::2], y[1::2])

    def configuration(k):
        return (f"k={k}", lambda seed: BayesianMFRegressor(n_components=k, max_iter=2, burn_in=1,
                                                          random_state=seed),
                split, lambda model: dict(k=model.n_components))

    with joblib.parallel_config(backend="dask"), distributed.get_task_stream(dask_client) as task_stream:
        runs = score_configurations([configuration(2), configuration(3)], [0, 1], n_jobs=2,
                                    progress=lambda *args: None)
    assert len(task_stream.data) >= 4  # 2 configurations x 2 seeds
    for k, configuration_runs in zip((2, 3), runs):
        assert [(run["seed"], run["k"]) for run in configuration_runs] == [(0, k), (1, k)]
        assert all(np.isfinite(run["rmse"]) for run in configuration_runs)


@pytest.mark.slow
def test_paper_search_in_a_pipeline_with_ranking_scorers_on_a_dask_cluster(dask_client):
    """The paper's search as a user writes it: its model in a Pipeline, its grid, the ranking
    scorers and a PredefinedSplit, with the candidates fitted on the cluster."""
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from skcrossvae.datasets import make_ratings
    from skcrossvae.metrics import ranking_scorer
    from skcrossvae.model_selection import paper_param_grid, predefined_split, train_val_test_split

    pairs, ratings, _ = make_ratings(40, 30, n_ratings=500, discrete=True, random_state=0)
    frame = pd.DataFrame(dict(user=pairs[:, 0], item=pairs[:, 1], timestamp=np.arange(len(pairs))))
    X_train, X_val, _, y_train, y_val, _ = train_val_test_split(frame, ratings, random_state=0)
    X, y, cv = predefined_split(X_train, y_train, X_val, y_val)
    pipeline = Pipeline([
        ("ids", ColumnTransformer([("ids", "passthrough", ["user", "item"])])),
        ("model", CrossFeedbackVAERegressor(max_iter=5, learning_rate=1e-2, random_state=0)),
    ])
    grid = [dict(part, model__beta=part["model__beta"][:2])
            for part in paper_param_grid("small", prefix="model__")]
    scoring = {"rmse": "neg_root_mean_squared_error", "ndcg@20": ranking_scorer("ndcg", k=20),
               "recall@50": ranking_scorer("recall", k=50)}
    search = GridSearchCV(pipeline, grid, scoring=scoring, refit=False, cv=cv, n_jobs=2, error_score="raise")
    with joblib.parallel_config(backend="dask"), warnings.catch_warnings(), \
            distributed.get_task_stream(dask_client) as task_stream:
        warnings.simplefilter("ignore")
        # early stopping inside each candidate's fit watches the validation part too
        search.fit(X, y, model__X_val=X_val[["user", "item"]].to_numpy(), model__y_val=y_val)
    n_candidates = len(search.cv_results_["params"])
    assert n_candidates == 4 and len(task_stream.data) >= n_candidates
    assert {params["model__attention"] for params in search.cv_results_["params"]} == {"auto"}  # the paper's
    for name in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all()
