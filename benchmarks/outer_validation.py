"""RMSE on ratings held out of ML-100K's u1.base, for settings that the internal validation part
cannot judge (``refit=True`` trains on that part), one fit per line.

``u1.base`` is split again, 90 / 10 with the seed (``train_test_split(..., test_size=0.1,
random_state=seed)``); each setting is fit on the 90 % (with its own early stopping inside
it) and scored on the 10 %. ``u1.test`` is never read. Prints one JSON line per (setting, seed)
and appends it to ``--output``.

    python benchmarks/outer_validation.py --data-home ../shared/datasets --seeds 0 1 2 \\
        '{"refit": false}' '{"refit": true}'
"""

import json
import time

from sklearn.model_selection import train_test_split

from _settings_runs import record, settings_parser, u1_split
from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.metrics import rmse


def main():
    args = settings_parser(__doc__, "benchmarks/results/outer_validation.jsonl").parse_args()
    split = u1_split(args)
    for setting in args.settings:
        params = json.loads(setting)
        for seed in args.seeds:
            X_fit, X_held, y_fit, y_held = train_test_split(split.X_train, split.y_train, test_size=0.1,
                                                            random_state=seed)
            model = CrossFeedbackVAERegressor(random_state=seed, **params)
            started = time.perf_counter()
            model.fit(X_fit, y_fit)
            seconds = time.perf_counter() - started
            held_out = rmse(y_held, model.predict(X_held))
            row = dict(params=params, seed=seed, held_out_rmse=round(held_out, 4),
                       internal_validation_rmse=round(model.best_validation_score_, 4),
                       best_iteration=model.best_iteration_, fit_seconds=round(seconds, 1),
                       threads=args.threads)
            record(row, args.output)


if __name__ == "__main__":
    main()
