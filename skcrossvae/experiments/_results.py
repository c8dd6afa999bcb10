"""The results table: every estimator of the package with its defaults on ML-100K u1."""

import inspect
import json
import time
import warnings

import numpy as np

from .. import baselines
from .._crossvae import CrossFeedbackVAERegressor
from ..datasets import load_movielens
from ..metrics import ndcg_at_k, rmse


def package_estimators():
    """The main estimator followed by every public baseline class."""
    found = [getattr(baselines, name) for name in baselines.__all__]
    return [CrossFeedbackVAERegressor] + [cls for cls in found if inspect.isclass(cls)]


def run_results(data_home=None, seeds=(0,), only=None, output=None):
    """Fit each estimator with its defaults on ``u1.base``, score ``u1.test``, print and save."""
    X_train, X_test, y_train, y_test = load_movielens(
        "100k", data_home=data_home, split="u1", return_X_y=True, download_if_missing=False
    )
    rows = [dict(model="global mean", rmse=rmse(y_test, np.full(len(y_test), y_train.mean())),
                 ndcg20=float("nan"), fit_seconds=0.0, seed=None)]
    print(f"{'model':<28}{'seed':>5}{'test RMSE':>11}{'NDCG@20':>9}{'fit s':>8}", flush=True)
    for cls in package_estimators():
        if only and cls.__name__ not in only:
            continue
        for seed in seeds:
            model = cls(random_state=seed)
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X_train, y_train)
            seconds = time.perf_counter() - started
            predictions = model.predict(X_test)
            rows.append(dict(model=cls.__name__, seed=seed, rmse=rmse(y_test, predictions),
                             ndcg20=ndcg_at_k(X_test[:, 0], y_test, predictions, k=20),
                             fit_seconds=seconds, n_iter=model.n_iter_))
            row = rows[-1]
            print(f"{row['model']:<28}{seed:>5}{row['rmse']:>11.4f}{row['ndcg20']:>9.4f}{seconds:>8.1f}",
                  flush=True)
    if output:
        with open(output, "w") as handle:
            json.dump(dict(dataset="ml-100k u1", measured=time.strftime("%Y-%m-%d %H:%M"), rows=rows),
                      handle, indent=2)
    return rows
