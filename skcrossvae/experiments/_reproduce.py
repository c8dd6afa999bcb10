"""The paper's experiments end to end (``python -m skcrossvae reproduce``).

Every model is tuned the way a user tunes one: a ``GridSearchCV`` over its grid with the
package's ranking scorers and a ``PredefinedSplit`` (fit on the training part, score the
validation part), run on joblib, so ``--n-jobs`` and joblib's Dask backend spread it. The
selected configuration is then fitted on the training part alone and scored on the test part.

Each finished unit of work (a search and its final fit, one sparsity fit, one convergence
curve) is appended to ``records.jsonl`` in the output folder at once; a rerun skips what is
recorded there, so a long budget can be completed over several runs. The report
(:mod:`._report`) is written from the records at the end of every run.
"""

import bisect
import dataclasses
import hashlib
import json
import sys
import time
import warnings
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid
from threadpoolctl import threadpool_limits

from .. import baselines
from .._crossvae import PAPER_PARAMS, CrossFeedbackVAERegressor, _sparse_sides
from .._data import RatingTable
from ..datasets import (
    DataNotFoundError,
    load_amazon,
    load_ciao,
    load_ciaodvd,
    load_epinions,
    load_filmtrust,
    load_movielens,
    make_ratings,
)
from ..exceptions import DivergenceError, UnknownIdsWarning
from ..metrics import ndcg_at_k, ranking_scorer, recall_at_k, rmse
from ..model_selection import paper_param_grid, predefined_split, sparsity_split, train_val_test_split
from ._common import _jsonable
from ._convergence import VARIANTS

#: ``measured`` times of the records (a run's wall time is the span of its records).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: The scores of every test evaluation; the search selects on the validation RMSE.
METRICS = ("rmse", "ndcg20", "ndcg50", "recall20", "recall50")

#: GridSearchCV's scorers for :data:`METRICS` (greater is better, as scikit-learn wants).
SCORING = {
    "rmse": "neg_root_mean_squared_error",
    "ndcg20": ranking_scorer("ndcg", k=20),
    "ndcg50": ranking_scorer("ndcg", k=50),
    "recall20": ranking_scorer("recall", k=20),
    "recall50": ranking_scorer("recall", k=50),
}

#: The name of our model in the tables (the paper's model, tuned with the paper's grid).
OURS = "CrossVAE"

# The grids the paper does not give (Bayesian MF and biased MF are not among its baselines).
_BPMF_GRID = [{"n_components": [5, 10, 25, 50]}]
_BIASED_MF_GRID = [{"n_components": [5, 10, 25, 50, 100], "alpha": [0.01, 0.1, 1.0]}]


def _paper_model():
    return CrossFeedbackVAERegressor.paper()


_PAPER_NAMES = {"ncf": "NCF", "cnn-cf": "CNN-CF", "u-rec": "U-Rec", "i-rec": "I-Rec", "dae-cf": "DAE-CF",
                "vae-cf": "VAE-CF"}

#: The paper's names of its six baselines, as Table 3 lists them.
PAPER_BASELINE_NAMES = tuple(_PAPER_NAMES.values())

#: Table 3's models: name -> (unfitted estimator factory, its param_grid).
MODELS = {
    OURS: (_paper_model, paper_param_grid("full")),
    "CrossVAE (package defaults)": (CrossFeedbackVAERegressor, [{}]),
    **{_PAPER_NAMES[name]: (cls, baselines.paper_baseline_grid(name))
       for name, cls in baselines.PAPER_BASELINES.items()},
    "BPMF": (baselines.BayesianMFRegressor, _BPMF_GRID),
    "BiasedMF": (baselines.BiasedMFRegressor, _BIASED_MF_GRID),
}

#: Table 4's rows: (label, parameters set on the base model). The first row is the full model.
ABLATION = [
    ("full model", dict(attention="auto")),
    ("no attention", dict(attention=None)),
    ("no cross-feedback", dict(inputs="ratings", attention=None)),
    ("no data input", dict(inputs="embeddings", attention="auto")),
    ("local attention", dict(attention="local")),
    ("global attention", dict(attention="global")),
    ("alternating schedule", dict(attention="auto", schedule="alternating")),
    ("Eq. 9 as printed", dict(attention="auto", attention_norm="eq9")),
]

