"""The results table: every estimator of the package with its defaults on ML-100K u1."""

import numpy as np

from ..metrics import rmse
from ._common import Table, movielens_split, package_estimators, score_configurations, seeded, write_json


def run_results(data_home=None, seeds=(0,), only=None, output=None, split=None, n_jobs=None):
    """Fit each estimator with its defaults on ``u1.base``, score ``u1.test``, print and save.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``ml-100k/`` (``None``: ``$SKCROSSVAE_DATA``).
    seeds : sequence of int, default=(0,)
        ``random_state`` of the fits; one table row per estimator and seed.
    only : sequence of str, optional
        Class names of the estimators to run (default: all).
    output : str or path-like, optional
        Write the rows to this JSON file.
    split : Split, optional
        Data to use instead of ML-100K u1 (the tests pass a small synthetic split).
    n_jobs : int, default=None
        Fits run at the same time, over estimators and seeds alike (see
        :func:`~skcrossvae.experiments._common.score_configurations`); the table prints the
        runs as they finish, the JSON file in the order of the estimators.

    Returns
    -------
    list of dict
        The global-mean row, then one row per estimator and seed.
    """
    estimators = package_estimators()
    names = [cls.__name__ for cls in estimators]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; the package's estimators: {names}.")
    classes = [cls for cls in estimators if not only or cls.__name__ in only]
    split = split if split is not None else movielens_split(data_home, "u1")
    rows = [dict(model="global mean", seed=None, fit_seconds=0.0, ndcg20=float("nan"),
                 rmse=rmse(split.y_test, np.full(len(split.y_test), split.y_train.mean())))]
    table = Table([("model", 28), ("seed", 5), ("test RMSE", 11), ("NDCG@20", 9), ("fit s", 8)])

    def print_run(label, data, run):
        table.row(label, str(run["seed"]), f"{run['rmse']:.4f}", f"{run['ndcg20']:.4f}",
                  f"{run['fit_seconds']:.1f}")

    fitted = score_configurations([(cls.__name__, seeded(cls), split, None) for cls in classes],
                                  seeds, n_jobs, progress=print_run)
    for cls, runs in zip(classes, fitted):
        rows.extend(dict(model=cls.__name__, **run) for run in runs)
    if output:
        write_json(output, dict(dataset=split.name, rows=rows))
    return rows
