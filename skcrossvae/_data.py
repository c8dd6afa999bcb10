"""Rating data handling shared by every estimator: input checks, id encoding, sparse layouts.

Ids may be integers, floats or strings. Each column is normalised to one numpy kind so that
encoding is a vectorised ``np.unique`` at fit time and a ``searchsorted`` at predict time.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp

_COLUMN_NAMES = ("user", "item")
#: The largest rating magnitude must lie in this range (or all ratings be 0).
RATING_MAGNITUDES = (1e-150, 1e150)
_MAX_LISTED = 5


def _listing(values):
    """A short, readable listing of offending values or positions for error messages."""
    values = list(values)
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values[:_MAX_LISTED])
    more = f" and {len(values) - _MAX_LISTED} more" if len(values) > _MAX_LISTED else ""
    return f"[{shown}]{more}"


def _int64_ids(column, name):
    """Integer ids as int64, exactly; ids beyond the int64 range raise instead of wrapping."""
    limits = np.iinfo(np.int64)
    if column.dtype.kind == "u" and column.size and column.max() > limits.max:
        too_large = column[column > limits.max]
    elif column.dtype.kind == "O":
        too_large = [v for v in column if not limits.min <= v <= limits.max]
    else:
        return column.astype(np.int64, copy=False)
    if len(too_large):
        too_large = list(dict.fromkeys(v.item() if hasattr(v, "item") else v for v in too_large))  # once each
        raise ValueError(
            f"{name} ids {_listing(too_large)} are outside the int64 range integer ids are "
            "encoded in; pass such ids as strings."
        )
    return column.astype(np.int64)


def normalise_id_column(column, name):
    """Return ``column`` as an int64, float64 or str numpy array; raise on NaN, inf or mixed types."""
    column = np.asarray(column)
    if column.dtype.kind in "iu":
        return _int64_ids(column, name)
    if column.dtype.kind == "b":
        raise ValueError(f"{name} ids are booleans; use integer or string ids.")
    if column.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
            raise ValueError(f"{name} ids contain NaN or inf at rows {_listing(bad)}.")
        return column.astype(np.float64, copy=False)
    if column.dtype.kind in "US":
        return column.astype(str)
    if column.dtype.kind != "O":
        raise ValueError(f"{name} ids have unsupported dtype {column.dtype}; use integers or strings.")
    is_str = np.fromiter((isinstance(v, str) for v in column), bool, len(column))
    if is_str.all():
        return column.astype(str)
    is_int = np.fromiter(
        (isinstance(v, Integral) and not isinstance(v, bool) for v in column), bool, len(column)
    )
    if is_int.all():
        return _int64_ids(column, name)
    is_real = np.fromiter(
        (isinstance(v, Real) and not isinstance(v, bool) for v in column), bool, len(column)
    )
    if is_real.all():
        return normalise_id_column(column.astype(np.float64), name)
    missing = np.flatnonzero([v is None for v in column])
    if missing.size:
        raise ValueError(f"{name} ids contain None at rows {_listing(missing)}.")
    kinds = sorted({type(v).__name__ for v in column})
    raise ValueError(f"{name} ids mix types {kinds}; use one type (all integers or all strings).")


def split_id_columns(X):
    """Split a validated two-column array into normalised (user ids, item ids)."""
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(
            f"X must have exactly two columns (user id, item id); got shape {X.shape} "
            f"(n_features = {X.shape[1] if X.ndim == 2 else X.ndim}). "
            "Select the user and item columns, e.g. df[['user', 'item']]."
        )
    return tuple(normalise_id_column(X[:, k], _COLUMN_NAMES[k]) for k in range(2))


def root_mean_square(values):
    """``sqrt(mean(values ** 2))``: the RMSE of residuals, the one RMSE of the package.

    :func:`check_ratings` keeps rating magnitudes within ``RATING_MAGNITUDES``, where the
    squares of ratings and of residuals between them stay finite and normal in float64.
    """
    return float(np.sqrt(np.mean(np.square(np.asarray(values, dtype=np.float64)))))


def check_ratings(y, n_samples, estimator_name, names=("X", "y")):
    """Return ratings as a new float64 array; raise on non-numeric, NaN/inf or length mismatch
    (``names``: the arguments that hold the pairs and the ratings, for the messages)."""
    x_name, y_name = names
    if y is None:
        raise ValueError(f"{estimator_name} requires {y_name} to be passed, but the target {y_name} is None.")
    y_array = np.asarray(y)
    if y_array.dtype.kind not in "iuf":
        try:
            y_array = y_array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ratings {y_name} must be numeric; got dtype {y_array.dtype}: {exc}") from None
    if y_array.ndim == 2 and y_array.shape[1] == 1:
        y_array = y_array[:, 0]
    if y_array.ndim != 1:
        raise ValueError(f"ratings {y_name} must be one-dimensional; got shape {y_array.shape}.")
    if y_array.shape[0] != n_samples:
        raise ValueError(f"{x_name} has {n_samples} rows but {y_name} has {y_array.shape[0]} ratings.")
    y_array = np.array(y_array, dtype=np.float64)  # always a copy: the caller's array stays untouched
    bad = np.flatnonzero(~np.isfinite(y_array))
    if bad.size:
        raise ValueError(f"ratings {y_name} contain NaN or inf at rows {_listing(bad)}.")
    peak = np.max(np.abs(y_array), initial=0.0)
    if peak and not RATING_MAGNITUDES[0] <= peak <= RATING_MAGNITUDES[1]:
        raise ValueError(
            f"the largest rating magnitude is {peak:.3g}; ratings are supported on scales whose "
            f"largest magnitude lies in [{RATING_MAGNITUDES[0]:g}, {RATING_MAGNITUDES[1]:g}] "
            f"(their squares and products stay finite and normal in float64). Rescale {y_name}."
        )
    return y_array


def build_vocabulary(ids):
    """Sorted unique ids and the code of each input id (its position in the vocabulary)."""
    try:
        return np.unique(ids, return_inverse=True)
    except TypeError as exc:  # unorderable ids slipped through normalisation
        raise ValueError(f"ids cannot be sorted: {exc}") from None


def encode_ids(vocabulary, ids, name):
    """Codes of ``ids`` in ``vocabulary`` (a code is a position in it) and a mask of the known ones.

    The vocabulary is sorted after ``fit``; ids added later by ``fold_in`` come after the
    others, and the lookup then goes through a sorting permutation. Unknown ids get code 0;
    callers decide what to do with them through the mask.
    """
    known_numeric = vocabulary.dtype.kind in "if"
    if known_numeric != (ids.dtype.kind in "if"):
        seen, now = ("numbers", "strings") if known_numeric else ("strings", "numbers")
        raise ValueError(f"{name} ids were {seen} at fit time but are {now} now.")
    in_order = len(vocabulary) < 2 or bool(np.all(vocabulary[1:] > vocabulary[:-1]))
    sorter = None if in_order else np.argsort(vocabulary, kind="stable")
    positions = np.minimum(np.searchsorted(vocabulary, ids, sorter=sorter), len(vocabulary) - 1)
    if sorter is not None:
        positions = sorter[positions]
    known = vocabulary[positions] == ids
    return np.where(known, positions, 0), known


def extend_vocabulary(vocabulary, ids, name):
    """``vocabulary`` with the unknown ``ids`` appended (sorted among themselves) and the codes
    of ``ids`` in it: the codes of known ids do not change."""
    codes, known = encode_ids(vocabulary, ids, name)
    if known.all():
        return vocabulary, codes
    added = np.unique(ids[~known])
    codes[~known] = len(vocabulary) + np.searchsorted(added, ids[~known])
    return np.concatenate([vocabulary, added]), codes


def grown(array, size, rows=(), values=()):
    """A copy of ``array`` with ``size`` rows (the added ones 0) and ``values`` at ``rows``."""
    result = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    result[:len(array)] = array
    result[np.asarray(rows, dtype=np.int64)] = values
    return result


@dataclass
class RatingTable:
    """Encoded ratings: parallel arrays of user codes, item codes, values and optional weights.

    Attributes
    ----------
    users, items : ndarray of int64
        Codes in ``[0, n_users)`` and ``[0, n_items)``.
    values : ndarray of float64
        The ratings.
    n_users, n_items : int
        Sizes of the id vocabularies (some codes may have no rating in a subset).
    weights : ndarray of float64 or None
        Positive weight of each rating in the likelihood (``sample_weight``); None: all 1.
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    n_users: int
    n_items: int
    weights: np.ndarray | None = None

    def __len__(self):
        return len(self.values)

    @property
    def total_weight(self):
        """The number of ratings, or the sum of their weights."""
        return float(len(self.values) if self.weights is None else self.weights.sum())

    def subset(self, mask):
        """The ratings selected by a boolean mask or index array, same vocabularies."""
        return RatingTable(self.users[mask], self.items[mask], self.values[mask], self.n_users,
                           self.n_items, None if self.weights is None else self.weights[mask])

    def concatenate(self, other):
        """The ratings of both tables (same vocabularies)."""
        weights = None
        if self.weights is not None or other.weights is not None:
            weights = np.concatenate([np.ones(len(table)) if table.weights is None else table.weights
                                      for table in (self, other)])
        return RatingTable(
            np.concatenate([self.users, other.users]), np.concatenate([self.items, other.items]),
            np.concatenate([self.values, other.values]), self.n_users, self.n_items, weights,
        )

    def to_csr(self, values=None):
        """User × item CSR matrix (the paper's X), with ``values`` instead of the ratings if given."""
        data = self.values if values is None else values
        return sp.csr_matrix(
            (data, (self.users, self.items)), shape=(self.n_users, self.n_items)
        )

    def transpose(self):
        """The same ratings seen from the item side."""
        return RatingTable(self.items, self.users, self.values, self.n_items, self.n_users, self.weights)