#: Table 4's bases: the paper's model and the package's defaults.
ABLATION_BASES = {"paper's model": PAPER_PARAMS, "package defaults": {}}


@dataclass(frozen=True)
class Budget:
    """How much of the paper one run of ``reproduce`` does.

    Attributes
    ----------
    name : str
    datasets : tuple of str
        Data sets of Table 3 and Fig. 2 (:data:`DATASETS` keys), those present are run.
    seeds : tuple of int
        Seeds of the splits and of the fits.
    candidates : int or None
        Candidates per search: a seeded, uniform sample of the model's grid; None: the whole grid.
    fixed_params : dict
        Estimator class name -> parameters set on every candidate (toy iteration counts).
    densities : tuple of float
        Training shares of Fig. 3.
    ablation_datasets : int
        Table 4 runs on the first this many data sets.
    iterations : int
        Iterations of Fig. 4's curves (on the first data set).
    max_components : int or None
        Search only the candidates with at most this ``n_components``.
    """

    name: str
    datasets: tuple
    seeds: tuple
    candidates: int | None
    fixed_params: dict
    densities: tuple
    ablation_datasets: int
    iterations: int
    max_components: int | None = None


_TOY_ITERATIONS = dict(max_iter=2, n_iter_no_change=2)
_TOY_PARAMS = {
    # the paper's decoder starts from predicting 0: a larger step reaches the rating scale in 5 iterations
    "CrossFeedbackVAERegressor": dict(max_iter=5, n_iter_no_change=5, learning_rate=1e-2),
    "BayesianMFRegressor": dict(max_iter=3, burn_in=1),
    **{cls.__name__: dict(_TOY_ITERATIONS) for cls in (
        baselines.NCFRegressor, baselines.ConvNCFRegressor, baselines.AutoRecRegressor,
        baselines.MultDAERegressor, baselines.MultVAERegressor, baselines.BiasedMFRegressor)},
}

_PAPER_DENSITIES = (0.01, 0.02, 0.03, 0.05, 0.10)

#: The budgets of ``--budget``.
BUDGETS = {
    "smoke": Budget("smoke", ("synthetic-a", "synthetic-b", "synthetic-c"), (0, 1), 2, _TOY_PARAMS,
                    (0.3, 0.5), 1, 3, max_components=16),
    # standard caps the embeddings at the largest of our model's grid (50): CNN-CF's K x K maps
    # cost K^2 per rating, and one of its K=128 fits takes longer than the rest of a search
    "standard": Budget("standard", ("ml-100k", "filmtrust", "ciaodvd"), (0, 1, 2), 2, {},
                       _PAPER_DENSITIES, 1, 60, max_components=50),
    "full": Budget("full", ("ml-100k", "filmtrust", "ciaodvd", "ciao", "epinions", "ml-1m", "ml-10m",
                            "ml-20m", "amazon-pet", "amazon-kindle"), (0, 1, 2), None, {},
                   _PAPER_DENSITIES, 10, 100),
}


def _synthetic(n_users, n_items, n_ratings, seed):
    def load(data_home):
        X, y, _ = make_ratings(n_users, n_items, n_ratings=n_ratings, discrete=True, random_state=seed)
        return X, y
    return load


def _loader(function, *args, **kwargs):
    def load(data_home):
        return function(*args, data_home=data_home, return_X_y=True, download_if_missing=False, **kwargs)
    return load


#: Data sets by name: ``load(data_home) -> (X, y)``, raising DataNotFoundError when absent.
DATASETS = {
    "synthetic-a": _synthetic(60, 40, 900, 0),
    "synthetic-b": _synthetic(50, 60, 700, 1),
    "synthetic-c": _synthetic(80, 30, 800, 2),
    "ml-100k": _loader(load_movielens, "100k"),
    "filmtrust": _loader(load_filmtrust),
    "ciaodvd": _loader(load_ciaodvd),
    "ciao": _loader(load_ciao),
    "epinions": _loader(load_epinions),
    "ml-1m": _loader(load_movielens, "1m"),
    "ml-10m": _loader(load_movielens, "10m"),
    "ml-20m": _loader(load_movielens, "20m"),
    "amazon-pet": _loader(load_amazon, "pet"),
    "amazon-kindle": _loader(load_amazon, "kindle"),
}


