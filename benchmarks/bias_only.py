"""Test RMSE of a model of user and item biases only, on the comparison's data sets.

The reference every factor model has to beat: ``mean + b_u + b_i`` fitted by alternating
ridge regressions (each bias the damped mean of its residuals, ``sum / (count + lam)``; the
baseline predictors ``CrossFeedbackVAERegressor(baseline=True)`` builds on), for a few damping
strengths ``lam``. Pairs with an unknown id get the biases they have (zero for the
unknown side). Same splits as ``python -m skcrossvae compare``. Prints one line per (data set,
seed, lam) and writes them all to ``--output``.

    python benchmarks/bias_only.py --data-home ../shared/datasets --datasets filmtrust ml-100k-u1
"""

import argparse
import json

import numpy as np

from skcrossvae._data import RatingTable, build_vocabulary, damped_biases, encode_ids
from skcrossvae.experiments._compare import DATASETS
from skcrossvae.metrics import rmse

DAMPING = (1.0, 3.0, 5.0, 10.0)


def bias_only_rmse(X_train, X_test, y_train, y_test, damping):
    vocabularies, train_codes = zip(*(build_vocabulary(X_train[:, c]) for c in (0, 1)))
    mean, *biases = damped_biases(RatingTable(*train_codes, y_train, *map(len, vocabularies)), damping)
    predictions = np.full(len(y_test), mean)
    for column, (vocabulary, bias, name) in enumerate(zip(vocabularies, biases, ("user", "item"))):
        codes, known = encode_ids(vocabulary, X_test[:, column], name)
        predictions += np.where(known, bias[codes], 0.0)  # an unknown id has no bias
    return rmse(y_test, np.clip(predictions, y_train.min(), y_train.max()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", default="benchmarks/results/bias_only.jsonl")
    args = parser.parse_args()
    with open(args.output, "w") as output:
        for dataset in args.datasets:
            for seed in args.seeds:
                split = DATASETS[dataset](args.data_home, seed)
                for damping in DAMPING:
                    row = dict(dataset=dataset, seed=seed, damping=damping,
                               test_rmse=round(bias_only_rmse(*split, damping), 4))
                    print(json.dumps(row), flush=True)
                    output.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
