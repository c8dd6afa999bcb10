"""The quick-start demo: one fit and a small results table."""

import time

import numpy as np
from sklearn.model_selection import train_test_split

from .._crossvae import CrossFeedbackVAERegressor
from ..datasets import DataNotFoundError, load_movielens, make_ratings
from ..metrics import ndcg_at_k, rmse


def demo_data(data_home=None, random_state=0):
    """ML-100K's u1 split when the data home holds it, else a synthetic set; returns a dict."""
    try:
        X_train, X_test, y_train, y_test = load_movielens(
            "100k", data_home=data_home, split="u1", return_X_y=True, download_if_missing=False
        )
        name = "MovieLens-100K (u1.base -> u1.test)"
    except DataNotFoundError:
        # Sized like MovieLens-100K, with a known rank-5 truth and rounded star ratings.
        X, y, _ = make_ratings(
            1000, 1500, n_ratings=80_000, rank=5, noise=0.5, discrete=True, random_state=random_state
        )
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, random_state=random_state
        )
        name = "synthetic (make_ratings: 1000 users, 1500 items, 80,000 ratings, rank 5; 80/20 split)"
    return dict(name=name, X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)


def run_demo(data_home=None, random_state=0, verbose=0):
    """Fit the default model, print the results table and return its rows."""
    data = demo_data(data_home, random_state)
    print(f"data: {data['name']}", flush=True)
    model = CrossFeedbackVAERegressor(random_state=random_state, verbose=verbose)
    started = time.perf_counter()
    model.fit(data["X_train"], data["y_train"])
    seconds = time.perf_counter() - started
    predictions = model.predict(data["X_test"])
    users = data["X_test"][:, 0]
    rows = [
        ("global mean", rmse(data["y_test"], np.full(len(predictions), model.global_mean_)), float("nan"), 0.0),
        ("CrossFeedbackVAERegressor", rmse(data["y_test"], predictions),
         ndcg_at_k(users, data["y_test"], predictions, k=20), seconds),
    ]
    print(f"{'model':<28}{'test RMSE':>10}{'NDCG@20':>10}{'fit s':>9}")
    for name, error, ndcg, fit_seconds in rows:
        print(f"{name:<28}{error:>10.4f}{ndcg:>10.4f}{fit_seconds:>9.1f}")
    print(f"(device {model.device_}, {model.n_iter_} iterations, best {model.best_iteration_})")
    return rows