def sample_grid(param_grid, n_candidates, random_state, max_components=None):
    """A seeded, uniform sample of ``n_candidates`` points of ``param_grid``, as a param_grid.

    Parameters
    ----------
    param_grid : dict or list of dict
        A ``GridSearchCV`` grid.
    n_candidates : int or None
        Points to keep; None (or at least the grid's size) keeps them all.
    random_state : int
    max_components : int, default=None
        Keep only the points whose ``n_components`` (if they set it) is at most this.

    Returns
    -------
    list of dict
        A grid of the kept points (one dict of one-element lists per point), in grid order.
    """
    grid = ParameterGrid(param_grid)
    if max_components is None and (n_candidates is None or n_candidates >= len(grid)):
        return list(param_grid) if isinstance(param_grid, list) else [param_grid]
    kept = [index for index in range(len(grid))
            if max_components is None or grid[index].get("n_components", 0) <= max_components]
    if n_candidates is not None and n_candidates < len(kept):
        kept = np.sort(np.random.RandomState(random_state).choice(kept, n_candidates, replace=False))
    return [{name: [value] for name, value in grid[int(index)].items()} for index in kept]


def test_scores(estimator, X_test, y_test):
    """:data:`METRICS` of a fitted estimator on a test part (ranking metrics per user, held out)."""
    predictions = estimator.predict(X_test)
    users = X_test[:, 0]
    return dict(
        rmse=rmse(y_test, predictions),
        ndcg20=ndcg_at_k(users, y_test, predictions, k=20),
        ndcg50=ndcg_at_k(users, y_test, predictions, k=50),
        recall20=recall_at_k(users, y_test, predictions, k=20),
        recall50=recall_at_k(users, y_test, predictions, k=50),
    )


def _early_stopping_data(estimator, split):
    """``fit`` parameters that make early stopping watch the split's validation part (none for
    an estimator without early stopping)."""
    return dict(X_val=split.X_val, y_val=split.y_val) if estimator.get_params().get("early_stopping") else {}


def _fit_and_test(estimator, split):
    """Fit on the training part (early stopping on the validation part) and score the test part:
    ``test`` and ``fit_seconds``, or ``error`` (a diverging configuration is a result, not a
    crash of the run)."""
    started = time.perf_counter()
    try:
        with _quiet():
            estimator.fit(split.X_train, split.y_train, **_early_stopping_data(estimator, split))
            scores = test_scores(estimator, split.X_test, split.y_test)
    except Exception as exc:
        return dict(error=f"{type(exc).__name__}: {exc}", fit_seconds=time.perf_counter() - started)
    return dict(test=scores, fit_seconds=time.perf_counter() - started)


def _quiet():
    """Silence what a search expects: toy iteration budgets and ids unseen in a random split."""
    stack = ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", UnknownIdsWarning)
    return stack


def _set_fixed(estimator, budget):
    return estimator.set_params(**budget.fixed_params.get(type(estimator).__name__, {}))


