"""MovieLens rating data sets (GroupLens), read from their official archive layout."""

from dataclasses import dataclass

import numpy as np

from ._home import _find_data_file
from ._ratings import _clean_ratings, _DatasetInfo, _package, _package_split, _read_numeric_columns

_MOVIELENS_TERMS = (
    "GroupLens research-use terms: research use only, no redistribution without separate "
    "permission, no commercial use without permission; cite F. M. Harper and J. A. Konstan, "
    "'The MovieLens Datasets: History and Context', ACM TiiS 5(4), 2015. skcrossvae ships "
    "no MovieLens file."
)

MOVIELENS_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


@dataclass(frozen=True)
class _MovieLensFormat:
    """Where a variant's ratings file sits and how its columns are laid out."""

    ratings_path: str
    delimiter: str
    usecols: tuple
    skiprows: int
    info: _DatasetInfo


def _movielens_info(title, archive, description, rating_scale):
    return _DatasetInfo(
        title=title,
        description=description,
        source=f"GroupLens, https://files.grouplens.org/datasets/movielens/{archive}",
        terms=_MOVIELENS_TERMS,
        rating_scale=rating_scale,
        how_to_obtain=(
            f"Download {archive} from https://grouplens.org/datasets/movielens/ and unzip it "
            "into the data home, keeping the archive's top folder."
        ),
    )


# ratings.dat separates fields with "::"; reading it with ":" as delimiter yields an empty
# field between each pair of values, hence every other column.
_DOUBLE_COLON_COLUMNS = (0, 2, 4, 6)

_MOVIELENS_FORMATS = {
    "100k": _MovieLensFormat(
        ratings_path="ml-100k/u.data",
        delimiter="\t",
        usecols=(0, 1, 2, 3),
        skiprows=0,
        info=_movielens_info(
            "MovieLens 100K",
            "ml-100k.zip",
            "100,000 ratings (1 to 5 stars) from 943 users on 1,682 movies, collected by the "
            "MovieLens web site from September 1997 to April 1998; every user rated at least "
            "20 movies. The archive also holds the official splits u1..u5 (five disjoint "
            "80%/20% folds) and ua/ub (exactly 10 test ratings per user).",
            (1.0, 5.0),
        ),
    ),
    "1m": _MovieLensFormat(
        ratings_path="ml-1m/ratings.dat",
        delimiter=":",
        usecols=_DOUBLE_COLON_COLUMNS,
        skiprows=0,
        info=_movielens_info(
            "MovieLens 1M",
            "ml-1m.zip",
            "1,000,209 ratings (1 to 5 stars) from 6,040 users on 3,706 movies, made on "
            "MovieLens in 2000 to 2003; every user rated at least 20 movies.",
            (1.0, 5.0),
        ),
    ),
    "10m": _MovieLensFormat(
        ratings_path="ml-10M100K/ratings.dat",
        delimiter=":",
        usecols=_DOUBLE_COLON_COLUMNS,
        skiprows=0,
        info=_movielens_info(
            "MovieLens 10M",
            "ml-10m.zip",
            "10,000,054 ratings (0.5 to 5 stars in half-star steps) from 69,878 users on "
            "10,677 movies; every user rated at least 20 movies.",
            (0.5, 5.0),
        ),
    ),
    "20m": _MovieLensFormat(
        ratings_path="ml-20m/ratings.csv",
        delimiter=",",
        usecols=(0, 1, 2, 3),
        skiprows=1,
        info=_movielens_info(
            "MovieLens 20M",
            "ml-20m.zip",
            "20,000,263 ratings (0.5 to 5 stars in half-star steps) from 138,493 users on "
            "26,744 movies, made from 1995 to 2015; every user rated at least 20 movies.",
            (0.5, 5.0),
        ),
    ),
    "latest-small": _MovieLensFormat(
        ratings_path="ml-latest-small/ratings.csv",
        delimiter=",",
        usecols=(0, 1, 2, 3),
        skiprows=1,
        info=_movielens_info(
            "MovieLens Latest Small",
            "ml-latest-small.zip",
            "About 100,000 ratings (0.5 to 5 stars in half-star steps) from about 600 users "
            "on about 9,700 movies. GroupLens updates the 'latest' data sets over time, so "
            "they are meant for development, not for reporting research results.",
            (0.5, 5.0),
        ),
    ),
}

MOVIELENS_VARIANTS = tuple(_MOVIELENS_FORMATS)


