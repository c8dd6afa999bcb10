"""Seconds per iteration and peak memory of CrossFeedbackVAERegressor on ML-100K, CiaoDVD and Epinions.

Each configuration runs in its own process so that its peak resident memory is its own.
Prints a table and writes ``benchmarks/results/speed_memory_<device>.json`` (or ``--output``).

    python benchmarks/speed_memory.py --data-home ../shared/datasets [--threads 2] [--device cpu]
"""

import argparse
import json
import multiprocessing
import platform
import resource
import time
from pathlib import Path

import numpy as np

CONFIGS = [
    # (data set, parameters): ML-100K with the defaults and with the alternating schedule.
    # Epinions (296k items): the nested schedule takes one Adam step per (user batch, item batch)
    # block over every parameter, including the 296k x K x M latent-input table, so it runs with
    # large item batches and local attention; the alternating schedule with the paper's
    # large-data batch size of 1,000 (Section 4.2).
    ("ml-100k", {}),
    ("ml-100k", {"schedule": "alternating"}),
    # CiaoDVD (17k users, 16k items, median one rating per row) with the defaults.
    ("ciaodvd", {}),
    ("epinions", {"batch_size": 1000, "schedule": "alternating"}),
    ("epinions", {"batch_size": (2000, 30000), "attention": "local"}),
]


def _load(name, data_home):
    from skcrossvae.datasets import load_ciaodvd, load_epinions, load_movielens

    if name == "ml-100k":
        X, _, y, _ = load_movielens("100k", data_home=data_home, split="u1", return_X_y=True)
        return X, y
    loader = {"ciaodvd": load_ciaodvd, "epinions": load_epinions}[name]
    return loader(data_home=data_home, return_X_y=True)


def _measure(name, params, data_home, threads, device, n_iter, queue):
    import warnings

    import torch

    from skcrossvae import CrossFeedbackVAERegressor
    from skcrossvae._torch._crossvae_fit import CrossFeedbackTrainer

    # Time the training iterations themselves, apart from set-up and the final encoding pass.
    iteration_seconds = []
    train_one_iteration = CrossFeedbackTrainer.train_one_iteration

    def timed_iteration(trainer):
        started = time.perf_counter()
        loss = train_one_iteration(trainer)
        iteration_seconds.append(time.perf_counter() - started)
        return loss

    CrossFeedbackTrainer.train_one_iteration = timed_iteration

    torch.set_num_threads(threads)
    X, y = _load(name, data_home)
    with warnings.catch_warnings():  # pays torch's one-off lazy imports (the optimiser's) up front
        warnings.simplefilter("ignore")
        CrossFeedbackVAERegressor(max_iter=1, early_stopping=False, device=device).fit(X[:200], y[:200])
    iteration_seconds.clear()
    model = CrossFeedbackVAERegressor(max_iter=n_iter, early_stopping=False, random_state=0,
                                      device=device, **params)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    seconds = time.perf_counter() - started
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    peak_cuda_gib = torch.cuda.max_memory_allocated() / 2**30 if model.device_.startswith("cuda") else None
    queue.put(dict(dataset=name, params=params, n_ratings=len(y), n_users=model.n_users_,
                   n_items=model.n_items_, iterations=model.n_iter_,
                   seconds_per_iteration=float(np.mean(iteration_seconds)), fit_seconds=seconds,
                   peak_rss_gib=peak_rss_gib,
                   peak_cuda_gib=peak_cuda_gib, device=model.device_, threads=threads))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=1, help="iterations timed per configuration")
    parser.add_argument("--only", default=None, help="run only this data set (ml-100k, ciaodvd or epinions)")
    parser.add_argument("--output", default=None, help="JSON file to write (default: results/speed_memory_<device>.json)")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for name, params in CONFIGS:
        if args.only and name != args.only:
            continue
        queue = context.Queue()
        process = context.Process(target=_measure, args=(name, params, args.data_home, args.threads,
                                                         args.device, args.iterations, queue))
        process.start()
        row = queue.get()
        process.join()
        rows.append(row)
        print(f"{row['dataset']:<10} {json.dumps(row['params']):<75} {row['seconds_per_iteration']:>9.1f} s/iter "
              f"{row['fit_seconds']:>8.1f} s fit "
              f"{row['peak_rss_gib']:>6.2f} GiB RSS" + (f" {row['peak_cuda_gib']:.2f} GiB CUDA" if row['peak_cuda_gib'] else ""),
              flush=True)
    output = Path(args.output or Path(__file__).parent / "results" / f"speed_memory_{args.device.replace(':', '')}.json")
    output.write_text(json.dumps(dict(machine=platform.platform(), processor=platform.processor(),
                                      measured=time.strftime("%Y-%m-%d %H:%M"), rows=rows), indent=2))
    print(f"written {output}")


if __name__ == "__main__":
    main()
