"""New users without refitting: fold-in against a refit and the unknown-id fallback.

The strong-generalisation protocol of Liang et al. (Mult-VAE): a seeded 10 % of the users (among
those with at least 5 ratings) is held out entirely; the model is fit on the other users'
ratings; each held-out user gives 80 % of their ratings (seeded) to ``fold_in`` and the other
20 % are predicted. Compared on those 20 %:

* ``fold-in``: ``fold_in`` with the 80 %, no training (for ours also ``method='elbo'``);
* ``refit``: a fit on the other users' ratings and the held-out users' 80 %;
* ``fallback``: the fit without the held-out users, which predicts them by ``handle_unknown='mean'``.

RMSE and NDCG@20 (``skcrossvae.metrics.ndcg_at_k``, each user's held-out items ranked) per data
set and model (ours and the baselines that fold in, all with their defaults), mean ± std over
the seeds; fold-in throughput on one torch thread, all held-out users in one call and one call
per user (for the first 100 held-out users). Every (data set, model, seed) runs in its own process, ``--jobs`` at a time.

    python benchmarks/fold_in.py --data-home ../shared/datasets

Prints the table and writes ``benchmarks/results/fold_in.json`` (or ``--output``), keeping the
runs it did not repeat.
"""

import argparse
import copy
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

DATASETS = ("ml-100k", "filmtrust", "ciaodvd")
MODELS = ("CrossFeedbackVAERegressor", "VariationalBayesMFRegressor", "BiasedMFRegressor", "BayesianMFRegressor",
          "MultVAERegressor")
HELD_OUT_USERS = 0.1
FOLDED_SHARE = 0.8
MIN_RATINGS = 5
PROTOCOLS = ("fold-in", "fold-in (elbo)", "refit", "fallback")
ONE_BY_ONE_USERS = 100  # held-out users folded in one call each, for the throughput


def _load(name, data_home):
    from skcrossvae.datasets import load_ciaodvd, load_filmtrust, load_movielens

    if name == "ml-100k":
        return load_movielens("100k", data_home=data_home, return_X_y=True, download_if_missing=False)
    loader = {"filmtrust": load_filmtrust, "ciaodvd": load_ciaodvd}[name]
    return loader(data_home=data_home, return_X_y=True, download_if_missing=False)


def _split(X, y, seed):
    """Training ratings, the held-out users' folded-in ratings and their predicted ratings."""
    rng = np.random.RandomState(seed)
    users, counts = np.unique(X[:, 0], return_counts=True)
    eligible = users[counts >= MIN_RATINGS]
    held = rng.choice(eligible, size=int(round(HELD_OUT_USERS * len(users))), replace=False)
    is_held = np.isin(X[:, 0], held)
    folded = np.zeros(len(y), dtype=bool)
    for user in held:
        rows = rng.permutation(np.flatnonzero(X[:, 0] == user))
        folded[rows[:int(round(FOLDED_SHARE * len(rows)))]] = True
    predicted = is_held & ~folded
    return (X[~is_held], y[~is_held]), (X[folded], y[folded]), (X[predicted], y[predicted])


def _make(model, seed):
    from skcrossvae import CrossFeedbackVAERegressor
    from skcrossvae.baselines import (BayesianMFRegressor, BiasedMFRegressor, MultVAERegressor,
                                      VariationalBayesMFRegressor)

    classes = {cls.__name__: cls for cls in (CrossFeedbackVAERegressor, BiasedMFRegressor,
                                             VariationalBayesMFRegressor, BayesianMFRegressor, MultVAERegressor)}
    return classes[model](random_state=seed)


