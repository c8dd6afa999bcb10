"""Rating file formats, and the errors for files that break them, read from small files written here."""

import numpy as np
import pytest

from skcrossvae.datasets import DataIntegrityError, load_filmtrust, load_movielens

_DOUBLE_COLON = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
_CSV = (
    "userId,movieId,rating,timestamp\n"
    "1,31,2.5,1260759144\n1,1029,3.0,1260759179\n7,31,4.5,851866703\n"
)


@pytest.mark.parametrize(
    "variant, path, content",
    [
        ("1m", "ml-1m/ratings.dat", _DOUBLE_COLON),
        ("10m", "ml-10M100K/ratings.dat", _DOUBLE_COLON),
        ("20m", "ml-20m/ratings.csv", _CSV),
        ("latest-small", "ml-latest-small/ratings.csv", _CSV),
    ],
)
def test_official_formats(variant, path, content, tmp_path):
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(content)
    bunch = load_movielens(variant, data_home=tmp_path, download_if_missing=False)
    if path.endswith(".dat"):
        assert bunch.data.tolist() == [[1, 1193], [1, 661], [2, 1193]]
        assert bunch.target.tolist() == [5.0, 3.0, 4.0]
        assert bunch.timestamps.tolist() == [978300760, 978302109, 978298413]
    else:
        assert bunch.data.tolist() == [[1, 31], [1, 1029], [7, 31]]
        assert bunch.target.tolist() == [2.5, 3.0, 4.5]
        assert bunch.timestamps.tolist() == [1260759144, 1260759179, 851866703]
    assert bunch.data.dtype == np.int64 and bunch.timestamps.dtype == np.int64
    assert bunch.filename == str(tmp_path / path)


def test_duplicates_keep_the_most_recent_rating(tmp_path):
    (tmp_path / "ml-1m").mkdir()
    # The pair (1, 10) is rated three times; the latest (timestamp 300) is in the middle.
    (tmp_path / "ml-1m" / "ratings.dat").write_text(
        "1::10::1::100\n1::10::5::300\n2::10::3::50\n1::10::2::200\n"
    )
    bunch = load_movielens("1m", data_home=tmp_path, download_if_missing=False)
    assert bunch.data.tolist() == [[1, 10], [2, 10]]
    assert bunch.target.tolist() == [5.0, 3.0]
    assert bunch.timestamps.tolist() == [300, 50]
    assert bunch.n_duplicates_dropped == 2
    assert "2 duplicate (user, item) ratings dropped" in bunch.DESCR


@pytest.mark.parametrize("row, message", [
    ("1\t10\tnan\t881250949", r"ratings at data rows 2 are NaN or infinite"),
    ("1\t10\tinf\t881250949", r"ratings at data rows 2 are NaN or infinite"),
    ("1.5\t10\t4\t881250949", r"user ids at data rows 2 are not integers .*1.5"),
    ("1\t1e30\t4\t881250949", r"item ids at data rows 2 are not integers in the int64 range"),
    ("9007199254740993\t10\t4\t881250949", r"user ids at data rows 2 are not integers .*below 2\*\*53"),
    ("1\tten\t4\t881250949", r"could not be read as rating data"),
], ids=["nan", "inf", "fractional_id", "huge_id", "id_beyond_float64_precision", "parse_error"])
def test_bad_values_in_a_file_are_refused_naming_it(row, message, tmp_path):
    (tmp_path / "ml-100k").mkdir()
    path = tmp_path / "ml-100k" / "u.data"
    path.write_text("1\t20\t3\t881250949\n" + row + "\n")
    with pytest.raises(DataIntegrityError, match=rf"{path}.*{message}"):
        load_movielens("100k", data_home=tmp_path, download_if_missing=False)


def test_a_file_without_ratings_is_refused(tmp_path):
    (tmp_path / "filmtrust").mkdir()
    (tmp_path / "filmtrust" / "ratings.txt").write_text("")
    with pytest.raises(DataIntegrityError, match="holds no ratings"):
        load_filmtrust(data_home=tmp_path, download_if_missing=False)