def failure_text(exc):
    """One line for a record: the exception's first line and, when scikit-learn summarises
    failed fits, the candidates' own error (the last line of its summary)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text + (f" Cause: {lines[-1]}" if len(lines) > 1 else "")


def search_and_test(estimator, param_grid, split, seed, budget, n_jobs):
    """Tune ``estimator`` on ``split``'s validation part, refit on its training part, test it.

    Returns
    -------
    dict
        ``best_params``, ``validation`` (the best candidate's validation scores),
        ``test`` (:data:`METRICS`), ``n_candidates``, ``n_failed``, ``search_seconds`` (wall),
        ``candidate_seconds`` (the candidates' fit and score seconds), ``fit_seconds`` (the
        final fit) and ``n_fits``; ``error`` instead of the test scores when every
        candidate failed.
    """
    X, y, cv = predefined_split(split.X_train, split.y_train, split.X_val, split.y_val)
    estimator = _set_fixed(clone(estimator).set_params(random_state=seed), budget)
    grid = sample_grid(param_grid, budget.candidates, seed, budget.max_components)
    search = GridSearchCV(estimator, grid, scoring=SCORING, refit=False, cv=cv, n_jobs=n_jobs,
                          error_score=np.nan)
    started = time.perf_counter()
    record = dict(n_candidates=len(ParameterGrid(grid)))
    try:
        with _quiet():
            # X_val passes through to every candidate's fit (its length is not that of X)
            search.fit(X, y, **_early_stopping_data(estimator, split))
    except Exception as exc:  # every candidate failed (scikit-learn raises), or a worker died
        return dict(record, search_seconds=time.perf_counter() - started, n_failed=record["n_candidates"],
                    n_fits=record["n_candidates"], error=failure_text(exc))
    record["search_seconds"] = time.perf_counter() - started
    # one thread per fit: the candidates' fit and score times are the search's CPU seconds
    record["candidate_seconds"] = float(np.nansum(search.cv_results_["mean_fit_time"])
                                        + np.nansum(search.cv_results_["mean_score_time"]))
    validation_rmse = -np.asarray(search.cv_results_["mean_test_rmse"], dtype=float)
    record["n_failed"] = int(np.isnan(validation_rmse).sum())
    record["n_fits"] = record["n_candidates"]
    if record["n_failed"] == record["n_candidates"]:
        return dict(record, error="every candidate failed to fit")
    best = int(np.nanargmin(validation_rmse))
    params = search.cv_results_["params"][best]
    record["best_params"] = {name: _plain(value) for name, value in params.items()}
    record["validation"] = {metric: abs(float(search.cv_results_[f"mean_test_{metric}"][best]))
                            for metric in METRICS}
    return dict(record, n_fits=record["n_fits"] + 1,
                **_fit_and_test(clone(estimator).set_params(**params), split))


def _plain(value):
    """JSON form of a parameter value (tuples as lists, numpy scalars as Python ones)."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value.item() if isinstance(value, np.generic) else value


def _params_from_json(params):
    """Inverse of :func:`_plain` for the package's parameters, whose sequences are tuples."""
    def tupled(value):
        return tuple(tupled(item) for item in value) if isinstance(value, list) else value
    return {name: tupled(value) for name, value in params.items()}


@dataclass(frozen=True)
class PaperSplit:
    """A training / validation / test split of one data set."""

    name: str
    X_train: np.ndarray
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray


def _paper_split(name, X, y, seed, density=None):
    X = np.asarray(X)
    parts = (train_val_test_split(X, y, random_state=seed) if density is None
             else sparsity_split(X, y, density, random_state=seed))
    return PaperSplit(name, *parts)


class _TestCurveRecorder(CrossFeedbackVAERegressor):
    """The model, scoring a test part after every training iteration of one fit (Fig. 4).

    It wraps the iteration the shared driver runs (:meth:`_run_iterations`'s ``iterate``), so
    the curve comes from one uninterrupted fit: same optimiser state, same batches.
    """

    def _run_iterations(self, trainer, train, valid, max_iter, iterate=None):
        step = iterate or trainer.train_one_iteration

        def step_and_score():
            loss = step()
            self._store_prediction_state(trainer, train)
            self.test_curve_.append(rmse(self._curve_y, self.predict(self._curve_X)))
            return loss

        return super()._run_iterations(trainer, train, valid, max_iter, step_and_score)


def convergence_curve(params, split, iterations):
    """Test RMSE after each of ``iterations`` training iterations of a model with ``params``,
    trained on the training part without early stopping (Fig. 4)."""
    # n_iter_no_change=iterations: the training-loss rule must not end a fixed budget early
    estimator = _TestCurveRecorder(**{**params, "early_stopping": False, "final_iter": 0,
                                      "max_iter": iterations, "n_iter_no_change": iterations})
    estimator.test_curve_, estimator._curve_X, estimator._curve_y = [], split.X_test, split.y_test
    try:
        with _quiet():
            estimator.fit(split.X_train, split.y_train)
    except DivergenceError:
        # the check judges the final model; the curve up to there is the measurement
        if len(estimator.test_curve_) < iterations:
            raise
    return estimator.test_curve_


class Records:
    """The ``records.jsonl`` of an output folder: what is done, appended one line per unit."""

    def __init__(self, folder, budget):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "records.jsonl"
        self.items = {}
        self.budget, self.definition = budget, _definition(budget)
        if not self.path.exists():
            return
        text = self.path.read_text()
        if text and not text.endswith("\n"):
            # an interrupted write left a partial last line: cut it, so the next record starts a
            # line of its own (the unit it belonged to reruns)
            self.path.write_text(text[:text.rfind("\n") + 1])
            print(f"{self.path}: incomplete last record skipped; that unit reruns", file=sys.stderr)
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{self.path}:{number} is not a record; choose another --output.") from None
            if record.get("budget") != budget.name:
                raise ValueError(
                    f"{self.path} holds records of the {record.get('budget')!r} budget; "
                    f"resume with --budget {record.get('budget')} or choose another --output "
                    f"for the {budget.name!r} budget."
                )
            if record.get("budget_definition") != self.definition:
                raise ValueError(
                    f"{self.path} holds records of another definition of the {budget.name!r} "
                    f"budget ({record.get('budget_definition')}; this version of the package "
                    f"defines {self.definition}); choose another --output."
                )
            self.items[record["key"]] = record

    def __contains__(self, key):
        return key in self.items

    def add(self, key, **record):
        record = dict(key=key, budget=self.budget.name, budget_definition=self.definition,
                      measured=time.strftime(TIME_FORMAT), **record)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(_jsonable(record), allow_nan=False) + "\n")
        self.items[key] = record
        return record

    def of_part(self, part):
        return [record for record in self.items.values() if record["part"] == part]


