"""Data splits and hyper-parameter grids of the paper's experimental protocol (Section 4.2).

- :func:`train_val_test_split`: the random 70 / 15 / 15 split of the ratings, irrespective of
  users and items.
- :func:`sparsity_split`: the sub-sampling experiment (1 %, 2 %, 3 %, 5 % or 10 % of the
  ratings for training, the rest halved into validation and test).
- :func:`predefined_split`: the fixed train / validation split as a ``PredefinedSplit`` so
  that ``GridSearchCV`` selects hyper-parameters on the paper's validation set.
- :func:`paper_param_grid`: the paper's constrained grid for ``CrossFeedbackVAERegressor``.
- :class:`RatingKFold`: a K-fold cross-validator over ratings whose test users and items
  always have training ratings, for ``cross_validate`` and ``GridSearchCV``.
"""

from itertools import product
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator, PredefinedSplit
from sklearn.utils import check_consistent_length, check_random_state

from skcrossvae._data import build_vocabulary, normalise_id_column

__all__ = [
    "PAPER_SPARSITY_FRACTIONS",
    "train_val_test_split",
    "sparsity_split",
    "predefined_split",
    "paper_param_grid",
    "RatingKFold",
]

#: Training fractions of the paper's sparsity experiment (Fig. 3).
PAPER_SPARSITY_FRACTIONS = (0.01, 0.02, 0.03, 0.05, 0.10)

# Search spaces of Section 4.2
_EMBEDDING_DIMS = (10, 15, 25, 50)
_MAX_HIDDEN_LAYERS = 2
_LAYER_WIDTHS = (10, 25, 50, 100)
_KL_WEIGHTS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)

_PART_NAMES = ("training", "validation", "test")


def _take_rows(data, indices):
    """Rows ``indices`` of ``data``, keeping its type (ndarray, pandas object or list)."""
    if hasattr(data, "iloc"):
        return data.iloc[indices]
    if isinstance(data, np.ndarray):
        return data[indices]
    return [data[i] for i in indices]


def _concatenate_rows(first, second, name):
    """``first`` followed by ``second``, keeping their common type."""
    if type(first) is not type(second):
        raise TypeError(
            f"{name}: the training and validation parts must have the same type; got "
            f"{type(first).__name__} and {type(second).__name__}."
        )
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])
    if hasattr(first, "iloc"):
        import pandas as pd  # present: first is a pandas object

        if hasattr(first, "columns") and not first.columns.equals(second.columns):
            raise ValueError(
                f"{name}: the training and validation DataFrames have different columns: "
                f"{list(first.columns)} and {list(second.columns)}."
            )
        return pd.concat([first, second])
    return list(first) + list(second)


def _check_sizes(sizes):
    sizes = tuple(sizes)
    if len(sizes) != 3 or not all(
        isinstance(s, Real) and not isinstance(s, bool) and np.isfinite(s) for s in sizes
    ):
        raise ValueError(
            f"sizes must be three numbers (training, validation, test); got {sizes!r}."
        )
    if min(sizes) <= 0:
        raise ValueError(f"sizes must all be positive; got {sizes!r}.")
    if not np.isclose(sum(sizes), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"sizes must sum to 1; got {sizes!r} (sum {sum(sizes)}).")
    return sizes


