"""MovieLens file formats other than u.data, read from small files written here."""

import numpy as np
import pytest

from skcrossvae.datasets import load_movielens

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
