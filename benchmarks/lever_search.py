"""Validation and test RMSE of CrossFeedbackVAERegressor settings on ML-100K u1, one fit per line.

Each setting (a JSON object of parameters, applied on top of ``--base``) is fit on ``u1.base``
with the estimator's own early stopping (a random 10 % of ``u1.base``), then scored on
``u1.test``. The defaults were chosen on the validation column; the test column is reported,
never used for the choice. Prints one JSON line per (setting, seed) and appends it to
``--output``.

    python benchmarks/lever_search.py --data-home ../shared/datasets --seeds 0 1 \\
        '{"biases": false, "weight_averaging": 0.0}' '{"n_components": 10}'
"""

import argparse
import json
import time

import numpy as np
import torch

from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.datasets import load_movielens
from skcrossvae.metrics import rmse


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="JSON objects of parameters, one fit each")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--base", default="{}", help="JSON parameters under every setting")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results/lever_search.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X_train, X_test, y_train, y_test = load_movielens(
        "100k", data_home=args.data_home, split="u1", return_X_y=True, download_if_missing=False
    )
    base = json.loads(args.base)
    for setting in args.settings:
        params = {**base, **json.loads(setting)}
        for seed in args.seeds:
            started = time.perf_counter()
            model = CrossFeedbackVAERegressor(random_state=seed, **params).fit(X_train, y_train)
            row = dict(
                params=params, seed=seed,
                validation_rmse=round(model.best_validation_score_, 4),
                test_rmse=round(rmse(y_test, model.predict(X_test)), 4),
                best_iteration=model.best_iteration_, n_iter=model.n_iter_,
                fit_seconds=round(time.perf_counter() - started, 1), threads=args.threads,
            )
            print(json.dumps(row), flush=True)
            with open(args.output, "a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
