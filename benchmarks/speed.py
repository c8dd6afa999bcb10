"""Speed and memory of CrossFeedbackVAERegressor: one command, one table.

Every measurement runs in its own process (one torch thread), so that its peak resident memory
is its own and the fits do not share caches:

* ``u1``: the default fit on MovieLens-100K ``u1.base`` and Surprise's ``SVDpp()`` (defaults),
  alternating (SVD++, ours, SVD++, ours ...), with the ratio of the means and both test RMSEs;
* ``paper``: the paper's model (``CrossFeedbackVAERegressor.paper()``) on ``u1.base``, and the
  cost of the paper's full grid estimated from a seeded sample of its candidates;
* ``iteration``: seconds per training iteration on ``u1.base`` against the time the bytes it
  moves would take at the measured memory bandwidth (the bandwidth bound of the algorithm);
* ``ciaodvd``: seconds per iteration on CiaoDVD with the defaults;
* ``global-attention``: seconds per iteration of the paper's model on CiaoDVD, where it attends
  globally on both sides, with the package's global attention and with the plain product
  ``normalise(scores) @ embeddings`` over the whole score matrix, in one process, alternating;
* ``epinions``: the peak resident memory of a ``max_iter=3`` default fit on Epinions;
* ``ml20m``: one iteration on a synthetic MovieLens-20M shape (138k users, 27k items, 20M
  ratings), its time and peak memory.

    pip install -c constraints.txt -e ".[benchmark]"
    python benchmarks/speed.py --data-home ../shared/datasets [--only u1 paper ...] [--repeats 2]

On a GPU, the ML-20M shape with a few iterations and a time limit (seconds per iteration and
the full fit extrapolated to ``TYPICAL_ITERATIONS``)::

    python benchmarks/speed.py --only ml20m --device cuda --ml20m-iterations 5 --time-limit 480 \
        --output benchmarks/results/speed_gpu.json

Prints the table and writes ``benchmarks/results/speed.json`` (or ``--output``), keeping the
parts it does not run.
"""

import argparse
import json
import multiprocessing
import platform
import resource
import time
import warnings
from pathlib import Path

import numpy as np

PARTS = ("u1", "paper", "iteration", "ciaodvd", "global-attention", "epinions", "ml20m")
#: Iterations of a default fit on MovieLens-100K (130-180 with early stopping and the final
#: ones): the ML-20M part extrapolates a full fit from its seconds per iteration with it.
TYPICAL_ITERATIONS = 150


def _setup():
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")


def _peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _u1(data_home):
    from skcrossvae.datasets import load_movielens

    return load_movielens("100k", data_home=data_home, split="u1", return_X_y=True, download_if_missing=False)


def _rmse(y, predictions):
    return float(np.sqrt(np.mean((np.asarray(predictions) - y) ** 2)))


def _fit_ours(data_home, params, seed):
    from skcrossvae import CrossFeedbackVAERegressor

    X, X_test, y, y_test = _u1(data_home)
    model = CrossFeedbackVAERegressor(random_state=seed, **params)
    started = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - started
    return dict(seconds=seconds, rmse=_rmse(y_test, model.predict(X_test)), n_iter=model.n_iter_,
                best_iteration=model.best_iteration_, peak_gib=_peak_gib())


def _fit_svdpp(data_home, seed):
    import pandas as pd
    from surprise import SVDpp, Dataset, Reader

    X, X_test, y, y_test = _u1(data_home)
    frame = pd.DataFrame({"user": X[:, 0], "item": X[:, 1], "rating": y})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    model = SVDpp(random_state=seed)
    started = time.perf_counter()
    model.fit(trainset)
    seconds = time.perf_counter() - started
    predictions = [model.predict(u, i).est for u, i in X_test]
    return dict(seconds=seconds, rmse=_rmse(y_test, predictions), peak_gib=_peak_gib())


def _time_iterations(X, y, params, n_iter):
    """Mean seconds of the training iterations after the first of a ``n_iter``-iteration fit."""
    from skcrossvae import CrossFeedbackVAERegressor, DivergenceError
    from skcrossvae._torch._crossvae_fit import CrossFeedbackTrainer

    times, original = [], CrossFeedbackTrainer.train_one_iteration

    def timed(self):
        started = time.perf_counter()
        loss = original(self)
        times.append(time.perf_counter() - started)
        return loss

    CrossFeedbackTrainer.train_one_iteration = timed
    model = CrossFeedbackVAERegressor(max_iter=n_iter, early_stopping=False, random_state=0, **params)
    started = time.perf_counter()
    outcome = "fitted"
    try:
        model.fit(X, y)
    except DivergenceError as exc:  # a few timed iterations need not make a good model
        outcome = f"the fit's check refused the model after {len(times)} iterations: {exc}"
    finally:  # a later timing in this process wraps the trainer's own method, not this wrapper
        CrossFeedbackTrainer.train_one_iteration = original
    return dict(seconds_per_iteration=float(np.mean(times[1:] or times)), fit_seconds=time.perf_counter() - started,
                iterations=len(times), peak_gib=_peak_gib(), outcome=outcome)