def load_movielens(
    variant,
    *,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    as_frame=False,
    split=None,
):
    """Load a MovieLens explicit-rating data set.

    Reads the official GroupLens files: ``u.data`` (tab-separated) for 100K,
    ``ratings.dat`` (``::``-separated) for 1M and 10M, ``ratings.csv`` for 20M and
    latest-small. They are looked for under the data home with the folder layout of the
    official archives (``ml-100k/u.data``, ``ml-1m/ratings.dat``,
    ``ml-10M100K/ratings.dat``, ``ml-20m/ratings.csv``, ``ml-latest-small/ratings.csv``).

    Parameters
    ----------
    variant : {'100k', '1m', '10m', '20m', 'latest-small'}
        Which MovieLens release to load.
    data_home : str or path-like, default=None
        Folder holding the data sets; see :func:`get_data_home` (``None``: the
        ``SKCROSSVAE_DATA`` environment variable, else ``~/skcrossvae_data``).
    download_if_missing : bool, default=True
        When the file is absent, download the official GroupLens zip into the data home.
        When ``False``, a missing file raises :class:`DataNotFoundError`.
    return_X_y : bool, default=False
        Return ``(X, y)`` (or, with ``split``, ``(X_train, X_test, y_train, y_test)``)
        instead of a Bunch.
    as_frame : bool, default=False
        Return X as a pandas DataFrame with columns ``'user'`` and ``'item'`` and y as a
        Series named ``'rating'``; the Bunch then also holds the full ``frame``.
        Requires pandas.
    split : {'u1', 'u2', 'u3', 'u4', 'u5', 'ua', 'ub'}, default=None
        100K only: return the official train/test split read from ``<split>.base`` and
        ``<split>.test`` instead of all ratings.

    Returns
    -------
    data : sklearn.utils.Bunch
        Without ``split``: ``data`` (X, an (n_ratings, 2) int64 array of the original
        (user id, item id) pairs), ``target`` (y, float64 ratings), ``timestamps``
        (int64 unix seconds), ``frame`` (DataFrame or None), ``feature_names``,
        ``target_names``, ``rating_scale``, ``n_duplicates_dropped``,
        ``n_zero_ratings_dropped``, ``filename`` and ``DESCR``. With ``split``:
        ``data_train``, ``data_test``, ``target_train``, ``target_test``,
        ``timestamps_train``, ``timestamps_test``, ``frame_train``, ``frame_test``,
        ``filename_train``, ``filename_test``, ``split`` and the other keys above.
    (X, y) : tuple
        When ``return_X_y=True`` and no ``split``.
    (X_train, X_test, y_train, y_test) : tuple
        When ``return_X_y=True`` with ``split``.

    Raises
    ------
    DataNotFoundError
        When the file is absent and could not be downloaded (offline, or
        ``download_if_missing=False``).
    DataIntegrityError
        When a download fails its checksum or archive checks; nothing is kept.

    Notes
    -----
    MovieLens may not be redistributed without GroupLens' permission, so skcrossvae ships
    no MovieLens file; the download fetches the official archive. The downloaded archive
    is verified against its published sha256 where one is known (100K, 1M, 20M), and
    otherwise (10M, latest-small) by the zip's CRC checks and the presence of the
    ratings file. Ids are kept as in the files (1-based, not re-indexed). Every loader
    drops zero ratings and keeps only the last rating of a duplicated (user, item) pair
    (the most recent by timestamp); MovieLens has neither, so nothing is dropped.

    Examples
    --------
    >>> from skcrossvae.datasets import load_movielens
    >>> X, y = load_movielens("100k", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((100000, 2), (100000,))
    """
    if variant not in _MOVIELENS_FORMATS:
        raise ValueError(
            f"Unknown MovieLens variant {variant!r}; choose one of {list(MOVIELENS_VARIANTS)}"
        )
    if split is not None and variant != "100k":
        raise ValueError(
            f"split is only defined for variant '100k' (official u1..u5/ua/ub files); "
            f"got split={split!r} with variant={variant!r}"
        )
    if split is not None and split not in MOVIELENS_SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(MOVIELENS_SPLITS)}")

    layout = _MOVIELENS_FORMATS[variant]
    find = dict(
        data_home=data_home,
        download_if_missing=download_if_missing,
        dataset_name=layout.info.title,
        how_to_obtain=layout.info.how_to_obtain,
        source_key=f"ml-{variant}",
    )
    if split is None:
        candidate = _find_data_file([layout.ratings_path], **find)
        clean = _read_movielens(candidate.path, layout)
        return _package(
            clean,
            info=layout.info,
            filenames=[candidate.path],
            return_X_y=return_X_y,
            as_frame=as_frame,
            id_dtype=np.int64,
        )

    folder = layout.ratings_path.rsplit("/", 1)[0]
    train_file = _find_data_file([f"{folder}/{split}.base"], **find)
    test_file = _find_data_file([f"{folder}/{split}.test"], **find)
    return _package_split(
        _read_movielens(train_file.path, layout),
        _read_movielens(test_file.path, layout),
        info=layout.info,
        filenames=[train_file.path, test_file.path],
        return_X_y=return_X_y,
        as_frame=as_frame,
        id_dtype=np.int64,
        split=split,
    )


def _read_movielens(path, layout):
    table = _read_numeric_columns(
        path, delimiter=layout.delimiter, usecols=layout.usecols, skiprows=layout.skiprows
    )
    return _clean_ratings(table[:, :2], table[:, 2], timestamps=table[:, 3].astype(np.int64), source=path)