def train_val_test_split(X, y, sizes=(0.7, 0.15, 0.15), random_state=None):
    """Randomly split ratings into training, validation and test parts.

    This is the paper's split: ratings are drawn at random, regardless of users and items,
    so a user or an item of the validation or test part may have no training rating.

    Parameters
    ----------
    X : array-like of shape (n_ratings, 2)
        (user id, item id) pairs: ndarray, list of pairs or DataFrame.
    y : array-like of shape (n_ratings,)
        Ratings: ndarray, list or pandas Series.
    sizes : tuple of three floats, default=(0.7, 0.15, 0.15)
        Fractions of the ratings in the training, validation and test parts; positive,
        summing to 1.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle, for reproducible splits.

    Returns
    -------
    X_train, X_val, X_test, y_train, y_val, y_test
        The parts, of the input types (DataFrames and Series keep their index). Within each
        part the rows keep their input order.

    Notes
    -----
    The part sizes are ``round(sizes[0] * n)`` and ``round((sizes[0] + sizes[1]) * n)`` minus
    that, the test part taking the rest, so the three always add up to ``n``. A ValueError
    is raised if a part would be empty.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrossvae.model_selection import train_val_test_split
    >>> X = np.arange(40).reshape(20, 2)
    >>> y = np.arange(20.0)
    >>> X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
    ...     X, y, random_state=0)
    >>> len(y_train), len(y_val), len(y_test)
    (14, 3, 3)
    """
    sizes = _check_sizes(sizes)
    check_consistent_length(X, y)
    n_ratings = len(y)
    bounds = np.round(np.cumsum(sizes[:2]) * n_ratings).astype(int)
    part_lengths = np.diff(np.r_[0, bounds, n_ratings])
    if part_lengths.min() < 1:
        empty = _PART_NAMES[int(np.argmin(part_lengths))]
        raise ValueError(
            f"sizes={sizes} leave the {empty} part empty with {n_ratings} ratings; "
            "use more ratings or larger fractions."
        )
    shuffled = check_random_state(random_state).permutation(n_ratings)
    # sorted positions keep each part in input order
    parts = [np.sort(part) for part in np.split(shuffled, bounds)]
    X_parts = [_take_rows(X, part) for part in parts]
    y_parts = [_take_rows(y, part) for part in parts]
    return (*X_parts, *y_parts)


def sparsity_split(X, y, fraction, random_state=None):
    """Sub-sample a sparse training set, halving the rest into validation and test.

    The paper's sparsity experiment (Section 4.4, Fig. 3) trains on 1 %, 2 %, 3 %, 5 % or
    10 % of the ratings drawn at random (see :data:`PAPER_SPARSITY_FRACTIONS`); the remaining
    ratings are split equally to tune hyper-parameters and to test.

    Parameters
    ----------
    X : array-like of shape (n_ratings, 2)
        (user id, item id) pairs: ndarray, list of pairs or DataFrame.
    y : array-like of shape (n_ratings,)
        Ratings.
    fraction : float
        Fraction of the ratings kept for training, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle.

    Returns
    -------
    X_train, X_val, X_test, y_train, y_val, y_test
        As :func:`train_val_test_split` with
        ``sizes=(fraction, (1 - fraction) / 2, (1 - fraction) / 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrossvae.model_selection import sparsity_split
    >>> X = np.arange(400).reshape(200, 2)
    >>> parts = sparsity_split(X, np.ones(200), fraction=0.05, random_state=0)
    >>> [len(part) for part in parts[3:]]
    [10, 95, 95]
    """
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 < fraction < 1:
        raise ValueError(f"fraction must be a number in (0, 1); got {fraction!r}.")
    rest = (1.0 - fraction) / 2.0
    return train_val_test_split(X, y, sizes=(fraction, rest, rest), random_state=random_state)


def predefined_split(X_train, y_train, X_val, y_val):
    """Join a fixed training and validation part for ``GridSearchCV``.

    Parameters
    ----------
    X_train, y_train : array-like
        Training pairs and ratings.
    X_val, y_val : array-like
        Validation pairs and ratings, of the same types as the training ones.

    Returns
    -------
    X : array-like of shape (n_train + n_val, 2)
        ``X_train`` followed by ``X_val``, of their type.
    y : array-like of shape (n_train + n_val,)
        ``y_train`` followed by ``y_val``.
    cv : sklearn.model_selection.PredefinedSplit
        One split: fit on the training rows (fold -1), score on the validation rows (fold 0).

    Notes
    -----
    The paper fits each candidate on the training part and selects on the validation
    part, which is what ``GridSearchCV(..., cv=cv).fit(X, y)`` does. With the default
    ``refit=True`` however the best candidate is then refitted on training + validation; to
    evaluate exactly like the paper, pass ``refit=False`` and fit
    ``estimator.set_params(**search.best_params_)`` on ``X_train, y_train`` yourself.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrossvae.model_selection import predefined_split
    >>> X, y, cv = predefined_split(np.zeros((4, 2)), np.ones(4), np.zeros((2, 2)), np.ones(2))
    >>> [(train.tolist(), val.tolist()) for train, val in cv.split()]
    [([0, 1, 2, 3], [4, 5])]
    """
    check_consistent_length(X_train, y_train)
    check_consistent_length(X_val, y_val)
    X = _concatenate_rows(X_train, X_val, "X")
    y = _concatenate_rows(y_train, y_val, "y")
    test_fold = np.r_[np.full(len(y_train), -1), np.zeros(len(y_val), dtype=int)]
    return X, y, PredefinedSplit(test_fold)


