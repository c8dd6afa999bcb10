"""What the experiment commands share: splits, the fit-and-score loop over configurations and
seeds (joblib tasks), mean ± std summaries, the printed tables and the JSON output."""

import inspect
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning

from .. import baselines
from .._crossvae import CrossFeedbackVAERegressor
from ..datasets import load_movielens
from ..metrics import ndcg_at_k, rmse

#: Per-run scores that the tables summarise as mean ± std over seeds.
SCORE_KEYS = ("rmse", "ndcg20", "fit_seconds", "n_iter")


@dataclass(frozen=True)
class Split:
    """A train / test split of a rating data set.

    Parameters
    ----------
    name : str
        Name shown in tables and written to the JSON files.
    X_train, X_test : ndarray of shape (n_ratings, 2)
        (user id, item id) pairs.
    y_train, y_test : ndarray of shape (n_ratings,)
        Ratings.
    """

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def movielens_split(data_home=None, split="u1"):
    """MovieLens-100K's official split ``split`` (``u1.base`` / ``u1.test`` for ``'u1'``).

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``ml-100k/`` (``None``: ``$SKCROSSVAE_DATA``); nothing is downloaded.
    split : {'u1', 'u2', 'u3', 'u4', 'u5'}, default='u1'
        Which official split.

    Returns
    -------
    Split
    """
    X_train, X_test, y_train, y_test = load_movielens(
        "100k", data_home=data_home, split=split, return_X_y=True, download_if_missing=False
    )
    return Split(f"ml-100k {split}", X_train, X_test, y_train, y_test)


def package_estimators():
    """The main estimator followed by every public baseline class.

    Returns
    -------
    list of type
    """
    found = [getattr(baselines, name) for name in baselines.__all__]
    return [CrossFeedbackVAERegressor] + [cls for cls in found if inspect.isclass(cls)]


def seeded(cls, params=None):
    """A factory ``seed -> cls(**params, random_state=seed)`` for :func:`score_configurations`."""
    params = dict(params or {})
    return lambda seed: cls(**params, random_state=seed)


def fit_and_score(estimator, split):
    """Fit ``estimator`` on the training part of ``split`` and score its test part.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator of the package; it is fitted in place, so the caller can read
        its fitted attributes afterwards.
    split : Split

    Returns
    -------
    dict
        ``rmse`` and ``ndcg20`` (NDCG@20 over each user's held-out items) on the test part,
        ``fit_seconds``, ``n_iter`` and ``best_iteration`` (None for estimators without one).
    """
    started = time.perf_counter()
    with warnings.catch_warnings():
        # Fixed iteration budgets (convergence curves, quick settings) end at max_iter on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(split.X_train, split.y_train)
    seconds = time.perf_counter() - started
    predictions = estimator.predict(split.X_test)
    best = getattr(estimator, "best_iteration_", None)
    return dict(
        rmse=rmse(split.y_test, predictions),
        ndcg20=ndcg_at_k(split.X_test[:, 0], split.y_test, predictions, k=20),
        fit_seconds=seconds,
        n_iter=int(estimator.n_iter_),
        best_iteration=None if best is None else int(best),
    )


def report_progress(label, split, run):
    """Write one finished run to stderr, keeping stdout for the table."""
    print(
        f"[{label}] {split.name}, seed {run['seed']}: test RMSE {run['rmse']:.4f}, "
        f"NDCG@20 {run['ndcg20']:.4f}, {run['n_iter']} iterations, {run['fit_seconds']:.1f} s",
        file=sys.stderr, flush=True,
    )


def _fit_task(job, make_estimator, data, seed, record):
    """One fit of :func:`score_configurations`, run in a joblib worker (or in-process)."""
    estimator = make_estimator(seed)
    run = dict(seed=seed, **fit_and_score(estimator, data))
    if record is not None:
        run.update(record(estimator))
    return job, run


def score_configurations(configurations, seeds, n_jobs=None, progress=report_progress):
    """Fit and score several configurations once per seed, ``n_jobs`` fits at a time.

    Every (configuration, seed) fit is one joblib task, so a long experiment keeps every core
    busy, and joblib's Dask backend (``joblib.parallel_config(backend='dask')``) spreads it
    over a cluster. The runs do not depend on the order the fits finish in; their scores
    depend on ``n_jobs`` only through torch's thread count, which joblib's default backend
    sets to (number of CPUs) // ``n_jobs`` in each worker: sums taken in another order move
    the last digits (ML-100K u1, seed 0: test RMSE 0.8970 with one thread, 0.8973 with two).

    Parameters
    ----------
    configurations : sequence of (label, make_estimator, split, record)
        ``label`` names the configuration in the progress lines; ``make_estimator(seed)``
        returns its unfitted estimator; ``split`` is a :class:`Split` or ``split(seed)``
        returns one (random splits differ per seed; it is called here, before any fit);
        ``record(fitted_estimator)``, or None, returns a dict of further values to keep.
    seeds : sequence of int
    n_jobs : int, default=None
        Fits run at the same time (joblib's meaning: None is 1 unless a
        ``joblib.parallel_config`` says otherwise, -1 is one per CPU).
    progress : callable, default=report_progress
        Called as ``progress(label, split, run)`` as each fit finishes.

    Returns
    -------
    list of list of dict
        Per configuration, one run per seed in the order of ``seeds``: ``seed``, the scores
        of :func:`fit_and_score` and what ``record`` returned.
    """
    jobs = [(index, position, split(seed) if callable(split) else split)
            for index, (_, _, split, _) in enumerate(configurations)
            for position, seed in enumerate(seeds)]
    tasks = (delayed(_fit_task)(job, configurations[index][1], data, seeds[position],
                                configurations[index][3])
             for job, (index, position, data) in enumerate(jobs))
    runs = [[None] * len(seeds) for _ in configurations]
    for job, run in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks):
        index, position, data = jobs[job]
        runs[index][position] = run
        progress(configurations[index][0], data, run)
    return runs


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value) of ``values``.

    Returns
    -------
    dict
        ``mean`` and ``std``.
    """
    values = np.asarray(values, dtype=float)
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return dict(mean=float(values.mean()), std=std)


def summarise(runs, keys=SCORE_KEYS):
    """Mean ± std over the runs of each score in ``keys``.

    Returns
    -------
    dict
        ``{key: {'mean': ..., 'std': ...}}``.
    """
    return {key: mean_std([run[key] for run in runs]) for key in keys}


def format_mean_std(summary, digits=4):
    """``'mean ± std'`` with ``digits`` decimals; ``'—'`` for a missing summary."""
    if summary is None:
        return "—"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


class Table:
    """A fixed-width text table printed one row at a time, each row flushed at once.

    Parameters
    ----------
    columns : sequence of (str, int)
        Header and width of each column; the first is left-aligned, the others right-aligned.
    """

    def __init__(self, columns):
        self.widths = [width for _, width in columns]
        self.row(*(header for header, _ in columns))

    def row(self, *cells, note=""):
        """Print one row of cells (strings), then ``note`` if any."""
        first, *others = cells
        text = f"{first:<{self.widths[0]}}" + "".join(
            f"{cell:>{width}}" for cell, width in zip(others, self.widths[1:])
        )
        print(f"{text}  {note}".rstrip(), flush=True)


def _jsonable(value):
    """``value`` with NaN and infinities as None (strict JSON) and numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, payload):
    """Write ``payload`` with the time of measurement to ``path`` as strict JSON."""
    document = dict(measured=time.strftime("%Y-%m-%d %H:%M"), **payload)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(_jsonable(document), handle, indent=2, allow_nan=False)
        handle.write("\n")