def unit_seconds(record):
    """Seconds of fitting in a recorded unit, one thread per fit (a failed search: its wall time)."""
    return record.get("candidate_seconds", record.get("search_seconds", 0)) + record.get("fit_seconds", 0)


def _recorded_at(record):
    return time.mktime(time.strptime(record["measured"], TIME_FORMAT))


def run_wall_seconds(records):
    """``(runs, seconds)``: the runs that recorded units and their wall time, each from its
    start to its last unit (time spent on a unit an interruption lost is not counted)."""
    starts = sorted(_recorded_at(record) for record in records.of_part("run"))
    last = {}
    for record in records.items.values():
        if record["part"] != "run" and starts:
            at = _recorded_at(record)
            start = starts[max(bisect.bisect_right(starts, at) - 1, 0)]  # the run it belongs to
            last[start] = max(last.get(start, start), at)
    return len(last), sum(end - start for start, end in last.items())


#: What the fits do beyond their grids, part of a budget's definition (recorded fits of
#: another protocol cannot mix with these).
_PROTOCOL = "early stopping watches the validation part (fit's X_val, y_val)"


def _definition(budget):
    """What a budget runs (its fields and a digest of the models, grids, ablation rows and
    variants), as recorded with each unit: records of another definition cannot mix."""
    experiments = repr([(name, getattr(factory, "__name__", ""), grid) for name, (factory, grid) in MODELS.items()]
                       + [ABLATION, ABLATION_BASES, VARIANTS, _PROTOCOL])
    return json.dumps(dict(dataclasses.asdict(budget), experiments=hashlib.sha256(experiments.encode()).hexdigest()[:16]),
                      sort_keys=True, default=str)


def _key(*parts):
    return "/".join(str(part) for part in parts)


def _training_ratings(X):
    """Ratings in the training part of the paper's split of ``X``."""
    return 0.7 * len(X)


