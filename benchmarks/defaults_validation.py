"""How the defaults of CrossFeedbackVAERegressor were chosen: RMSE on ratings held out of a
training part, never on a test part.

The training part is that of ``python -m skcrossvae compare`` for the data set and seed
(``--dataset``: MovieLens-100K's ``u1.base`` by default; FilmTrust's and CiaoDVD's 90 % drawn
with the seed); it is split 90 / 10 again with the seed (``train_test_split(..., test_size=0.1,
random_state=seed)``). Each setting (a JSON object of parameters on top of the defaults) is fit
on the 90 % with its own early stopping inside it and scored on the 10 %: after the validated
run and after each of its final iterations on every rating (``final_iter``), so one fit gives
the whole curve over ``final_iter``. One torch thread per fit, ``--jobs`` fits at a time. Prints
one line per setting (mean over the seeds) and appends every fit to ``--output``.

    python benchmarks/defaults_validation.py --data-home ../shared/datasets \\
        '{}' '{"batch_size": 500, "learning_rate": 0.002}'
    python benchmarks/defaults_validation.py --data-home ../shared/datasets --dataset ciaodvd '{}'
"""

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def _fit(data_home, dataset, params, seed, final_iter):
    import warnings

    import torch
    from sklearn.model_selection import train_test_split

    from skcrossvae import CrossFeedbackVAERegressor
    from skcrossvae.experiments._compare import DATASETS

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, _, y, _ = DATASETS[dataset](data_home, seed)
    X_fit, X_held, y_fit, y_held = train_test_split(X, y, test_size=0.1, random_state=seed)
    curve = []

    class Recorded(CrossFeedbackVAERegressor):
        """Scores the held-out ratings before and after each final iteration."""

        def _held_out_rmse(self, trainer):
            self._store_prediction_state(trainer, None)
            return float(np.sqrt(np.mean((self.predict(X_held) - y_held) ** 2)))

        def _final_iteration(self, trainer, reference, losses):
            if not losses:
                curve.append(self._held_out_rmse(trainer))  # the validated state
            loss = super()._final_iteration(trainer, reference, losses)
            curve.append(self._held_out_rmse(trainer))
            return loss

    model = Recorded(**{**params, "random_state": seed, "final_iter": final_iter})
    started = time.perf_counter()
    model.fit(X_fit, y_fit)
    return dict(dataset=dataset, params=params, seed=seed, held_out_by_final_iter=[round(v, 5) for v in curve],
                best_iteration=model.best_iteration_, best_validation=model.best_validation_score_,
                fit_seconds=round(time.perf_counter() - started, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="JSON objects of parameters")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--dataset", default="ml-100k-u1", choices=["ml-100k-u1", "filmtrust", "ciaodvd"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--final-iter", type=int, default=30, help="final iterations recorded")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "defaults_validation.jsonl"))
    args = parser.parse_args()
    jobs = [(json.loads(setting), seed) for setting in args.settings for seed in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_fit, [args.data_home] * len(jobs), [args.dataset] * len(jobs),
                             [params for params, _ in jobs], [seed for _, seed in jobs],
                             [args.final_iter] * len(jobs)))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "a") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    print(f"{'setting':<48}" + "".join(f"{f'final {k}':>11}" for k in (0, 5, 10, 15, 20, 30)))
    for setting in args.settings:
        # a curve is shorter when the fit's final iterations stopped (the training loss jumped)
        curves = [row["held_out_by_final_iter"] for row in rows if row["params"] == json.loads(setting)]
        means = []
        for k in (0, 5, 10, 15, 20, 30):
            values = [curve[k] for curve in curves if len(curve) > k]
            means.append(f"{np.mean(values):>11.4f}" if values else f"{'':>11}")
        print(f"{setting:<48}" + "".join(means))


if __name__ == "__main__":
    main()
