"""Validation and test RMSE of estimator settings on one data set of the comparison, one fit per line.

Each setting (a JSON object of parameters, applied on top of ``--base``) is fit on the training
part of ``--dataset`` (the comparison's splits: ML-100K's ``uK.base``, or FilmTrust's and
CiaoDVD's 90 / 10 split drawn with the seed) with the estimator's own early stopping, where it
has one, then scored on the test part. The defaults were chosen on the validation column; the
test column is reported, never used for the choice. Prints one JSON line per (setting, seed)
and appends it to ``--output``.

    python benchmarks/lever_search.py --data-home ../shared/datasets --seeds 0 1 \\
        '{"biases": false, "weight_averaging": 0.0}' '{"n_components": 10}'
    python benchmarks/lever_search.py --data-home ../shared/datasets --dataset filmtrust \\
        --model BayesianMFRegressor '{"noise_precision": 1.0}'
"""

import json

import torch

from _settings_runs import record, settings_parser
from skcrossvae.experiments._common import Split, fit_and_score, package_estimators
from skcrossvae.experiments._compare import DATASETS


def main():
    parser = settings_parser(__doc__, "benchmarks/results/lever_search.jsonl")
    parser.add_argument("--base", default="{}", help="JSON parameters under every setting")
    parser.add_argument("--dataset", default="ml-100k-u1", choices=sorted(DATASETS))
    parser.add_argument("--model", default="CrossFeedbackVAERegressor",
                        choices=[cls.__name__ for cls in package_estimators()])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cls = {cls.__name__: cls for cls in package_estimators()}[args.model]
    base = json.loads(args.base)
    for setting in args.settings:
        params = {**base, **json.loads(setting)}
        for seed in args.seeds:
            split = Split(args.dataset, *DATASETS[args.dataset](args.data_home, seed))
            model = cls(random_state=seed, **params)
            scores = fit_and_score(model, split)
            validation = getattr(model, "best_validation_score_", None)
            row = dict(dataset=args.dataset, model=args.model, params=params, seed=seed,
                       validation_rmse=None if validation is None else round(validation, 4),
                       test_rmse=round(scores["rmse"], 4), test_ndcg20=round(scores["ndcg20"], 4),
                       best_iteration=scores["best_iteration"], n_iter=scores["n_iter"],
                       fit_seconds=round(scores["fit_seconds"], 1), threads=args.threads)
            record(row, args.output)


if __name__ == "__main__":
    main()