def _bandwidth_gb_per_s():
    """Copy bandwidth of one thread over buffers far larger than the caches."""
    import torch

    source, target = torch.ones(2**26), torch.empty(2**26)  # 256 MiB each
    target.copy_(source)
    started = time.perf_counter()
    for _ in range(5):
        target.copy_(source)
    return 5 * 2 * source.numel() * 4 / (time.perf_counter() - started) / 1e9


def _bytes_per_iteration(model, X, y):
    """Bytes one iteration must move. At every step: Adam (read parameter, gradient and two
    moments, write three) and the weight average (read two, write one) over the dense weights;
    the rating-input tables read in the forward pass, their gradient written in the backward
    pass and read, with the table read and written, by the row-wise step; the latent-input
    tables' row projections and deferred updates read and the updates written (one width-sized
    vector per row). Once per iteration: the latent-input tables read for their projections and
    read and written when the deferred updates land, and every table's average (read two,
    write one)."""
    n_users, n_items = model.n_users_, model.n_items_
    user_batches = -(-n_users // model.batch_sizes_[0])
    item_batches = -(-n_items // model.batch_sizes_[1])
    steps = user_batches * item_batches
    encoders = (model.module_.user_encoder, model.module_.item_encoder)
    latent = sum(encoder.latent_input.weight.numel() for encoder in encoders)
    latent_rows = sum(encoder.latent_input.weight.numel() // encoder.latent_input.weight.shape[1]
                      for encoder in encoders)
    rating = sum(encoder.observed_input.weight.numel() for encoder in encoders)
    dense = sum(p.numel() for p in model.module_.parameters()) - latent - rating
    return 4 * (steps * (10 * dense + 3 * latent_rows + 5 * rating) + 3 * latent + 3 * (latent + rating))


def _part_iteration(data_home):
    from skcrossvae import CrossFeedbackVAERegressor

    X, _, y, _ = _u1(data_home)
    timing = _time_iterations(X, y, {}, 4)
    model = CrossFeedbackVAERegressor(max_iter=1, early_stopping=False, random_state=0).fit(X, y)
    gigabytes = _bytes_per_iteration(model, X, y) / 1e9
    bandwidth = _bandwidth_gb_per_s()
    return dict(timing, gigabytes_per_iteration=gigabytes, bandwidth_gb_per_s=bandwidth,
                bound_seconds=gigabytes / bandwidth)


def _part_ciaodvd(data_home):
    from skcrossvae.datasets import load_ciaodvd

    X, y = load_ciaodvd(data_home=data_home, return_X_y=True, download_if_missing=False)
    return _time_iterations(X, y, {}, 3)


def _dense_global_context(projected, feedback, norm):
    """Global attention's context through the whole (rows, other side) score matrix.

    The normalisations are written row-wise on the dense matrix, the fastest plain form, rather
    than through ``segment_normalise``, whose scatter would slow the baseline and flatter the
    package; tests/_torch check segment_normalise against the same row-wise formulas."""
    import torch

    from skcrossvae._torch._crossvae import _RATIO_EPS

    scores = projected @ feedback.T
    if norm == "softmax":
        weights = torch.softmax(scores, dim=1)
    elif norm == "eq9":
        weights = scores / scores.sum(dim=1, keepdim=True)
    else:
        weights = scores / (scores.abs().sum(dim=1, keepdim=True) + _RATIO_EPS)
    return weights @ feedback


def _part_global_attention(data_home, repeats):
    from skcrossvae import PAPER_PARAMS
    from skcrossvae._torch import _crossvae
    from skcrossvae.datasets import load_ciaodvd

    X, y = load_ciaodvd(data_home=data_home, return_X_y=True, download_if_missing=False)
    package = _crossvae.global_context
    runs = {"package": [], "plain product": []}
    for _ in range(repeats):
        for name, context in (("plain product", _dense_global_context), ("package", package)):
            _crossvae.global_context = context
            runs[name].append(_time_iterations(X, y, PAPER_PARAMS, 2)["seconds_per_iteration"])
    _crossvae.global_context = package
    means = {name: float(np.mean(seconds)) for name, seconds in runs.items()}
    return dict(seconds_per_iteration=runs, speedup=means["plain product"] / means["package"],
                peak_gib=_peak_gib())


def _part_epinions(data_home):
    from skcrossvae import CrossFeedbackVAERegressor
    from skcrossvae.datasets import load_epinions

    X, y = load_epinions(data_home=data_home, return_X_y=True, download_if_missing=False)
    started = time.perf_counter()
    model = CrossFeedbackVAERegressor(max_iter=3, random_state=0).fit(X, y)
    return dict(fit_seconds=time.perf_counter() - started, peak_gib=_peak_gib(), n_iter=model.n_iter_,
                batch_sizes=list(model.batch_sizes_))


def _part_ml20m(data_home, device="cpu", n_iter=1):
    from skcrossvae.datasets import make_ratings

    started = time.perf_counter()
    X, y, _ = make_ratings(138_000, 27_000, n_ratings=20_000_000, discrete=True, random_state=0,
                           return_truth=False)
    generated = time.perf_counter() - started
    timing = _time_iterations(X, y, {"device": device}, n_iter)
    return dict(timing, generation_seconds=generated, device=device,
                full_fit_minutes=timing["seconds_per_iteration"] * TYPICAL_ITERATIONS / 60)


def _run(function, args, queue):
    _setup()
    try:
        queue.put(("ok", function(*args)))
    except Exception as exc:  # reported in the table, not raised: the other parts still run
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _in_process(function, *args, time_limit=None):
    """``function(*args)`` in a fresh process (its own peak memory); its result, or a
    RuntimeError with its error or after ``time_limit`` seconds."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run, args=(function, args, queue))
    process.start()
    try:
        status, result = queue.get(timeout=time_limit)
    except Exception:  # queue.Empty: the part ran past its limit
        process.terminate()
        status, result = "error", f"stopped after the time limit of {time_limit} s"
    process.join()
    if status == "error":
        raise RuntimeError(result)
    return result


def _grid_sample(size, seed):
    from sklearn.model_selection import ParameterGrid

    from skcrossvae.model_selection import paper_param_grid

    grid = ParameterGrid(paper_param_grid("full"))
    chosen = np.random.RandomState(seed).choice(len(grid), size=size, replace=False)
    return len(grid), [grid[int(i)] for i in chosen]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--repeats", type=int, default=2, help="alternating fits of each estimator (u1, global-attention)")
    parser.add_argument("--grid-sample", type=int, default=20, help="paper-grid candidates timed (paper)")
    parser.add_argument("--device", default="cpu", help="device of the ml20m part ('cuda' on a GPU)")
    parser.add_argument("--ml20m-iterations", type=int, default=1, help="iterations timed (ml20m)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per part before it is stopped")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "speed.json"))
    args = parser.parse_args()
    # The record keeps the parts this command does not run.
    output = Path(args.output)
    results = json.loads(output.read_text()) if output.exists() else {}
    results["machine"] = dict(platform=platform.platform(), processor=platform.processor(),
                              cpus=multiprocessing.cpu_count(), torch_threads=1)
    home = args.data_home
    if "u1" in args.only:
        runs = {"CrossFeedbackVAERegressor": [], "SVDpp": []}
        for repeat in range(args.repeats):
            runs["SVDpp"].append(_in_process(_fit_svdpp, home, repeat))
            runs["CrossFeedbackVAERegressor"].append(_in_process(_fit_ours, home, {}, repeat))
        ours = np.mean([run["seconds"] for run in runs["CrossFeedbackVAERegressor"]])
        theirs = np.mean([run["seconds"] for run in runs["SVDpp"]])
        results["u1"] = dict(runs=runs, ratio=float(ours / theirs))
        print(f"u1 default fit: {ours:.1f} s, SVD++ {theirs:.1f} s: ratio {ours / theirs:.2f} "
              f"(test RMSE {np.mean([r['rmse'] for r in runs['CrossFeedbackVAERegressor']]):.4f} against "
              f"{np.mean([r['rmse'] for r in runs['SVDpp']]):.4f})", flush=True)
    if "paper" in args.only:
        from skcrossvae import PAPER_PARAMS

        paper = _in_process(_fit_ours, home, PAPER_PARAMS, 0)
        n_candidates, sample = _grid_sample(args.grid_sample, 0)
        sampled = []
        for params in sample:
            extra = {key: value for key, value in params.items() if key not in PAPER_PARAMS}
            sampled.append(dict(params={k: str(v) for k, v in extra.items()},
                                **_in_process(_fit_ours, home, {**PAPER_PARAMS, **extra}, 0)))
        mean_seconds = float(np.mean([run["seconds"] for run in sampled]))
        results["paper"] = dict(default_sizes=paper, sample=sampled, grid_candidates=n_candidates,
                                grid_core_hours=n_candidates * mean_seconds / 3600)
        print(f"paper model: {paper['seconds']:.1f} s (test RMSE {paper['rmse']:.4f}); full grid "
              f"{n_candidates} candidates x {mean_seconds:.1f} s = {n_candidates * mean_seconds / 3600:.0f} core-hours",
              flush=True)
    for part, function, extra in (("iteration", _part_iteration, ()), ("ciaodvd", _part_ciaodvd, ()),
                                  ("global-attention", _part_global_attention, (args.repeats,)),
                                  ("epinions", _part_epinions, ()),
                                  ("ml20m", _part_ml20m, (args.device, args.ml20m_iterations))):
        if part in args.only:
            try:
                results[part] = _in_process(function, home, *extra, time_limit=args.time_limit)
            except RuntimeError as exc:
                results[part] = dict(error=str(exc))
            print(f"{part}: {json.dumps(results[part])}", flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
