"""FilmTrust, CiaoDVD, Tang's Epinions and Ciao (shared copies), and Amazon (small files)."""

import io
import zipfile

import numpy as np
import pytest
import scipy.io

from skcrossvae.datasets import (
    DataIntegrityError,
    DataNotFoundError,
    load_amazon,
    load_ciao,
    load_ciaodvd,
    load_epinions,
    load_filmtrust,
)

# Counts measured on the shared copies; the raw counts match each folder's SOURCE.md.
# name: (loader, raw rows, zeros dropped, duplicates dropped, users, items, scale)
_REAL_COUNTS = {
    "filmtrust": (load_filmtrust, 35_497, 0, 3, 1_508, 2_071, (0.5, 4.0)),
    "ciaodvd": (load_ciaodvd, 72_665, 0, 320, 17_615, 16_121, (1.0, 5.0)),
    "epinions": (load_epinions, 922_267, 0, 9_826, 22_164, 296_277, (1.0, 5.0)),
    # 18 products of Ciao were rated only with 0, so 105,114 - 18 items remain.
    "ciao": (load_ciao, 284_086, 34, 1_433, 7_375, 105_096, (1.0, 5.0)),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(_REAL_COUNTS))
def test_real_counts(name, real_data_home):
    loader, n_raw, n_zeros, n_duplicates, n_users, n_items, scale = _REAL_COUNTS[name]
    bunch = loader(data_home=real_data_home, download_if_missing=False)
    X, y = bunch.data, bunch.target
    assert bunch.n_zero_ratings_dropped == n_zeros
    assert bunch.n_duplicates_dropped == n_duplicates
    assert len(y) == n_raw - n_zeros - n_duplicates
    assert X.dtype == np.int64 and y.dtype == np.float64
    assert np.unique(X[:, 0]).size == n_users and np.unique(X[:, 1]).size == n_items
    pair_codes = X[:, 0] * (X[:, 1].max() + 1) + X[:, 1]
    assert np.unique(pair_codes).size == len(y), "no duplicate pair is left"
    assert bunch.rating_scale == scale
    assert scale[0] <= y.min() and y.max() <= scale[1]
    assert f"{n_duplicates:,} duplicate" in bunch.DESCR


@pytest.mark.realdata
def test_filmtrust_scale_has_half_steps(real_data_home):
    y = load_filmtrust(data_home=real_data_home, return_X_y=True)[1]
    assert np.unique(y).tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]


@pytest.mark.realdata
def test_ciaodvd_keeps_the_most_recent_duplicate(real_data_home):
    path = real_data_home / "ciaodvd" / "movie-ratings.txt"
    raw = np.loadtxt(path, delimiter=",", usecols=(0, 1, 4, 5), dtype=str)
    bunch = load_ciaodvd(data_home=real_data_home)
    assert bunch.timestamps.dtype == np.int64
    # 2000-07-12 (first row's date) as unix seconds at midnight UTC.
    assert bunch.timestamps[0] == 963_360_000
    kept = {
        (user, item): (rating, time)
        for (user, item), rating, time in zip(bunch.data.tolist(), bunch.target, bunch.timestamps)
    }
    by_pair = {}
    for user, item, rating, date in raw.tolist():
        time = np.datetime64(date, "s").astype(int)
        by_pair.setdefault((int(user), int(item)), []).append((time, float(rating)))
    for pair, ratings in by_pair.items():
        if len(ratings) > 1:
            latest = max(ratings, key=lambda entry: entry[0])[0]
            # Latest date wins; on a tie, the last such row of the file.
            expected_rating = [rating for time, rating in ratings if time == latest][-1]
            assert kept[pair] == (expected_rating, latest)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "loader, folder, archive",
    [(load_ciao, "ciao_tang", "ciao.zip"), (load_epinions, "epinions_tang", "epinions.zip")],
)
def test_tang_zip_gives_the_same_data(loader, folder, archive, real_data_home, tmp_path):
    # A symbolic link, not a copy: the shared data stays where it is.
    (tmp_path / folder).mkdir()
    (tmp_path / folder / archive).symlink_to(real_data_home / folder / archive)
    from_zip = loader(data_home=tmp_path)
    from_folder = loader(data_home=real_data_home)
    assert "inside" in from_zip.filename
    np.testing.assert_array_equal(from_zip.data, from_folder.data)
    np.testing.assert_array_equal(from_zip.target, from_folder.target)


@pytest.mark.realdata
def test_as_frame_for_tang(real_data_home):
    pd = pytest.importorskip("pandas")
    X, y = load_ciao(data_home=real_data_home, as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and list(X.columns) == ["user", "item"]
    assert isinstance(y, pd.Series) and y.name == "rating" and len(y) == 282_619


# --- Tang format without real data ------------------------------------------------------


def _tang_zip(path, rating):
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"rating": rating})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ciao/rating.mat", buffer.getvalue())


def test_tang_zero_and_duplicate_rules(tmp_path):
    # user, product, category, rating, helpfulness
    rating = np.array(
        [
            [1, 1, 1, 4, 1],
            [1, 2, 1, 0, 1],
            [2, 1, 1, 3, 1],
            [1, 1, 1, 2, 1],
            [1, 2, 1, 5, 1],
            [1, 2, 1, 0, 1],
        ],
        dtype=np.int32,
    )
    (tmp_path / "ciao_tang").mkdir()
    _tang_zip(tmp_path / "ciao_tang" / "ciao.zip", rating)
    bunch = load_ciao(data_home=tmp_path)
    # Zeros go first, so the trailing zero of (1, 2) does not hide its rating 5.
    assert bunch.data.tolist() == [[2, 1], [1, 1], [1, 2]]
    assert bunch.target.tolist() == [3.0, 2.0, 5.0]
    assert bunch.n_zero_ratings_dropped == 2 and bunch.n_duplicates_dropped == 1
    assert bunch.timestamps is None


