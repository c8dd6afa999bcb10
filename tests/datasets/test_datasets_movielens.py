"""MovieLens loader: the shared ML-100K copy gives the official counts and splits."""

import numpy as np
import pytest

from skcrossvae.datasets import load_movielens

pytestmark = pytest.mark.realdata

_SPLIT_SIZES = {
    "u1": (80_000, 20_000),
    "u2": (80_000, 20_000),
    "u3": (80_000, 20_000),
    "u4": (80_000, 20_000),
    "u5": (80_000, 20_000),
    "ua": (90_570, 9_430),
    "ub": (90_570, 9_430),
}


def _pair_codes(X):
    """Sorted unique int codes of the (user, item) pairs (ML-100K item ids are < 10,000)."""
    return np.unique(X[:, 0] * 10_000 + X[:, 1])


@pytest.fixture(scope="module")
def ml100k(real_data_home):
    return load_movielens("100k", data_home=real_data_home, download_if_missing=False)


def test_full_data_has_official_counts(ml100k):
    X, y = ml100k.data, ml100k.target
    assert X.shape == (100_000, 2) and X.dtype == np.int64
    assert y.shape == (100_000,) and y.dtype == np.float64
    assert np.unique(X[:, 0]).size == 943
    assert np.unique(X[:, 1]).size == 1_682
    assert X.min() == 1  # original 1-based ids, not re-indexed
    # Rating histogram from the official README / SOURCE.md.
    histogram = np.bincount(y.astype(int), minlength=6)[1:]
    assert histogram.tolist() == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert ml100k.timestamps.dtype == np.int64
    assert 874_724_710 <= ml100k.timestamps.min() and ml100k.timestamps.max() <= 893_286_638
    assert ml100k.n_duplicates_dropped == 0 and ml100k.n_zero_ratings_dropped == 0
    assert ml100k.rating_scale == (1.0, 5.0)
    assert ml100k.feature_names == ["user", "item"]
    assert ml100k.frame is None
    assert "MovieLens 100K" in ml100k.DESCR and "no redistribution" in ml100k.DESCR
    assert "100,000 ratings (after cleaning)" in ml100k.DESCR


def test_first_row_matches_the_file(ml100k):
    # u.data starts with "196\t242\t3\t881250949".
    assert ml100k.data[0].tolist() == [196, 242]
    assert ml100k.target[0] == 3.0 and ml100k.timestamps[0] == 881_250_949


@pytest.mark.parametrize("split", sorted(_SPLIT_SIZES))
def test_official_splits(split, ml100k, real_data_home):
    X_train, X_test, y_train, y_test = load_movielens(
        "100k", data_home=real_data_home, split=split, return_X_y=True
    )
    assert (len(X_train), len(X_test)) == _SPLIT_SIZES[split]
    assert len(y_train) == len(X_train) and len(y_test) == len(X_test)
    train, test = _pair_codes(X_train), _pair_codes(X_test)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.union1d(train, test), _pair_codes(ml100k.data))
    if split in ("ua", "ub"):
        assert set(np.bincount(X_test[:, 0])[1:].tolist()) == {10}


def test_five_folds_cover_every_rating_once(ml100k, real_data_home):
    folds = [
        load_movielens("100k", data_home=real_data_home, split=f"u{k}", return_X_y=True)
        for k in range(1, 6)
    ]
    test_pairs = np.concatenate([_pair_codes(X_test) for _, X_test, _, _ in folds])
    assert test_pairs.size == 100_000
    assert np.array_equal(np.sort(test_pairs), _pair_codes(ml100k.data))


def test_split_bunch(real_data_home):
    bunch = load_movielens("100k", data_home=real_data_home, split="u1")
    assert bunch.data_train.shape == (80_000, 2) and bunch.data_test.shape == (20_000, 2)
    assert bunch.target_train.dtype == np.float64
    assert bunch.timestamps_test.shape == (20_000,)
    assert bunch.split == "u1"
    assert bunch.filename_train.endswith("u1.base") and bunch.filename_test.endswith("u1.test")
    assert "u1.base (train)" in bunch.DESCR


def test_as_frame(real_data_home):
    pd = pytest.importorskip("pandas")
    bunch = load_movielens("100k", data_home=real_data_home, as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == ["user", "item"]
    assert bunch.data.dtypes.tolist() == [np.int64, np.int64]
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == "rating"
    assert list(bunch.frame.columns) == ["user", "item", "rating", "timestamp"]
    assert len(bunch.frame) == 100_000

    X, y = load_movielens("100k", data_home=real_data_home, as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    X_train, X_test, y_train, y_test = load_movielens(
        "100k", data_home=real_data_home, as_frame=True, return_X_y=True, split="ua"
    )
    assert isinstance(X_test, pd.DataFrame) and len(y_test) == 9_430


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "25m"}, "Unknown MovieLens variant"),
        ({"variant": "1m", "split": "u1"}, "only defined for variant '100k'"),
        ({"variant": "100k", "split": "u6"}, "Unknown split"),
    ],
)
def test_invalid_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        load_movielens(data_home=tmp_path, download_if_missing=False, **kwargs)