def _layer_options(min_width):
    """Hidden-layer tuples with 0 to 2 layers of one width >= ``min_width``."""
    options = [()]
    for n_layers, width in product(range(1, _MAX_HIDDEN_LAYERS + 1), _LAYER_WIDTHS):
        if width >= min_width:
            options.append((width,) * n_layers)
    return options


def paper_param_grid(scale="full", preset="paper", prefix=""):
    """The paper's hyper-parameter grid for ``CrossFeedbackVAERegressor``.

    Parameters
    ----------
    scale : {'full', 'small'}, default='full'
        ``'full'``: the grid of Section 4.2 (15,336 candidates). ``'small'``: 18 candidates
        that run in minutes: ``n_components = 10``, ``encoder_layer_sizes`` in {(10,), (25, 10)}
        (K' = 10 after 0 or 1 hidden layer), ``fusion_layer_sizes = ()`` and both KL weights in
        {1e-3, 1e-2, 1e-1}.
    preset : {'paper', None}, default='paper'
        ``'paper'`` fixes the other parameters at the paper's model
        (:data:`~skcrossvae.PAPER_PARAMS`, what ``CrossFeedbackVAERegressor.paper()`` sets), so
        ``GridSearchCV(CrossFeedbackVAERegressor(), paper_param_grid())`` searches the paper's
        model; ``None`` searches only the sizes and KL weights, leaving the estimator's other
        parameters as they are (to search the package's defaults, say).
    prefix : str, default=''
        Put before every parameter name: ``'model__'`` for a ``Pipeline`` step named ``model``.

    Returns
    -------
    list of dict
        A ``param_grid`` for :class:`~sklearn.model_selection.GridSearchCV`: each dict is the
        product of its lists, and every combination satisfies the paper's constraints.

    Notes
    -----
    The full grid searches

    - ``n_components`` (K, the embedding dimension) and the intermediate embedding width K'
      (the last entry of ``encoder_layer_sizes``) in {10, 15, 25, 50};
    - the hidden layers of the encoder MLPs over the rating and the cross-fed inputs (the
      entries of ``encoder_layer_sizes`` before K', L' of them) and of the MLP after the
      concatenation (``fusion_layer_sizes``, L of them): 0, 1 or 2 layers of width
      {10, 25, 50, 100};
    - the KL weights ``beta = (beta_u, beta_v)``, each in {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1};

    restricted to K <= K' and K, K' <= the width of every hidden layer of both MLPs. The
    paper lets each layer have its own width; here all the layers of one MLP share a width,
    which keeps the grid at 15,336 candidates instead of 53,352. The grid is one dict
    per K', whose lists hold the values compatible with that K'.

    Examples
    --------
    >>> from sklearn.model_selection import ParameterGrid
    >>> from skcrossvae.model_selection import paper_param_grid
    >>> len(ParameterGrid(paper_param_grid("small")))
    18
    >>> len(ParameterGrid(paper_param_grid("full")))
    15336
    >>> sorted(paper_param_grid("small", prefix="model__")[0])[:3]
    ['model__attention', 'model__attention_norm', 'model__beta']
    """
    if preset not in ("paper", None):
        raise ValueError(f"preset must be 'paper' or None; got {preset!r}.")
    if scale == "small":
        weights = (1e-3, 1e-2, 1e-1)
        grid = [{
            "n_components": [10],
            "encoder_layer_sizes": [(10,), (25, 10)],
            "fusion_layer_sizes": [()],
            "beta": list(product(weights, weights)),
        }]
    elif scale == "full":
        grid = []
        for intermediate_dim in _EMBEDDING_DIMS:
            # widths >= K' also satisfy K <= width, since K <= K'
            layer_options = _layer_options(intermediate_dim)
            grid.append({
                "n_components": [dim for dim in _EMBEDDING_DIMS if dim <= intermediate_dim],
                "encoder_layer_sizes": [(*hidden, intermediate_dim) for hidden in layer_options],
                "fusion_layer_sizes": layer_options,
                "beta": list(product(_KL_WEIGHTS, _KL_WEIGHTS)),
            })
    else:
        raise ValueError(f"scale must be 'full' or 'small'; got {scale!r}.")
    if preset == "paper":
        from ._crossvae import PAPER_PARAMS

        grid = [{**{name: [value] for name, value in PAPER_PARAMS.items()}, **part} for part in grid]
    return [{prefix + name: values for name, values in part.items()} for part in grid]