def _pending_fits(budget, datasets, records):
    """``(model, data set, fits, training ratings per fit)`` of every unit not yet recorded."""
    pending = []
    for name, (X, _) in datasets.items():
        n_train = _training_ratings(X)
        for seed in budget.seeds:
            for model, (_, grid) in MODELS.items():
                if _key("table3", name, model, seed) not in records:
                    n = len(ParameterGrid(sample_grid(grid, budget.candidates, seed, budget.max_components)))
                    pending.append((model, name, n + 1, n_train))
            if list(datasets).index(name) < budget.ablation_datasets:
                n = len(ParameterGrid(sample_grid(paper_param_grid("full"), budget.candidates, seed,
                                                  budget.max_components)))
                pending += [(OURS, name, n + 1, n_train) for base in ABLATION_BASES for label, _ in ABLATION
                            if _key("ablation", name, base, label, seed) not in records]
            # Fig. 3 fits our model and the 3 baselines Table 3 selects (ours stands for their cost)
            searched = any(key.startswith(f"table3/{name}/") for key in records.items)
            for model in [OURS, *top_baselines(records, name)] if searched else [None] * 4:
                selected = model is None or "best_params" in records.items.get(
                    _key("table3", name, model, seed), {})
                pending += [(OURS, name, 1, density * len(X)) for density in budget.densities
                            if selected and _key("sparsity", name, model, seed, density) not in records]
    name, (X, _) = next(iter(datasets.items()))
    for seed in budget.seeds:
        # a convergence curve is ``iterations`` one-iteration fits: about iterations / 30 fits' time
        pending += [(OURS, name, budget.iterations / 30, _training_ratings(X)) for variant, _, _ in VARIANTS
                    if _key("convergence", name, variant, seed) not in records]
    return pending


def _calibrate(budget, models, X, y, seed=0, n_ratings=20_000):
    """Seconds per training rating of one fit of each model's first candidate on a sample, on
    one thread as a search's workers fit (a small sample overstates the per-rating cost: small
    data take more iterations)."""
    rng = np.random.RandomState(seed)
    sample = rng.choice(len(y), min(n_ratings, len(y)), replace=False)
    costs = {}
    for model in models:
        factory, grid = MODELS[model]
        params = ParameterGrid(sample_grid(grid, 1, seed, budget.max_components))[0]
        estimator = _set_fixed(factory().set_params(random_state=seed, **params), budget)
        started = time.perf_counter()
        try:
            with _quiet(), threadpool_limits(1):
                estimator.fit(X[sample], y[sample])
        except Exception:  # a failing candidate still took its time
            pass
        costs[model] = (time.perf_counter() - started) / len(sample)
    return costs


def _recorded_costs(records, datasets):
    """Seconds per training rating of each (model, data set)'s recorded final fits."""
    seconds = {}
    for record in records.of_part("table3"):
        if "test" in record and record["dataset"] in datasets:
            n_train = _training_ratings(datasets[record["dataset"]][0])
            seconds.setdefault((record["model"], record["dataset"]), []).append(record["fit_seconds"] / n_train)
    return {key: float(np.mean(values)) for key, values in seconds.items()}


def _estimate(budget, datasets, records, pending):
    """Single-process seconds of the ``pending`` fits: each model's recorded cost on the data
    set where there is one, else one timed fit per model on a sample of the first data set."""
    recorded = _recorded_costs(records, datasets)
    timed = {model for model, name, _, _ in pending if (model, name) not in recorded}
    costs = _calibrate(budget, timed, *next(iter(datasets.values()))) if timed else {}
    seconds = sum(fits * ratings * recorded.get((model, name), costs.get(model, 0.0))
                  for model, name, fits, ratings in pending)
    measured = sum(1 for model, name, _, _ in pending if (model, name) in recorded)
    return seconds, f"{measured} of {len(pending)} units costed from recorded fits, the others from one timed fit per model on a sample"


def _dask_backend(scheduler):
    """joblib's Dask backend on the cluster at ``scheduler`` (None: joblib's default)."""
    if scheduler is None:
        return nullcontext()
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("--scheduler needs dask.distributed: pip install skcrossvae[dask]") from None
    stack = ExitStack()
    stack.enter_context(Client(scheduler))
    stack.enter_context(joblib.parallel_config(backend="dask"))
    return stack


def _progress(message):
    print(message, file=sys.stderr, flush=True)


