"""Validation and test RMSE of CrossFeedbackVAERegressor settings on ML-100K u1, one fit per line.

Each setting (a JSON object of parameters, applied on top of ``--base``) is fit on ``u1.base``
with the estimator's own early stopping (a random 10 % of ``u1.base``), then scored on
``u1.test``. The defaults were chosen on the validation column; the test column is reported,
never used for the choice. Prints one JSON line per (setting, seed) and appends it to
``--output``.

    python benchmarks/lever_search.py --data-home ../shared/datasets --seeds 0 1 \\
        '{"biases": false, "weight_averaging": 0.0}' '{"n_components": 10}'
"""

import json

from _settings_runs import record, settings_parser, u1_split
from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.experiments._common import fit_and_score


def main():
    parser = settings_parser(__doc__, "benchmarks/results/lever_search.jsonl")
    parser.add_argument("--base", default="{}", help="JSON parameters under every setting")
    args = parser.parse_args()
    split = u1_split(args)
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
            record(row, args.output)


if __name__ == "__main__":
    main()
