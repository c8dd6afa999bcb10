"""Tiny synthetic stand-ins for the real data sets of the experiment commands."""

import pytest
from sklearn.model_selection import train_test_split

from skcrossvae.datasets import make_ratings
from skcrossvae.experiments._common import Split


@pytest.fixture(scope="session")
def toy_ratings():
    """(X, y) of 1,500 rounded ratings by 60 users on 80 items."""
    X, y, _ = make_ratings(60, 80, n_ratings=1500, discrete=True, random_state=0)
    return X, y


@pytest.fixture(scope="session")
def toy_split(toy_ratings):
    """An 80 / 20 split of the toy ratings, standing in for ML-100K u1."""
    return Split("toy", *train_test_split(*toy_ratings, test_size=0.2, random_state=0))


@pytest.fixture
def fake_movielens(toy_split, monkeypatch):
    """Make ML-100K's official splits load the toy split; returns the calls' keyword arguments."""
    calls = []

    def load_movielens(variant, **kwargs):
        calls.append(dict(variant=variant, **kwargs))
        return toy_split.X_train, toy_split.X_test, toy_split.y_train, toy_split.y_test

    monkeypatch.setattr("skcrossvae.experiments._common.load_movielens", load_movielens)
    monkeypatch.setattr("skcrossvae.experiments._compare.load_movielens", load_movielens)
    return calls