def run_reproduce(data_home=None, budget="smoke", output=None, n_jobs=None, scheduler=None, dry_run=False):
    """Run the paper's experiments under ``budget`` and write the report to ``output``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the data sets (``None``: ``$SKCROSSVAE_DATA``); those absent are skipped
        and listed in the report. The ``smoke`` budget uses synthetic data only.
    budget : {'smoke', 'standard', 'full'}, default='smoke'
        See :data:`BUDGETS`.
    output : str or path-like, default=None
        Folder of the records and the report (default: ``reproduce-<budget>``). A rerun with
        the same folder skips every unit already recorded.
    n_jobs : int, default=None
        Fits run at the same time (joblib's meaning): a search's candidates, and the fits of
        Fig. 3 and Fig. 4.
    scheduler : str, default=None
        Address of a ``dask.distributed`` scheduler: the fits run there through joblib's Dask
        backend.
    dry_run : bool, default=False
        Print the number of fits still to run and the time estimate, and stop there.

    Returns
    -------
    pathlib.Path or None
        The report's path (None for a dry run).
    """
    from ._report import check_plotting, write_report

    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}; got {budget!r}.")
    check_plotting()  # fail before hours of fitting, not after them
    budget = BUDGETS[budget]
    records = Records(output or f"reproduce-{budget.name}", budget)
    datasets, missing = {}, {}
    for name in budget.datasets:
        try:
            X, y = DATASETS[name](data_home)
        except DataNotFoundError as exc:
            missing[name] = str(exc).splitlines()[0]
            continue
        datasets[name] = (np.asarray(X), np.asarray(y, dtype=float))
    if not datasets:
        raise DataNotFoundError(f"none of the {budget.name} budget's data sets was found under "
                                f"{data_home or '$SKCROSSVAE_DATA'}: {', '.join(missing)}.")
    pending = _pending_fits(budget, datasets, records)
    n_fits = round(sum(fits for _, _, fits, _ in pending))
    seconds, basis = _estimate(budget, datasets, records, pending)
    print(f"budget {budget.name}: data sets {', '.join(datasets)}"
          + (f" (absent: {', '.join(missing)})" if missing else "")
          + f"; seeds {list(budget.seeds)}; {len(records.items) - len(records.of_part('run'))} units "
          f"already recorded in "
          f"{records.path}", flush=True)
    print(f"about {n_fits} fits to run, roughly {seconds / 60:.0f} minutes on one process ({basis})",
          flush=True)
    if dry_run:
        return None
    started = time.perf_counter()
    if pending:
        records.add(_key("run", time.strftime(TIME_FORMAT)), part="run", n_jobs=n_jobs, scheduler=scheduler)
    with _dask_backend(scheduler):
        _run_table3(budget, datasets, records, n_jobs)
        _run_ablation(budget, datasets, records, n_jobs)
        _run_sparsity(budget, datasets, records, n_jobs)
        _run_convergence(budget, datasets, records, n_jobs)
    path = write_report(records, budget, list(datasets), missing, seconds_this_run=time.perf_counter() - started)
    print(f"report written to {path}", flush=True)
    return path


def _run_table3(budget, datasets, records, n_jobs):
    for name, (X, y) in datasets.items():
        for seed in budget.seeds:
            split = _paper_split(name, X, y, seed)
            for model, (factory, grid) in MODELS.items():
                key = _key("table3", name, model, seed)
                if key in records:
                    continue
                record = records.add(key, part="table3", dataset=name, model=model, seed=seed,
                                     **search_and_test(factory(), grid, split, seed, budget, n_jobs))
                _report_unit(key, record)


def _run_ablation(budget, datasets, records, n_jobs):
    grid = paper_param_grid("full", preset=None)
    for name, (X, y) in list(datasets.items())[:budget.ablation_datasets]:
        for seed in budget.seeds:
            split = _paper_split(name, X, y, seed)
            for base, base_params in ABLATION_BASES.items():
                for label, overrides in ABLATION:
                    key = _key("ablation", name, base, label, seed)
                    if key in records:
                        continue
                    estimator = CrossFeedbackVAERegressor(**{**base_params, **overrides})
                    record = records.add(key, part="ablation", dataset=name, base=base, variant=label,
                                         seed=seed, rule_scope=rule_scope(split.X_train),
                                         **search_and_test(estimator, grid, split, seed, budget, n_jobs))
                    _report_unit(key, record)