def _id_column_codes(X, columns):
    """Codes of the user and item ids of ``X`` (positions in their sorted vocabularies)."""
    if hasattr(X, "iloc"):
        frame = X if columns is None else X[list(columns)]
        pairs = frame.to_numpy()
    else:
        # dtype=object keeps int user ids ints when item ids are strings (no str coercion)
        pairs = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
        if columns is not None:
            if pairs.ndim != 2:
                raise ValueError(f"X must be two-dimensional; got shape {pairs.shape}.")
            pairs = pairs[:, list(columns)]
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        shape = pairs.shape
        hint = (
            "pass columns=[user column, item column] (names for a DataFrame, positions for "
            "an array) to say which ones hold the ids"
            if columns is None and pairs.ndim == 2
            else "select the user and item id columns"
        )
        raise ValueError(
            f"RatingKFold splits (user id, item id) pairs: X must have two columns; got shape "
            f"{shape}; {hint}."
        )
    return tuple(
        build_vocabulary(normalise_id_column(pairs[:, k], name))[1]
        for k, name in enumerate(("user", "item"))
    )


class RatingKFold(BaseCrossValidator):
    """K-fold cross-validation over ratings that never tests a user or item unseen in training.

    The ratings are shuffled and each user's ratings are spread over the ``n_splits`` test
    folds, so that every user and every item of a test fold also has ratings in the
    training part of that split. Ratings of users or items with too few ratings to be spread
    stay in training in every split. Use it as ``cv=`` in
    :func:`~sklearn.model_selection.cross_validate` or
    :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=True
        Shuffle the ratings before spreading them over the folds. ``False`` spreads each
        user's ratings in their input order and takes the users in sorted order.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle; an int gives the same folds at every call of :meth:`split`.
        Must be None when ``shuffle=False``.
    columns : sequence of two labels or positions, default=None
        The user and item id columns of ``X``: names for a DataFrame, positions for an
        array or a list of rows. None: ``X`` must have exactly these two columns. Give them
        when ``X`` is a wider table that a :class:`~sklearn.pipeline.Pipeline` narrows to
        the id columns.

    See Also
    --------
    skcrossvae.metrics.check_known_ids : Warns when most scored pairs have unseen ids.

    Notes
    -----
    With ``K = n_splits``, the folds are built as follows.

    1. A rating can be tested only if its user and its item both have at least ``K``
       ratings; the other ratings are in the training part of every split.
    2. The testable ratings are shuffled, grouped by user (the users in a random order), and
       dealt to the folds in turn, ``0, 1, ..., K - 1, 0, 1, ...``, continuing from one user
       to the next: each user's testable ratings are spread over the folds as evenly as
       possible, and the fold sizes differ by at most one.
    3. Where all the ratings of an item fell in one fold, one of them moves to the training
       side of every split, so the item keeps a training rating there.

    Every rating is in at most one test fold, and the training part of split ``f`` is all
    the ratings not in fold ``f``. So every user and item of a test fold has at least one
    training rating in that split: a user with ``t`` testable ratings has at most
    ``ceil(t / K)`` of them in one fold, fewer than its at least ``K`` ratings, and step 3
    sees to the items. The fold sizes differ by at most one plus the number of ratings moved
    in step 3.

    A ValueError is raised when no rating can be tested or a fold would be empty, with the
    numbers that explain why.

    Examples
    --------
    >>> from sklearn.model_selection import cross_validate
    >>> from skcrossvae.datasets import make_ratings
    >>> from skcrossvae.model_selection import RatingKFold
    >>> X, y, _ = make_ratings(30, 20, n_ratings=300, random_state=0)
    >>> cv = RatingKFold(3, random_state=0)
    >>> for train, test in cv.split(X):
    ...     assert set(X[test, 0]) <= set(X[train, 0])
    ...     assert set(X[test, 1]) <= set(X[train, 1])
    >>> cv.get_n_splits()
    3
    """

    def __init__(self, n_splits=5, *, shuffle=True, random_state=None, columns=None):
        if isinstance(n_splits, bool) or not isinstance(n_splits, Integral):
            raise ValueError(
                f"n_splits must be an integer >= 2; got {n_splits!r} of type "
                f"{type(n_splits).__name__}."
            )
        if n_splits < 2:
            raise ValueError(
                f"n_splits must be at least 2 (one fold to test, at least one to train); "
                f"got {n_splits}."
            )
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {shuffle!r}.")
        if not shuffle and random_state is not None:
            raise ValueError(
                "random_state has no effect when shuffle=False; leave it to None or set "
                "shuffle=True."
            )
        if columns is not None and (isinstance(columns, str) or len(columns) != 2):
            raise ValueError(
                f"columns must name the user and the item id columns (two labels or "
                f"positions); got {columns!r}."
            )
        self.n_splits = int(n_splits)
        self.shuffle = bool(shuffle)
        self.random_state = random_state
        self.columns = None if columns is None else tuple(columns)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for compatibility with scikit-learn.

        Returns
        -------
        int
            ``n_splits``.
        """
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Indices of the training and test ratings of each split.

        Parameters
        ----------
        X : array-like of shape (n_ratings, 2)
            (user id, item id) pairs: ndarray, list of pairs or DataFrame, ids integers or
            strings; with ``columns``, a wider table holding them.
        y : array-like of shape (n_ratings,), default=None
            Ignored (checked for length only).
        groups : object, default=None
            Ignored; present for compatibility with scikit-learn.

        Yields
        ------
        train : ndarray of int
            Sorted positions of the training ratings of the split.
        test : ndarray of int
            Sorted positions of the test ratings of the split.

        Raises
        ------
        ValueError
            When ``X`` does not hold two id columns, no rating can be tested, or a test
            fold would be empty.
        """
        if y is not None:
            check_consistent_length(X, y)
        folds = self._test_folds(X)
        positions = np.arange(len(folds))
        for fold in range(self.n_splits):
            in_test = folds == fold
            yield positions[~in_test], positions[in_test]

    def _test_folds(self, X):
        """The test fold of each rating, -1 for the ratings that are never tested."""
        users, items = _id_column_codes(X, self.columns)
        n_ratings, n_folds = len(users), self.n_splits
        user_counts, item_counts = np.bincount(users), np.bincount(items)
        testable = (user_counts[users] >= n_folds) & (item_counts[items] >= n_folds)
        n_testable = int(np.count_nonzero(testable))
        if n_testable == 0:
            raise ValueError(
                f"RatingKFold(n_splits={n_folds}) can test no rating: a rating is tested only "
                f"if its user and its item both have at least {n_folds} ratings, and none of "
                f"the {n_ratings} ratings does ({np.count_nonzero(user_counts >= n_folds)} of "
                f"{len(user_counts)} users and {np.count_nonzero(item_counts >= n_folds)} of "
                f"{len(item_counts)} items have that many). Use fewer splits or more ratings."
            )

        if self.shuffle:
            rng = check_random_state(self.random_state)
            rating_order = rng.permutation(n_ratings)
            user_order = rng.permutation(len(user_counts))
        else:
            rating_order = np.arange(n_ratings)
            user_order = np.arange(len(user_counts))
        shuffled_rank = np.empty(n_ratings, dtype=np.int64)
        shuffled_rank[rating_order] = np.arange(n_ratings)
        candidates = np.flatnonzero(testable)
        # np.lexsort sorts by the last key first: by user (in user_order), then shuffled rank
        dealt = candidates[np.lexsort((shuffled_rank[candidates], user_order[users[candidates]]))]
        folds = np.full(n_ratings, -1, dtype=np.int64)
        folds[dealt] = np.arange(n_testable) % n_folds

        # an item whose ratings all fell in one fold keeps one of them (the first dealt) in training
        fold_items = items[dealt].astype(np.int64) * n_folds + folds[dealt]
        tested_per_fold = np.bincount(fold_items, minlength=len(item_counts) * n_folds)
        keys, first = np.unique(fold_items, return_index=True)
        alone = tested_per_fold[keys] == item_counts[keys // n_folds]
        folds[dealt[first[alone]]] = -1

        fold_sizes = np.bincount(folds[folds >= 0], minlength=n_folds)
        if fold_sizes.min() == 0:
            raise ValueError(
                f"RatingKFold(n_splits={n_folds}) would leave test fold "
                f"{int(np.argmin(fold_sizes))} empty: only {int(fold_sizes.sum())} of the "
                f"{n_ratings} ratings can be tested (their user and item have at least "
                f"{n_folds} ratings, and each item keeps one in training). Use fewer splits "
                "or more ratings."
            )
        return folds
