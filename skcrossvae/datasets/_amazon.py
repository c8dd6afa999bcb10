"""Amazon product ratings (McAuley et al.), from the "ratings only" CSV files."""

import csv
import numbers
from array import array

import numpy as np

from ._home import DataIntegrityError, _find_data_file
from ._ratings import _clean_ratings, _CleanRatings, _DatasetInfo, _package

# Category key -> file stem of McAuley's per-category files.
_AMAZON_CATEGORIES = {
    "pet_supplies": ("Pet Supplies", "Pet_Supplies"),
    "kindle_store": ("Kindle Store", "Kindle_Store"),
}

AMAZON_CATEGORIES = tuple(_AMAZON_CATEGORIES)

# The two releases order their columns differently: the 2014 page describes
# (user, item, rating, timestamp) tuples, the 2018 page (item, user, rating, timestamp).
_USER_COLUMN_2018 = 1
_USER_COLUMN_2014 = 0


def _amazon_info(title, stem):
    return _DatasetInfo(
        title=f"Amazon {title} (ratings only)",
        description=(
            f"Ratings (1 to 5 stars) of Amazon products in the category {title}, from "
            "J. McAuley's 'ratings only' files: no reviews or metadata, one (user, item, "
            "rating, timestamp) row per rating. Ids are Amazon's strings (user ids, ASINs); "
            "timestamps are unix seconds."
        ),
        source=(
            f"{stem}.csv of the 2018 release (Ni, Li and McAuley, EMNLP 2019; "
            f"mcauleylab.ucsd.edu) or ratings_{stem}.csv of the 2014 release "
            "(McAuley et al., SIGIR 2015; He and McAuley, WWW 2016)"
        ),
        terms=(
            "no formal licence; research use, citing the paper of the release used "
            "(2018: J. Ni, J. Li and J. McAuley, EMNLP 2019; 2014: R. He and J. McAuley, "
            "WWW 2016, and J. McAuley et al., SIGIR 2015)."
        ),
        rating_scale=(1.0, 5.0),
        how_to_obtain=(
            f"Download {stem}.csv (2018 release) or ratings_{stem}.csv (2014 release) from "
            "J. McAuley's Amazon review data pages and place it in amazon/ under the data home."
        ),
    )


def load_amazon(
    category,
    *,
    data_home=None,
    min_ratings=10,
    download_if_missing=True,
    return_X_y=False,
    as_frame=False,
):
    """Load an Amazon "ratings only" data set, reduced to its ``min_ratings``-core.

    Looks under the data home for ``amazon/<Category>.csv`` (the 2018 release, columns
    item, user, rating, timestamp) and then for ``amazon/ratings_<Category>.csv`` (the
    2014 release, columns user, item, rating, timestamp), e.g. ``Pet_Supplies.csv`` or
    ``ratings_Pet_Supplies.csv``. Both files have no header.

    Parameters
    ----------
    category : {'pet_supplies', 'kindle_store'}
        Which product category to load.
    data_home : str or path-like, default=None
        Folder holding the data sets; see :func:`get_data_home`.
    min_ratings : int, default=10
        Keep only users and items with at least this many ratings, applied repeatedly
        until stable (see Notes). ``1`` keeps everything.
    download_if_missing : bool, default=True
        When neither file is present, download the 2018 file from the McAuley lab address,
        checked against its sha256.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default=False
        Return X as a DataFrame (columns ``'user'``, ``'item'``) and y as a Series
        ``'rating'``; requires pandas.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (an (n, 2) object array of (user id, item id) strings), ``target``
        (float64 ratings), ``timestamps`` (int64 unix seconds), ``frame``,
        ``feature_names``, ``target_names``, ``rating_scale``, ``n_duplicates_dropped``,
        ``n_zero_ratings_dropped``, ``min_ratings``, ``n_below_min_ratings_dropped``,
        ``filename`` and ``DESCR`` (which names the release read).
    (X, y) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    DataNotFoundError
        When neither file is present and none could be downloaded.

    Notes
    -----
    The ``min_ratings`` filter computes a k-core: dropping items with too few ratings
    lowers some users' counts, possibly below the threshold, and the reverse, so a single
    pass can leave users or items with fewer than ``min_ratings`` ratings. The filter is
    therefore repeated until nothing changes; every remaining user and item then has at
    least ``min_ratings`` ratings. Before filtering, duplicated (user, item) pairs are
    resolved by the shared rule (the most recent rating is kept, see
    :func:`drop_duplicate_ratings`), so each pair counts once.
    """
    if category not in _AMAZON_CATEGORIES:
        raise ValueError(
            f"Unknown Amazon category {category!r}; choose one of {list(AMAZON_CATEGORIES)}"
        )
    is_integer = isinstance(min_ratings, numbers.Integral) and not isinstance(min_ratings, bool)
    if not is_integer or min_ratings < 1:
        raise ValueError(f"min_ratings must be an integer >= 1; got {min_ratings!r}")
    title, stem = _AMAZON_CATEGORIES[category]
    info = _amazon_info(title, stem)
    candidate = _find_data_file(
        [f"amazon/{stem}.csv", f"amazon/ratings_{stem}.csv"],
        data_home=data_home,
        download_if_missing=download_if_missing,
        dataset_name=info.title,
        how_to_obtain=info.how_to_obtain,
        source_key=f"amazon-{category}",
    )
    release_2018 = candidate.path.name == f"{stem}.csv"
    user_column = _USER_COLUMN_2018 if release_2018 else _USER_COLUMN_2014
    codes, ratings, timestamps, user_ids, item_ids = _read_amazon_csv(candidate.path, user_column)

    clean = _clean_ratings(codes, ratings, timestamps=timestamps, source=candidate.path)
    in_core = _k_core_mask(clean.X, min_ratings)
    n_below = int(in_core.size - np.count_nonzero(in_core))
    core = clean.X[in_core]
    clean = _CleanRatings(
        X=np.column_stack([user_ids[core[:, 0]], item_ids[core[:, 1]]]),
        y=clean.y[in_core],
        timestamps=clean.timestamps[in_core],
        n_zero_ratings_dropped=clean.n_zero_ratings_dropped,
        n_duplicates_dropped=clean.n_duplicates_dropped,
    )
    release = "2018 release (item, user, rating, timestamp)" if release_2018 else (
        "2014 release (user, item, rating, timestamp)"
    )
    return _package(
        clean,
        info=info,
        filenames=[candidate.path],
        return_X_y=return_X_y,
        as_frame=as_frame,
        id_dtype=str,
        extra_notes=[
            f"Release: {candidate.path.name} is the {release}.",
            f"Then kept the {min_ratings}-core (users and items with at least {min_ratings} "
            f"ratings, filtered repeatedly until stable): {n_below:,} ratings dropped.",
        ],
        min_ratings=min_ratings,
        n_below_min_ratings_dropped=n_below,
    )