def _run(name, seed, model_name, data_home):
    import warnings

    import torch

    from skcrossvae.metrics import ndcg_at_k

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, y = _load(name, data_home)
    (X_train, y_train), (X_fold, y_fold), (X_test, y_test) = _split(X, y, seed)

    def scores(predictions):
        return dict(rmse=float(np.sqrt(np.mean((predictions - y_test) ** 2))),
                    ndcg20=float(ndcg_at_k(X_test[:, 0], y_test, predictions, k=20)))

    started = time.perf_counter()
    model = _make(model_name, seed).fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    result = dict(dataset=name, seed=seed, model=model_name, n_held_out_users=len(np.unique(X_fold[:, 0])),
                  fallback=scores(model.predict(X_test)), fit_seconds=round(fit_seconds, 1))
    one_by_one = copy.deepcopy(model)  # the same fit, folded in user by user below
    if model_name == "CrossFeedbackVAERegressor":  # also the posterior that maximises the ELBO
        result["fold-in (elbo)"] = scores(copy.deepcopy(model).fold_in(X_fold, y_fold, method="elbo").predict(X_test))
    started = time.perf_counter()
    model.fold_in(X_fold, y_fold)
    batch_seconds = time.perf_counter() - started
    result["fold-in"] = scores(model.predict(X_test))
    singles = np.unique(X_fold[:, 0])[:ONE_BY_ONE_USERS]
    started = time.perf_counter()
    for user in singles:
        rows = X_fold[:, 0] == user
        one_by_one.fold_in(X_fold[rows], y_fold[rows])
    single_seconds = time.perf_counter() - started
    # The same users, whatever the grouping (items new to the fit depend on all their raters).
    compared = np.isin(X_test[:, 0], singles) & np.isin(X_test[:, 1], X_train[:, 1])
    assert np.allclose(one_by_one.predict(X_test[compared]), model.predict(X_test[compared]), atol=1e-6)
    result["users_per_second"] = dict(batch=round(result["n_held_out_users"] / batch_seconds),
                                      one_by_one=round(len(singles) / single_seconds))
    refit = _make(model_name, seed).fit(np.vstack([X_train, X_fold]), np.concatenate([y_train, y_fold]))
    result["refit"] = scores(refit.predict(X_test))
    return result


def _mean_std(values):
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.4f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "fold_in.json"))
    args = parser.parse_args()
    jobs = [(name, seed, model) for name in args.datasets for model in args.models for seed in args.seeds]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(output.read_text())["runs"] if output.exists() else []
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(_run, *job, args.data_home) for job in jobs]
        for future in as_completed(futures):
            # Each finished run replaces its earlier record at once: an interrupted command
            # keeps what it measured.
            run = future.result()
            key = (run["dataset"], run["model"], run["seed"])
            runs = [r for r in runs if (r["dataset"], r["model"], r["seed"]) != key] + [run]
            document = dict(measured=time.strftime("%Y-%m-%d"),
                            machine=f"{platform.machine()}, {platform.processor() or 'cpu'}",
                            command="python benchmarks/fold_in.py --data-home ../shared/datasets", runs=runs)
            output.write_text(json.dumps(document, indent=1) + "\n")
            print(f"{key}: fold-in RMSE {run['fold-in']['rmse']:.4f}, refit {run['refit']['rmse']:.4f}, "
                  f"fallback {run['fallback']['rmse']:.4f}", flush=True)
    print(f"{'data set':<10}{'model':<30}{'new users by':<14}{'RMSE':>18}{'NDCG@20':>18}")
    for name in dict.fromkeys(run["dataset"] for run in runs):
        for model in dict.fromkeys(run["model"] for run in runs):
            mine = [run for run in runs if run["dataset"] == name and run["model"] == model]
            if not mine:
                continue
            for protocol in PROTOCOLS:
                if not all(protocol in run for run in mine):
                    continue
                print(f"{name:<10}{model:<30}{protocol:<14}{_mean_std([r[protocol]['rmse'] for r in mine]):>18}"
                      f"{_mean_std([r[protocol]['ndcg20'] for r in mine]):>18}")
            rates = [r["users_per_second"] for r in mine]
            print(f"{name:<10}{model:<30}fold-in users per second: {np.mean([r['batch'] for r in rates]):.0f} "
                  f"in one call, {np.mean([r['one_by_one'] for r in rates]):.0f} one call per user")


if __name__ == "__main__":
    main()
