"""Large searches on a real distributed engine: GridSearchCV through joblib's Dask backend."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from skcrossvae import CrossFeedbackVAERegressor

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_gridsearch_runs_on_a_dask_cluster():
    import joblib

    rng = np.random.RandomState(0)
    users, items = np.nonzero(rng.rand(30, 20) < 0.5)
    X, y = np.column_stack([users, items]), rng.randint(1, 6, len(users)).astype(float)
    estimator = CrossFeedbackVAERegressor(max_iter=2, user_batch_size=10, item_batch_size=10,
                                          random_state=0, device="cpu")
    search = GridSearchCV(estimator, {"n_components": [2, 3]}, cv=KFold(2, shuffle=True, random_state=0),
                          scoring="neg_root_mean_squared_error", n_jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"), warnings.catch_warnings(), \
                distributed.get_task_stream(client) as task_stream:
            warnings.simplefilter("ignore")
            search.fit(X, y)
    assert len(task_stream.data) >= 4  # the 2 candidates x 2 folds ran as Dask tasks
    assert len(search.cv_results_["params"]) == 2
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert np.isfinite(search.best_estimator_.predict(X)).all()