def weighted_root_mean_square(values, weights=None):
    """``sqrt(sum(w * values ** 2) / sum(w))``: :func:`root_mean_square` with weights (None: all 1)."""
    if weights is None:
        return root_mean_square(values)
    values = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.sum(weights * np.square(values)) / np.sum(weights)))


def check_no_duplicates(user_codes, item_codes, user_ids, item_ids):
    """Raise a ValueError naming the (user, item) pairs that occur more than once."""
    n_items = int(item_codes.max()) + 1 if len(item_codes) else 1
    keys = user_codes.astype(np.int64) * n_items + item_codes
    unique_keys, counts = np.unique(keys, return_counts=True)
    if len(unique_keys) == len(keys):
        return
    repeated = unique_keys[counts > 1]
    pairs = [
        (user_ids[k // n_items].item(), item_ids[k % n_items].item()) for k in repeated[:_MAX_LISTED]
    ]
    more = f" and {len(repeated) - _MAX_LISTED} more" if len(repeated) > _MAX_LISTED else ""
    raise ValueError(
        f"{len(repeated)} (user, item) pairs occur more than once, e.g. {pairs}{more}. "
        "Each pair must have one rating: aggregate them first, for example with "
        "skcrossvae.datasets.drop_duplicate_ratings (keeps the most recent rating)."
    )


def validation_mask(table, fraction, rng):
    """Draw a random validation subset that leaves every user and item at least one training rating.

    Ratings are drawn uniformly; a user (then an item) left with no training rating gets all its
    drawn ratings back, so the validation part only holds pairs the model can learn from.
    """
    n_valid = int(round(fraction * len(table)))
    mask = np.zeros(len(table), dtype=bool)
    mask[rng.choice(len(table), size=n_valid, replace=False)] = True
    for codes, size in ((table.users, table.n_users), (table.items, table.n_items)):
        train_counts = np.bincount(codes[~mask], minlength=size)
        mask &= train_counts[codes] > 0
    return mask


def damped_biases(table, damping, tol=1e-8, max_sweeps=100):
    """Baseline predictors ``mean + b_u + b_i`` fitted by alternating ridge regressions.

    Each bias is the damped mean of its row's residuals, ``sum / (count + damping)``, so a user or
    item with few ratings keeps a bias near 0 (with sample weights, the sums and counts are
    weighted). Sweeps (items, then users) stop when no bias moves by more than ``tol`` times the
    ratings' spread (their RMS deviation from the mean), so the biases of ``c * ratings`` are
    ``c`` times those of the ratings on every scale. Returns the mean and the user and item
    biases (0 for codes with no rating in ``table``).
    """
    weights = table.weights
    mean = float(np.average(table.values, weights=weights))
    tol = tol * (weighted_root_mean_square(table.values - mean, weights) or 1.0)
    user_bias, item_bias = np.zeros(table.n_users), np.zeros(table.n_items)
    user_count = np.bincount(table.users, weights=weights, minlength=table.n_users)
    item_count = np.bincount(table.items, weights=weights, minlength=table.n_items)

    def weighted(residual):
        return residual if weights is None else weights * residual

    for _ in range(max_sweeps):
        previous = user_bias
        residual = table.values - mean - user_bias[table.users]
        item_bias = np.bincount(table.items, weighted(residual), table.n_items) / (item_count + damping)
        residual = table.values - mean - item_bias[table.items]
        user_bias = np.bincount(table.users, weighted(residual), table.n_users) / (user_count + damping)
        if np.max(np.abs(user_bias - previous), initial=0.0) <= tol:
            break
    return mean, user_bias, item_bias