def _read_amazon_csv(path, user_column):
    """Read a headerless 4-column ratings CSV, turning string ids into integer codes.

    Codes keep memory low on files of millions of rows; ``user_ids[code]`` gives back the
    string.
    """
    item_column = 1 - user_column
    user_codes, item_codes = {}, {}
    users, items, timestamps = array("q"), array("q"), array("q")
    ratings = array("d")
    with open(path, newline="", encoding="utf-8") as file:
        for line_number, row in enumerate(csv.reader(file), start=1):
            if len(row) != 4:
                raise DataIntegrityError(
                    f"{path}, line {line_number}: expected 4 comma-separated fields "
                    f"(user/item, item/user, rating, timestamp), got {len(row)}"
                )
            try:
                rating, timestamp = float(row[2]), int(row[3])
            except ValueError as exc:
                raise DataIntegrityError(f"{path}, line {line_number}: {exc}") from None
            users.append(user_codes.setdefault(row[user_column], len(user_codes)))
            items.append(item_codes.setdefault(row[item_column], len(item_codes)))
            ratings.append(rating)
            timestamps.append(timestamp)
    codes = np.column_stack(
        [np.frombuffer(users, dtype=np.int64), np.frombuffer(items, dtype=np.int64)]
    )
    # dicts keep insertion order, which is the code order.
    return (
        codes,
        np.frombuffer(ratings, dtype=np.float64).copy(),
        np.frombuffer(timestamps, dtype=np.int64).copy(),
        np.array(list(user_codes), dtype=object),
        np.array(list(item_codes), dtype=object),
    )


def _k_core_mask(codes, min_ratings):
    """Rows kept when users and items with fewer than ``min_ratings`` rows are dropped
    repeatedly until every remaining user and item has at least ``min_ratings``."""
    users, items = codes[:, 0], codes[:, 1]
    keep = np.ones(len(codes), dtype=bool)
    while True:
        user_counts = np.bincount(users[keep], minlength=users.max(initial=-1) + 1)
        item_counts = np.bincount(items[keep], minlength=items.max(initial=-1) + 1)
        enough = (user_counts[users] >= min_ratings) & (item_counts[items] >= min_ratings)
        still_kept = keep & enough
        if np.array_equal(still_kept, keep):
            return keep
        keep = still_kept
