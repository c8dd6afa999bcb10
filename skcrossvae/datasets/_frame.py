"""(X, y) for the estimators from a table of ratings with named columns."""

from collections.abc import Mapping
from numbers import Real

import numpy as np

_MAX_LISTED = 5


def _listing(values):
    """A short listing of offending values or row labels for error messages."""
    values = list(values)
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values[:_MAX_LISTED])
    more = f" and {len(values) - _MAX_LISTED} more" if len(values) > _MAX_LISTED else ""
    return f"[{shown}]{more}"


def _column_names(frame):
    """The column names of a DataFrame, a mapping of columns or a structured array."""
    if hasattr(frame, "columns") and hasattr(frame, "iloc"):
        return list(frame.columns)
    if isinstance(frame, Mapping):
        return list(frame.keys())
    names = getattr(getattr(frame, "dtype", None), "names", None)
    if names is not None:
        return list(names)
    raise TypeError(
        "frame must be a pandas DataFrame, a mapping of column name to array (such as a dict "
        f"of columns) or a numpy structured array; got {type(frame).__name__}."
    )


def _common_id_dtype(first, second):
    """One dtype holding both id columns unchanged: theirs if they agree, else object."""
    if first == second:
        return first
    common = np.result_type(first, second)
    same_kind = (first.kind in "iu" and second.kind in "iu" and common.kind in "iu") or (
        first.kind == second.kind == common.kind == "U"
    )
    return common if same_kind else np.dtype(object)


def _is_missing(value):
    """None, NaN or pandas.NA, without importing pandas."""
    return value is None or type(value).__name__ == "NAType" or (
        isinstance(value, float) and value != value
    )


def _check_rating_values(values, name, labels):
    """Ratings as a numeric numpy array; raise on non-numeric values or NaN.

    ``labels`` gives the row label of each position for the messages.
    """
    if values.dtype.kind == "O":
        missing = np.fromiter((_is_missing(v) for v in values), bool, len(values))
        if missing.any():
            bad = np.flatnonzero(missing)
            raise ValueError(
                f"the rating column {name!r} has {bad.size} missing values, at rows "
                f"{_listing(labels[bad])}; drop those rows (e.g. frame.dropna()) or fill them."
            )
        is_number = np.fromiter(
            (isinstance(v, Real) and not isinstance(v, (bool, np.bool_)) for v in values),
            bool,
            len(values),
        )
        if is_number.all():
            values = values.astype(np.float64)
        else:
            bad = np.flatnonzero(~is_number)
            raise ValueError(
                f"the rating column {name!r} must hold numbers; rows {_listing(labels[bad])} "
                f"hold {_listing(values[bad])}."
            )
    elif values.dtype.kind not in "iuf":
        raise ValueError(
            f"the rating column {name!r} must be numeric; it has dtype {values.dtype}"
            + (f", e.g. {_listing(values[:3])}" if len(values) else "")
            + "."
        )
    if values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"the rating column {name!r} holds {bad.size} NaN or infinite values, at rows "
                f"{_listing(labels[bad])}; drop those rows (e.g. frame.dropna()) or fill them."
            )
    return values


def ratings_from_frame(frame, user="user", item="item", rating="rating"):
    """Split a table of ratings into the (user id, item id) pairs ``X`` and the ratings ``y``.

    Parameters
    ----------
    frame : pandas.DataFrame, mapping of column name to array, or structured array
        One row per rating, with a user id, an item id and a rating column (other columns
        are ignored). A mapping is for example a dict of equally long columns.
    user : hashable, default='user'
        Name of the user id column.
    item : hashable, default='item'
        Name of the item id column.
    rating : hashable, default='rating'
        Name of the rating column.

    Returns
    -------
    X : DataFrame or ndarray of shape (n_ratings, 2)
        For a DataFrame, the DataFrame ``frame[[user, item]]`` (same index, the id dtypes
        kept). Otherwise a numpy array with the user ids in the first column and the item
        ids in the second, of the ids' dtype when both columns share one, else of dtype
        object (so integer user ids stay integers beside string item ids).
    y : Series or ndarray of shape (n_ratings,)
        The ratings: for a DataFrame the Series ``frame[rating]``, otherwise a numpy array;
        of their numeric dtype (an object column of numbers becomes float64).

    Raises
    ------
    KeyError
        When a column is missing; the message names it and lists the columns there are.
    ValueError
        When the three names are not distinct, the columns have different lengths or are
        not one-dimensional, or a rating is not a number or is NaN or infinite (the message
        gives the rows).
    TypeError
        When ``frame`` is none of the supported types.

    Examples
    --------
    >>> import pandas as pd
    >>> from skcrossvae.datasets import ratings_from_frame
    >>> frame = pd.DataFrame({"userId": [1, 1, 2], "movieId": ["a", "b", "a"],
    ...                       "stars": [4.0, 3.5, 5.0], "timestamp": [10, 11, 12]})
    >>> X, y = ratings_from_frame(frame, user="userId", item="movieId", rating="stars")
    >>> list(X.columns), y.tolist()
    (['userId', 'movieId'], [4.0, 3.5, 5.0])
    >>> X, y = ratings_from_frame({"user": [1, 2], "item": [7, 8], "rating": [5, 3]})
    >>> X.tolist(), y.tolist()
    ([[1, 7], [2, 8]], [5, 3])
    """
    available = _column_names(frame)
    names = {"user": user, "item": item, "rating": rating}
    missing = [f"{role}={name!r}" for role, name in names.items() if name not in available]
    if missing:
        raise KeyError(
            f"frame has no column {' and no column '.join(missing)}; its columns are "
            f"{available}. Pass the names of the user, item and rating columns as user=, "
            "item= and rating=."
        )
    if len({user, item, rating}) != 3:
        raise ValueError(
            f"user, item and rating must name three different columns; got user={user!r}, "
            f"item={item!r}, rating={rating!r}."
        )

    if hasattr(frame, "iloc"):
        for role, name in names.items():
            if available.count(name) > 1:
                raise ValueError(
                    f"frame has {available.count(name)} columns named {name!r} (the {role} "
                    "column); rename them so that the name is unique."
                )
        X = frame[[user, item]]
        y = frame[rating]
        values = _check_rating_values(y.to_numpy(), rating, np.asarray(frame.index))
        if values.dtype != y.dtype:
            y = y.astype(values.dtype)
        return X, y

    columns = {role: np.asarray(frame[name]) for role, name in names.items()}
    for role, values in columns.items():
        if values.ndim != 1:
            raise ValueError(
                f"the {role} column {names[role]!r} must be one-dimensional; got shape "
                f"{values.shape}."
            )
    lengths = {names[role]: len(values) for role, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the columns must have the same length; got lengths {lengths}.")
    users, items = columns["user"], columns["item"]
    X = np.empty((len(users), 2), dtype=_common_id_dtype(users.dtype, items.dtype))
    X[:, 0], X[:, 1] = users, items
    y = _check_rating_values(columns["rating"], rating, np.arange(len(users)))
    return X, y
