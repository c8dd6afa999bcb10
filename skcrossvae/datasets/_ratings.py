"""Shared cleaning and packaging of rating data: one rule set for every loader."""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import Bunch

from ._home import DataIntegrityError

FEATURE_NAMES = ["user", "item"]
TARGET_NAME = "rating"


@dataclass(frozen=True)
class _DatasetInfo:
    """What DESCR and the error messages say about one data set."""

    title: str
    description: str
    source: str
    terms: str
    rating_scale: tuple
    how_to_obtain: str


def drop_duplicate_ratings(X, y, timestamps=None):
    """Keep one rating per (user, item) pair: the last one.

    This is the rule every loader of ``skcrossvae.datasets`` applies. Without
    timestamps, "last" means last in the given order (file order). With timestamps, the
    ratings are first ordered by time with a stable sort, so the most recent rating wins
    and ties keep the given order. The kept rows stay in their original order.

    Parameters
    ----------
    X : array-like of shape (n_ratings, 2)
        (user, item) identifiers; integers or strings. A pandas DataFrame stays one.
    y : array-like of shape (n_ratings,)
        The ratings. A pandas Series stays one.
    timestamps : array-like of shape (n_ratings,), default=None
        Times of the ratings (any sortable values, e.g. unix seconds).

    Returns
    -------
    X_unique : ndarray or DataFrame of shape (n_kept, 2)
    y_unique : ndarray or Series of shape (n_kept,)
    timestamps_unique : ndarray of shape (n_kept,) or None
        ``None`` when ``timestamps`` is ``None``.
    n_dropped : int
        Number of rows removed (``n_ratings - n_kept``).

    Notes
    -----
    The estimators of this package reject duplicate pairs with an error instead of
    guessing; apply this function to your own data to use the same rule as the loaders.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrossvae.datasets import drop_duplicate_ratings
    >>> X = np.array([[1, 10], [2, 10], [1, 10]])
    >>> y = np.array([3.0, 4.0, 5.0])
    >>> X_unique, y_unique, _, n_dropped = drop_duplicate_ratings(X, y)
    >>> X_unique.tolist(), y_unique.tolist(), n_dropped
    ([[2, 10], [1, 10]], [4.0, 5.0], 1)
    >>> _, y_unique, _, _ = drop_duplicate_ratings(X, y, timestamps=[5, 1, 2])
    >>> y_unique.tolist()  # the rating at time 5 is the most recent for (1, 10)
    [3.0, 4.0]
    """
    X_values = np.asarray(X)
    if X_values.ndim != 2 or X_values.shape[1] != 2:
        raise ValueError(
            "X must have shape (n_ratings, 2) holding (user, item) pairs; "
            f"got shape {X_values.shape}"
        )
    n_ratings = X_values.shape[0]
    if len(y) != n_ratings:
        raise ValueError(f"y has {len(y)} entries but X has {n_ratings} rows")
    if timestamps is not None:
        timestamps = np.asarray(timestamps)
        if timestamps.shape != (n_ratings,):
            raise ValueError(
                f"timestamps must have shape ({n_ratings},) like y; got {timestamps.shape}"
            )
        order = np.argsort(timestamps, kind="stable")
    else:
        order = np.arange(n_ratings)

    pair_codes = _pair_codes(X_values)
    # Reversing the processing order turns "last occurrence" into "first occurrence",
    # which np.unique reports.
    reversed_order = order[::-1]
    _, first_in_reversed = np.unique(pair_codes[reversed_order], return_index=True)
    kept = np.sort(reversed_order[first_in_reversed])

    timestamps_unique = None if timestamps is None else timestamps[kept]
    return _take(X, kept), _take(y, kept), timestamps_unique, int(n_ratings - kept.size)


def _pair_codes(X_values):
    """One int64 code per row, equal exactly when the (user, item) pairs are equal."""
    _, user_codes = np.unique(X_values[:, 0], return_inverse=True)
    item_ids, item_codes = np.unique(X_values[:, 1], return_inverse=True)
    return user_codes.astype(np.int64) * len(item_ids) + item_codes


