"""The main estimator against baselines on MovieLens-100K's five splits, FilmTrust and CiaoDVD."""

from sklearn.model_selection import train_test_split

from ..datasets import load_ciaodvd, load_filmtrust, load_movielens
from ._common import (
    Split,
    Table,
    format_mean_std,
    package_estimators,
    score_configurations,
    seeded,
    summarise,
    write_json,
)

#: The models compared by default.
DEFAULT_MODELS = ("CrossFeedbackVAERegressor", "BayesianMFRegressor", "BiasedMFRegressor")

_MAIN = "CrossFeedbackVAERegressor"


def _official_split(name):
    def load(data_home, seed):
        # The official split is the same for every seed; only the fits' seeds vary.
        return load_movielens("100k", data_home=data_home, split=name, return_X_y=True,
                              download_if_missing=False)
    return load


def _random_split(loader):
    def load(data_home, seed):
        X, y = loader(data_home=data_home, return_X_y=True, download_if_missing=False)
        return train_test_split(X, y, test_size=0.1, random_state=seed)
    return load


def _cached_splits(name, load, data_home):
    """``seed -> Split`` loading each seed's split once, so every model of a seed gets the same."""
    splits = {}

    def split_for(seed):
        if seed not in splits:
            splits[seed] = Split(name, *load(data_home, seed))
        return splits[seed]

    return split_for


#: Data sets by name: ``load(data_home, seed)`` returns ``(X_train, X_test, y_train, y_test)``.
DATASETS = {
    **{f"ml-100k-u{k}": _official_split(f"u{k}") for k in range(1, 6)},
    "filmtrust": _random_split(load_filmtrust),
    "ciaodvd": _random_split(load_ciaodvd),
}


def run_compare(data_home=None, seeds=(0, 1, 2), datasets=None, models=DEFAULT_MODELS,
                params=None, output=None, loaders=None, n_jobs=None):
    """Fit each model on each data set once per seed and tabulate the test RMSE.

    ML-100K's ``u1`` to ``u5`` use the official splits; FilmTrust and CiaoDVD a random
    90 / 10 split drawn with the seed (``train_test_split(X, y, test_size=0.1,
    random_state=seed)``), so their spread over seeds includes that of the split.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the data sets (``None``: ``$SKCROSSVAE_DATA``); nothing is downloaded.
    seeds : sequence of int, default=(0, 1, 2)
        ``random_state`` of the fits (and of the random splits).
    datasets : sequence of str, optional
        Names of ``loaders`` to run (default: all of them, in order).
    models : sequence of str, default=DEFAULT_MODELS
        Class names of estimators of the package.
    params : dict, optional
        Extra parameters per class name, e.g. ``{'CrossFeedbackVAERegressor': {'max_iter': 50}}``.
    output : str or path-like, optional
        Write the table, with every run, to this JSON file.
    loaders : dict, optional
        Data sets by name as in :data:`DATASETS` (the default); the tests pass synthetic ones.
    n_jobs : int, default=None
        Fits run at the same time, over data sets, models and seeds alike (see
        :func:`~skcrossvae.experiments._common.score_configurations`).

    Returns
    -------
    dict
        ``results`` (data set -> model -> ``runs`` and the mean ± std of each score) and
        ``lowest_rmse`` (the data sets on which the main estimator has the lowest mean RMSE).
    """
    loaders = DATASETS if loaders is None else loaders
    datasets = list(loaders) if datasets is None else list(datasets)
    classes = {cls.__name__: cls for cls in package_estimators()}
    unknown = sorted({*datasets} - set(loaders)) + sorted(set(models) - set(classes))
    if unknown:
        raise ValueError(f"unknown data sets or models {unknown}; data sets: {list(loaders)}, "
                         f"models: {list(classes)}.")
    params = {name: dict((params or {}).get(name, {})) for name in models}
    for name in models:
        classes[name](**params[name])  # a misspelt parameter fails before any fit
    given = {name: extra for name, extra in params.items() if extra}
    print(f"seeds {list(seeds)}; extra parameters {given or 'none'}", flush=True)
    cells = [(dataset, name) for dataset in datasets for name in models]
    splits = {dataset: _cached_splits(dataset, loaders[dataset], data_home) for dataset in datasets}
    fitted = score_configurations(
        [(name, seeded(classes[name], params[name]), splits[dataset], None) for dataset, name in cells],
        seeds, n_jobs)
    results = {dataset: {} for dataset in datasets}
    for (dataset, name), runs in zip(cells, fitted):
        results[dataset][name] = dict(runs=runs, **summarise(runs))
    table = Table([("test RMSE", 14)] + [(name, max(len(name), 15) + 2) for name in models])
    lowest = []
    for dataset in datasets:
        table.row(dataset, *(format_mean_std(results[dataset][name]["rmse"]) for name in models))
        means = {name: results[dataset][name]["rmse"]["mean"] for name in models}
        if _MAIN in means and min(means, key=means.get) == _MAIN:
            lowest.append(dataset)
    if _MAIN in models:
        print(f"{_MAIN} has the lowest mean test RMSE on {len(lowest)} of {len(datasets)} data "
              f"sets: {', '.join(lowest) or 'none'}", flush=True)
    if output:
        write_json(output, dict(command="compare", seeds=list(seeds), models=list(models),
                                extra_params=params, results=results, lowest_rmse=lowest))
    return dict(results=results, lowest_rmse=lowest)
