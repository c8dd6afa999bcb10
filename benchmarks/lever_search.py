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

import torch

from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.experiments._common import fit_and_score, movielens_split


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
    split = movielens_split(args.data_home, "u1")
    base = json.loads(args.base)
    for setting in args.settings:
        params = {**base, **json.loads(setting)}
        for seed in args.seeds:
            model = CrossFeedbackVAERegressor(random_state=seed, **params)
            scores = fit_and_score(model, split)
            row = dict(params=params, seed=seed, validation_rmse=round(model.best_validation_score_, 4),
                       test_rmse=round(scores["rmse"], 4), test_ndcg20=round(scores["ndcg20"], 4),
                       best_iteration=scores["best_iteration"], n_iter=scores["n_iter"],
                       fit_seconds=round(scores["fit_seconds"], 1), threads=args.threads)
            print(json.dumps(row), flush=True)
            with open(args.output, "a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