def test_corrupt_local_zip_is_reported(tmp_path):
    (tmp_path / "ciao_tang").mkdir()
    (tmp_path / "ciao_tang" / "ciao.zip").write_bytes(b"not a zip")
    with pytest.raises(DataIntegrityError, match="not a valid zip"):
        load_ciao(data_home=tmp_path)


# --- Amazon -----------------------------------------------------------------------------

# user, item, rating, timestamp (2014 order). Users A..D, items 1..3.
_AMAZON_ROWS = [
    ("A", "i1", 5.0, 10), ("A", "i2", 4.0, 11), ("A", "i3", 3.0, 12),
    ("B", "i1", 2.0, 13), ("B", "i2", 1.0, 14), ("B", "i3", 5.0, 15),
    ("C", "i1", 4.0, 16), ("C", "i2", 4.0, 17),
    ("D", "i3", 3.0, 18),
    ("A", "i1", 1.0, 5),  # older duplicate of (A, i1): dropped, 5.0 (time 10) is kept
]


def _write_amazon(path, user_first):
    lines = [
        ",".join([user, item] if user_first else [item, user]) + f",{rating},{time}"
        for user, item, rating, time in _AMAZON_ROWS
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "filename, user_first", [("ratings_Pet_Supplies.csv", True), ("Pet_Supplies.csv", False)]
)
def test_amazon_releases_and_min_ratings(filename, user_first, tmp_path):
    _write_amazon(tmp_path / "amazon" / filename, user_first)
    everything = load_amazon("pet_supplies", data_home=tmp_path, min_ratings=1)
    assert everything.data.dtype == object
    assert everything.n_duplicates_dropped == 1
    assert len(everything.target) == 9
    assert everything.target[0] == 5.0 and everything.timestamps[0] == 10
    assert ("2014" if user_first else "2018") + " release" in everything.DESCR

    # min_ratings=2 drops D (1 rating); then i3 has 2 ratings left (A, B), still kept.
    # min_ratings=3 drops C and D, then i3 (A, B) and every item has 2 < 3: nothing left
    # after repeating, although a single pass would have kept A and B.
    two = load_amazon("pet_supplies", data_home=tmp_path, min_ratings=2)
    assert sorted(set(two.data[:, 0])) == ["A", "B", "C"]
    assert two.n_below_min_ratings_dropped == 1 and two.min_ratings == 2
    three = load_amazon("pet_supplies", data_home=tmp_path, min_ratings=3)
    assert len(three.target) == 0 and three.n_below_min_ratings_dropped == 9


def test_amazon_k_core_is_stable(tmp_path):
    # One pass would keep user U1 (2 ratings), but item x has only one rating, so after it
    # goes U1 has 1 rating left and must go too.
    rows = ["U1,x,5,1", "U1,y,4,2", "U2,y,3,3", "U2,z,3,4", "U3,y,2,5", "U3,z,1,6"]
    (tmp_path / "amazon").mkdir()
    (tmp_path / "amazon" / "ratings_Kindle_Store.csv").write_text("\n".join(rows) + "\n")
    bunch = load_amazon("kindle_store", data_home=tmp_path, min_ratings=2)
    pairs = sorted(map(tuple, bunch.data.tolist()))
    assert pairs == [("U2", "y"), ("U2", "z"), ("U3", "y"), ("U3", "z")]
    assert "2-core" in bunch.DESCR


def test_amazon_as_frame_keeps_string_ids(tmp_path):
    pd = pytest.importorskip("pandas")
    _write_amazon(tmp_path / "amazon" / "Pet_Supplies.csv", user_first=False)
    X, y = load_amazon(
        "pet_supplies", data_home=tmp_path, min_ratings=1, as_frame=True, return_X_y=True
    )
    assert isinstance(X, pd.DataFrame) and X["user"].iloc[0] == "A" and X["item"].iloc[0] == "i1"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"category": "books"}, ValueError, "Unknown Amazon category"),
        ({"category": "pet_supplies", "min_ratings": 0}, ValueError, "min_ratings"),
        ({"category": "pet_supplies", "min_ratings": 2.5}, ValueError, "min_ratings"),
    ],
)
def test_amazon_invalid_arguments(kwargs, error, message, tmp_path):
    with pytest.raises(error, match=message):
        load_amazon(data_home=tmp_path, download_if_missing=False, **kwargs)


def test_amazon_missing_names_both_releases(tmp_path):
    with pytest.raises(DataNotFoundError) as excinfo:
        load_amazon("kindle_store", data_home=tmp_path, download_if_missing=False)
    message = str(excinfo.value)
    assert "amazon/Kindle_Store.csv" in message.replace("\\", "/")
    assert "amazon/ratings_Kindle_Store.csv" in message.replace("\\", "/")


def test_amazon_malformed_line(tmp_path):
    (tmp_path / "amazon").mkdir()
    (tmp_path / "amazon" / "Pet_Supplies.csv").write_text("i1,A,5.0,10\ni2,B,4.0\n")
    with pytest.raises(DataIntegrityError, match="Pet_Supplies.csv, line 2: expected 4"):
        load_amazon("pet_supplies", data_home=tmp_path)