def rule_scope(X_train):
    """The attention scope the paper's rule (``attention='auto'``) takes on ``X_train``: 'global'
    when users and items are both sparse, 'local' when neither is, 'mixed' otherwise."""
    (users, user_codes), (items, item_codes) = (np.unique(X_train[:, column], return_inverse=True)
                                                for column in (0, 1))
    sparse = set(_sparse_sides(RatingTable(user_codes, item_codes, np.ones(len(X_train)), len(users), len(items))))
    return "mixed" if len(sparse) == 2 else ("global" if sparse.pop() else "local")


def top_baselines(records, dataset, n=3):
    """The ``n`` baselines of lowest mean validation RMSE on ``dataset`` (Fig. 3's choice)."""
    scores = {}
    for record in records.of_part("table3"):
        if record["dataset"] == dataset and record["model"] not in (OURS, "CrossVAE (package defaults)") \
                and "validation" in record:
            scores.setdefault(record["model"], []).append(record["validation"]["rmse"])
    return sorted(scores, key=lambda model: np.mean(scores[model]))[:n]


def _run_sparsity(budget, datasets, records, n_jobs):
    units = []
    for name, (X, y) in datasets.items():
        models = [OURS] + top_baselines(records, name)
        for seed in budget.seeds:
            for density in budget.densities:
                split = None
                for model in models:
                    key = _key("sparsity", name, model, seed, density)
                    selected = records.items.get(_key("table3", name, model, seed), {})
                    if key in records or "best_params" not in selected:
                        continue
                    split = split or _paper_split(name, X, y, seed, density)
                    factory = MODELS[model][0]
                    estimator = _set_fixed(factory().set_params(
                        random_state=seed, **_params_from_json(selected["best_params"])), budget)
                    fields = dict(part="sparsity", dataset=name, model=model, seed=seed, density=density, n_fits=1)
                    units.append((key, fields, _fit_and_test, (estimator, split)))
    _run_units(units, records, n_jobs)


def _convergence_unit(params, split, iterations):
    started = time.perf_counter()
    try:
        outcome = dict(curve=convergence_curve(params, split, iterations))
    except Exception as exc:
        outcome = dict(error=f"{type(exc).__name__}: {exc}")
    return dict(outcome, fit_seconds=time.perf_counter() - started)


def _run_convergence(budget, datasets, records, n_jobs):
    name, (X, y) = next(iter(datasets.items()))
    units = []
    for seed in budget.seeds:
        split = _paper_split(name, X, y, seed)
        for variant, description, overrides in VARIANTS:
            key = _key("convergence", name, variant, seed)
            if key in records:
                continue
            params = {**PAPER_PARAMS, **overrides, **budget.fixed_params.get(CrossFeedbackVAERegressor.__name__, {}),
                      "random_state": seed}
            fields = dict(part="convergence", dataset=name, variant=variant, description=description, seed=seed,
                          n_fits=budget.iterations)
            units.append((key, fields, _convergence_unit, (params, split, budget.iterations)))
    _run_units(units, records, n_jobs)


def _keyed(key, function, args):
    return key, function(*args)


def _run_units(units, records, n_jobs):
    """Run independent units ``(key, record fields, function, args)`` on joblib (``n_jobs``, or
    the Dask backend when one is configured), recording each as soon as it finishes."""
    fields = {key: unit_fields for key, unit_fields, _, _ in units}
    results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        joblib.delayed(_keyed)(key, function, args) for key, _, function, args in units)
    for key, outcome in results:
        _report_unit(key, records.add(key, **fields[key], **outcome))


def _report_unit(key, record):
    if "error" in record:
        _progress(f"[{key}] failed: {record['error']}")
    elif "test" in record:
        _progress(f"[{key}] test RMSE {record['test']['rmse']:.4f}")
    else:
        _progress(f"[{key}] done")