def _take(values, indices):
    """Index rows, keeping pandas objects as pandas objects."""
    if hasattr(values, "iloc"):
        return values.iloc[indices]
    return np.asarray(values)[indices]


def _read_numeric_columns(path, *, delimiter, usecols, skiprows=0):
    """Read numeric text columns as float64 (exact for the integer ids and unix times here)."""
    try:
        return np.loadtxt(
            path, delimiter=delimiter, usecols=usecols, skiprows=skiprows, dtype=np.float64, ndmin=2
        )
    except ValueError as exc:
        raise DataIntegrityError(f"{path} could not be read as rating data: {exc}") from None


def _rows(positions):
    shown = ", ".join(str(int(p) + 1) for p in positions[:5])
    return f"{shown}{' and more' if len(positions) > 5 else ''}"


def _integer_ids(column, source, name):
    """A column of ids read from ``source`` as int64, refusing values that are not integers."""
    if column.dtype.kind in "iu":
        return column.astype(np.int64)
    try:
        values = column.astype(np.float64)
    except ValueError as exc:
        raise DataIntegrityError(f"{source}: a {name} id is not a number ({exc})") from None
    # Text columns are parsed as float64, which holds integers exactly below 2**53 only: a larger
    # id may have been read as its neighbour (9007199254740993 as ...992), so it is refused.
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**53))
    if bad.size:
        raise DataIntegrityError(
            f"{source}: {name} ids at data rows {_rows(bad)} are not integers in the int64 range "
            f"that the file's text is read exactly in (magnitude below 2**53; for example "
            f"{column[bad[0]]!r})"
        )
    return values.astype(np.int64)


@dataclass
class _CleanRatings:
    """Ratings after the shared cleaning rules, with what was removed."""

    X: np.ndarray
    y: np.ndarray
    timestamps: np.ndarray | None
    n_zero_ratings_dropped: int
    n_duplicates_dropped: int


def _clean_ratings(X, y, timestamps=None, *, source):
    """Check what was read from ``source``, then apply the shared rules: drop zero ratings,
    then duplicate pairs (keep last).

    Ids must be integers (or, for ``X`` of strings, any strings) and ratings finite numbers; a
    file that breaks this raises :class:`DataIntegrityError` naming it. Zero is outside the scale
    of every data set loaded here; in Tang's Ciao release it marks "no rating". Zeros go first
    so that a zero never hides a real rating of the same pair.
    """
    X = np.asarray(X)
    if X.dtype.kind != "O":
        X = np.column_stack([_integer_ids(X[:, k], source, name) for k, name in enumerate(("user", "item"))])
    try:
        y = np.asarray(y, dtype=np.float64)
    except ValueError as exc:
        raise DataIntegrityError(f"{source}: a rating is not a number ({exc})") from None
    if y.size == 0:
        raise DataIntegrityError(f"{source} holds no ratings")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataIntegrityError(f"{source}: ratings at data rows {_rows(bad)} are NaN or infinite")
    nonzero = y != 0
    n_zero = int(np.count_nonzero(~nonzero))
    if n_zero:
        X, y = X[nonzero], y[nonzero]
        timestamps = None if timestamps is None else timestamps[nonzero]
    X, y, timestamps, n_duplicates = drop_duplicate_ratings(X, y, timestamps)
    return _CleanRatings(X, y, timestamps, n_zero, n_duplicates)


