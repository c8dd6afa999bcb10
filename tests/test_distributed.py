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