def _to_frame(clean, *, id_dtype):
    """The ratings as a DataFrame: user, item, rating and (when known) timestamp."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("as_frame=True needs pandas: pip install pandas") from exc
    columns = {
        FEATURE_NAMES[0]: pd.Series(clean.X[:, 0], dtype=id_dtype),
        FEATURE_NAMES[1]: pd.Series(clean.X[:, 1], dtype=id_dtype),
        TARGET_NAME: pd.Series(clean.y, dtype=np.float64),
    }
    if clean.timestamps is not None:
        columns["timestamp"] = pd.Series(clean.timestamps, dtype=np.int64)
    return pd.DataFrame(columns)


def _ratings_summary(clean):
    n_users = np.unique(clean.X[:, 0]).size
    n_items = np.unique(clean.X[:, 1]).size
    return f"{n_users:,} users, {n_items:,} items, {clean.y.size:,} ratings"


def _describe(info, parts, *, filenames, extra_notes=()):
    """DESCR text: what the data set is, how it was cleaned, where it came from."""
    low, high = info.rating_scale
    lines = [info.title, "=" * len(info.title), "", info.description, ""]
    for label, clean in parts:
        prefix = f"{label}: " if label else ""
        lines.append(
            f"{prefix}{_ratings_summary(clean)} (after cleaning); scale {low:g} to {high:g}."
        )
    n_zero = sum(clean.n_zero_ratings_dropped for _, clean in parts)
    n_duplicates = sum(clean.n_duplicates_dropped for _, clean in parts)
    lines += [
        "",
        f"Cleaning: {n_zero:,} zero ratings dropped (0 is outside the rating scale); "
        f"{n_duplicates:,} duplicate (user, item) ratings dropped, keeping the last one "
        "(the most recent where timestamps exist, else the last in file order).",
        *extra_notes,
        "",
        f"Source: {info.source}",
        f"Terms: {info.terms}",
        "Read from: " + ", ".join(str(name) for name in filenames),
    ]
    return "\n".join(lines)


def _package(clean, *, info, filenames, return_X_y, as_frame, id_dtype, extra_notes=(), **extra):
    """Return ``(X, y)`` or the full Bunch for one set of cleaned ratings."""
    frame = _to_frame(clean, id_dtype=id_dtype) if as_frame else None
    if as_frame:
        X, y = frame[FEATURE_NAMES], frame[TARGET_NAME]
    else:
        X, y = clean.X, clean.y
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        timestamps=clean.timestamps,
        frame=frame,
        feature_names=list(FEATURE_NAMES),
        target_names=[TARGET_NAME],
        rating_scale=info.rating_scale,
        n_duplicates_dropped=clean.n_duplicates_dropped,
        n_zero_ratings_dropped=clean.n_zero_ratings_dropped,
        filename=str(filenames[0]),
        DESCR=_describe(info, [("", clean)], filenames=filenames, extra_notes=extra_notes),
        **extra,
    )


def _package_split(train, test, *, info, filenames, return_X_y, as_frame, id_dtype, split):
    """Return ``(X_train, X_test, y_train, y_test)`` or a Bunch with both parts."""
    parts = {}
    for name, clean in (("train", train), ("test", test)):
        frame = _to_frame(clean, id_dtype=id_dtype) if as_frame else None
        X, y = (frame[FEATURE_NAMES], frame[TARGET_NAME]) if as_frame else (clean.X, clean.y)
        parts[name] = (X, y, clean.timestamps, frame)
    if return_X_y:
        return parts["train"][0], parts["test"][0], parts["train"][1], parts["test"][1]
    return Bunch(
        data_train=parts["train"][0],
        data_test=parts["test"][0],
        target_train=parts["train"][1],
        target_test=parts["test"][1],
        timestamps_train=parts["train"][2],
        timestamps_test=parts["test"][2],
        frame_train=parts["train"][3],
        frame_test=parts["test"][3],
        feature_names=list(FEATURE_NAMES),
        target_names=[TARGET_NAME],
        rating_scale=info.rating_scale,
        split=split,
        n_duplicates_dropped=train.n_duplicates_dropped + test.n_duplicates_dropped,
        n_zero_ratings_dropped=train.n_zero_ratings_dropped + test.n_zero_ratings_dropped,
        filename_train=str(filenames[0]),
        filename_test=str(filenames[1]),
        DESCR=_describe(
            info,
            [(f"{split}.base (train)", train), (f"{split}.test (test)", test)],
            filenames=filenames,
        ),
    )
