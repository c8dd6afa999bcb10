"""The base every estimator of the package shares.

It owns what is the same for all rating models: input validation, id encoding, the validation
split for early stopping, the unknown-id policy, ``predict``/``recommend`` plumbing, tags and
save/load. Subclasses implement only the algorithm (``_fit_ratings`` and ``_predict_codes``).
"""

import contextlib
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _persistence
from ._data import (
    RatingTable,
    build_vocabulary,
    check_no_duplicates,
    check_ratings,
    encode_ids,
    extend_vocabulary,
    grown,
    normalise_id_column,
    weighted_root_mean_square,
    split_id_columns,
    validation_mask,
    _listing,
)
from .exceptions import DivergenceError, UnknownIdsWarning

# Shrinks the per-user and per-item mean deviations used for unknown pairs towards zero, so an id
# seen once does not dictate its fallback (the damped means of Koren's baseline predictors).
_FALLBACK_DAMPING = 5.0
_RECOMMEND_BATCH = 1024
_MIN_RATINGS = 2
#: A fit whose training RMSE ends above this many times that of the global mean has failed.
DIVERGED_RMSE_RATIO = 1.5


def shared_parameter_docs(n_iter_no_change=10, early_stopping=True):
    """Docs of the parameters every estimator shares, with the estimator's own defaults."""
    return f"""early_stopping : bool, default={early_stopping}
        Hold out ``validation_fraction`` of the training ratings (or watch ``fit``'s ``X_val``),
        stop after ``n_iter_no_change`` iterations without a validation RMSE better by ``tol``,
        and restore the best iteration's state. When False, the same rule watches the training
        loss.
    validation_fraction : float, default=0.1
        Share of the training ratings held out for early stopping, drawn at random but never
        leaving a user or item without a training rating (unused when ``fit`` gets ``X_val``).
    n_iter_no_change : int, default={n_iter_no_change}
        Patience of the stopping rule, in iterations.
    tol : float, default=1e-4
        Smallest improvement that counts for the stopping rule.
    handle_unknown : {{'mean', 'error'}}, default='mean'
        Ids unseen in ``fit``: ``'mean'`` predicts the global mean plus the damped mean deviation of
        the known side; ``'error'`` raises a ``ValueError`` naming them.
    random_state : int, RandomState instance or None, default=None
        Seeds every draw of a fit (the global seeds are never touched). With an int, CPU fits with
        one torch thread are reproducible bit for bit; with more, sums may differ in the last bits.
    verbose : int, default=0
        1 shows a progress bar of the iterations (tqdm) with the loss and validation RMSE; 2 and
        more print one line per iteration instead (loss, validation RMSE, seconds, ETA).
"""


def check_layer_sizes(value, name, allow_empty=True):
    """``value`` as a tuple of positive ints; a ValueError naming ``name`` otherwise."""
    sizes = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else None
    if sizes is None or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes) \
            or (not sizes and not allow_empty):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}sequence of positive "
                         f"integers; got {value!r}.")
    return tuple(int(s) for s in sizes)


def _known_mask_message(raw_ids, known, name):
    unknown = np.unique(raw_ids[~known])
    return f"{len(unknown)} unknown {name} id(s) {_listing(unknown)}"


class BaseRatingEstimator(RegressorMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared base of the package's rating regressors; not for direct use.

    ``X`` holds (user id, item id) pairs; ``y`` the explicit ratings.
    """

    _parameter_constraints: dict = {
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "handle_unknown": [StrOptions({"mean", "error"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: What the ``DivergenceError`` of this estimator advises (see :meth:`_check_training_fit`).
    _divergence_advice = "Lower learning_rate"

    def _validate_params(self):
        super()._validate_params()
        # bool is an Integral and a Real in Python: n_components=True would pass an Interval.
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name)
            if (isinstance(value, (bool, np.bool_)) and "boolean" not in constraints
                    and any(isinstance(c, Interval) for c in constraints)):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be a number, not a "
                    f"boolean; got {value!r}."
                )

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None):
        """Fit the model to (user, item) pairs and their ratings.

        A fit is atomic: when it fails or is interrupted (an exception, ``KeyboardInterrupt``,
        a :class:`~skcrossvae.DivergenceError`), the estimator is left exactly as it was
        before the call, fitted with its previous state or unfitted.

        Parameters
        ----------
        X : array-like of shape (n_ratings, 2)
            User ids in the first column, item ids in the second (ints or strings; a numpy
            array, a list of pairs or a pandas DataFrame with two columns).
        y : array-like of shape (n_ratings,)
            Explicit ratings on any real scale.
        sample_weight : array-like of shape (n_ratings,), default=None
            Non-negative weight of each rating: its squared error counts that many times in the
            training objective, and in the mean, spread and fallback deviations of the ratings.
            A rating of weight 0 is left out entirely, as if it were not given. None: all 1.
        X_val, y_val : array-like of shape (n_validation, 2) and (n_validation,), default=None
            Ratings for early stopping to watch instead of holding out ``validation_fraction``
            of ``X`` (a validation part of one's own, as in a train / validation / test
            protocol); the model never trains on them. Pairs with a user or item absent from
            ``X`` are left out (with an :class:`~skcrossvae.exceptions.UnknownIdsWarning`).
            Needs ``early_stopping=True``. In ``GridSearchCV`` or ``cross_validate``, scikit-learn
            slices a fit parameter as long as ``X`` like ``X``: give ``X_val`` another length.
            In a ``Pipeline``, ``model__X_val`` reaches the model as it is, without the steps
            before it.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        DivergenceError
            When the training loss becomes non-finite, or the fitted model predicts the
            training ratings worse than ``1.5`` times the RMSE of their mean after training
            made it worse than where it started.
        """
        with self._atomic():
            self._fit(X, y, sample_weight, X_val, y_val)
        return self

    @contextlib.contextmanager
    def _atomic(self):
        """Within the block, any exception restores the estimator as it was before it.

        Methods that change the fitted state (``fit`` and its warm start) replace fitted
        attributes and never change the objects they held, so restoring the attribute table
        restores the estimator. The one object they do change is a ``RandomState`` passed as
        ``random_state`` (its draws advance it): its state is restored too, so a failed call
        consumes none of the caller's random numbers.
        """
        before = dict(vars(self))
        rng = getattr(self, "random_state", None)
        rng_state = rng.get_state() if isinstance(rng, np.random.RandomState) else None
        try:
            yield
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            if rng_state is not None:
                rng.set_state(rng_state)
            raise

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, y, sample_weight=None, X_val=None, y_val=None):
        incremental = bool(getattr(self, "warm_start", False)) and hasattr(self, "user_ids_")
        if incremental:
            self._check_networks_match_parameters("warm_start=True continues training the fitted networks")
        table = self._validate_training_data(X, y, incremental, sample_weight)
        rng = check_random_state(self.random_state)
        train, valid = table, None
        # read by _fit_ratings, for this fit only: ratings given as X_val are not training data
        self._validation_given = X_val is not None or y_val is not None
        if self._validation_given:
            valid = self._validation_table(X_val, y_val, table)
        elif self.early_stopping:
            mask = validation_mask(table, self.validation_fraction, rng)
            if mask.any():
                train, valid = table.subset(~mask), table.subset(mask)
            else:
                warnings.warn(
                    f"early_stopping is off for this fit: none of the {len(table)} ratings can be "
                    "held out without leaving a user or item with no training rating. Training "
                    "stops on the training loss instead.",
                    UserWarning,
                )
        self._set_rating_statistics(train, table)
        try:
            self._fit_ratings(train, valid, rng, incremental)
        finally:
            del self._validation_given
        self._check_training_fit(train)

    def _validation_table(self, X_val, y_val, table):
        """``X_val``, ``y_val`` encoded with the ids of the training ratings ``table``, without the
        pairs whose user or item has no training rating."""
        if X_val is None or y_val is None:
            raise ValueError(f"X_val and y_val go together; got only {'y_val' if X_val is None else 'X_val'}.")
        if not self.early_stopping:
            raise ValueError("X_val and y_val are the ratings early stopping watches; set "
                             "early_stopping=True to use them.")
        # scikit-learn's checks of the columns and their names speak of X: say which X it is
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                X_val = validate_data(self, X_val, dtype=None, reset=False)
            except ValueError as exc:
                raise ValueError(f"X_val: {exc}") from None
        for warning in caught:
            warnings.warn(f"X_val: {warning.message}", warning.category)
        ratings = check_ratings(y_val, X_val.shape[0], type(self).__name__, names=("X_val", "y_val"))
        (users, user_known), (items, item_known) = self._encode_known(split_id_columns(X_val), strict=False)
        known = user_known & item_known
        if not known.any():
            raise ValueError(f"none of the {len(known)} pairs of X_val has both its user and its item "
                             "in X; early stopping needs ratings of users and items it trains.")
        if not known.all():
            warnings.warn(f"{np.count_nonzero(~known)} of the {len(known)} pairs of X_val have a user or "
                          "item with no rating (of positive weight) in X; early stopping leaves them out.",
                          UnknownIdsWarning)
        pair_keys = [rows.astype(np.int64) * self.n_items_ + columns
                     for rows, columns in ((users, items), (table.users, table.items))]
        trained = np.isin(*pair_keys) & known
        if trained.any():
            warnings.warn(f"{np.count_nonzero(trained)} of the {len(known)} pairs of X_val are rated in X "
                          "too: early stopping watches ratings the model trains on.", UserWarning)
        return RatingTable(users[known], items[known], ratings[known], self.n_users_, self.n_items_)

    def _rmse(self, table):
        """RMSE of the fitted model's predictions of an encoded rating table (weighted by the
        table's sample weights, when it has them)."""
        return weighted_root_mean_square(self._predict_codes(table.users, table.items) - table.values,
                                         table.weights)

    def _training_rmse(self, train):
        """RMSE of the fitted model's predictions of the ratings it trained on."""
        return self._rmse(train)

    def _untrained_rmse(self, train):
        """RMSE of the model before training: the standardised models start at the global mean."""
        return weighted_root_mean_square(train.values - self.global_mean_, train.weights)

    def _check_training_fit(self, train):
        """Raise :class:`DivergenceError` for a fit that ended far worse than the global mean.

        A model whose training RMSE is above ``DIVERGED_RMSE_RATIO`` times the global mean's
        failed: when training made it worse than the untrained model, the optimisation
        diverged (an error); when it improved on a model that starts far off (the paper's
        decoder starts at 0), it stopped too early (a ``ConvergenceWarning``).
        """
        fitted = self._training_rmse(train)
        mean_only = weighted_root_mean_square(train.values - self.global_mean_, train.weights)
        if np.isfinite(fitted) and fitted <= DIVERGED_RMSE_RATIO * mean_only:
            return
        name = type(self).__name__
        summary = (f"{name} predicts its training ratings with RMSE {fitted:.4g}, more than "
                   f"{DIVERGED_RMSE_RATIO} times the {mean_only:.4g} of predicting their mean")
        if np.isfinite(fitted) and fitted < self._untrained_rmse(train):
            warnings.warn(f"{summary}: training improved on its start but stopped far from a solution. "
                          "Raise max_iter or learning_rate.", ConvergenceWarning)
            return
        raise DivergenceError(f"{summary}: training made it worse than its start, so it diverged. "
                              f"{self._divergence_advice}.")

    def _validate_training_data(self, X, y, incremental, sample_weight=None):
        X = validate_data(self, X, dtype=None, reset=not incremental)
        users, items = split_id_columns(X)
        ratings = check_ratings(y, X.shape[0], type(self).__name__)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            kept = weights > 0  # a rating of weight 0 is not given at all
            users, items, ratings, weights = users[kept], items[kept], ratings[kept], weights[kept]
            if np.all(weights == 1.0):
                weights = None
        if len(ratings) < _MIN_RATINGS:
            raise ValueError(f"fit needs at least {_MIN_RATINGS} ratings; got {len(ratings)}.")
        if incremental:
            if self.fit_sizes_ != (self.n_users_, self.n_items_):
                added = np.subtract((self.n_users_, self.n_items_), self.fit_sizes_)
                raise ValueError(
                    f"warm_start=True continues training the model of the first fit, which has no "
                    f"parameters for the {added[0]} users and {added[1]} items added by fold_in; "
                    "refit with warm_start=False to train on them."
                )
            user_codes, user_known = encode_ids(self.user_ids_, users, "user")
            item_codes, item_known = encode_ids(self.item_ids_, items, "item")
            if not (user_known.all() and item_known.all()):
                problems = [
                    _known_mask_message(ids, known, name)
                    for ids, known, name in ((users, user_known, "user"), (items, item_known, "item"))
                    if not known.all()
                ]
                raise ValueError(
                    "warm_start=True continues training on the ids of the first fit, but X has "
                    + " and ".join(problems) + "; refit with warm_start=False to add new ids."
                )
        else:
            self.user_ids_, user_codes = build_vocabulary(users)
            self.item_ids_, item_codes = build_vocabulary(items)
            self.n_users_, self.n_items_ = len(self.user_ids_), len(self.item_ids_)
            self.fit_sizes_ = (self.n_users_, self.n_items_)
        check_no_duplicates(user_codes, item_codes, self.user_ids_, self.item_ids_)
        # A canonical order makes the fit depend on the ratings, not on the order of the rows.
        order = np.lexsort((item_codes, user_codes))
        return RatingTable(user_codes[order], item_codes[order], ratings[order],
                           self.n_users_, self.n_items_, None if weights is None else weights[order])

    def _set_rating_statistics(self, train, table):
        """Global mean, fallback deviations and the seen-items matrix, from the training part."""
        weights = train.weights
        self.global_mean_ = float(np.average(train.values, weights=weights))
        self.rating_std_ = weighted_root_mean_square(train.values - self.global_mean_, weights) or 1.0
        self.rating_range_ = (float(table.values.min()), float(table.values.max()))
        for side, codes, size in (("user", train.users, self.n_users_), ("item", train.items, self.n_items_)):
            setattr(self, f"{side}_fallback_", self._fallbacks(codes, train.values, size, weights))
        self.ratings_ = table.to_csr()

    def _fallbacks(self, codes, values, size, weights=None):
        """Damped mean deviation from the global mean of each code's ratings."""
        residual = values - self.global_mean_
        sums = np.bincount(codes, weights=residual if weights is None else residual * weights, minlength=size)
        counts = np.bincount(codes, weights=weights, minlength=size)
        return sums / (counts + _FALLBACK_DAMPING)

    def _network_changes(self):
        """How the networks the current parameters describe differ from the fitted ones.

        The networks built from the current parameters must hold tensors of the same shapes;
        otherwise a list of the first differing tensors (an empty list: no difference).
        """
        for name, build in self._module_factory().items():
            fitted = {key: tuple(value.shape) for key, value in getattr(self, name).state_dict().items()}
            wanted = {key: tuple(value.shape) for key, value in build().state_dict().items()}
            different = sorted(key for key in fitted.keys() | wanted.keys() if fitted.get(key) != wanted.get(key))
            if different:
                return [f"{key} {fitted.get(key)} -> {wanted.get(key)}" for key in different[:3]]
        return []

    def _check_networks_match_parameters(self, action):
        """Raise if parameters changed since ``fit`` describe other networks than the fitted ones
        (they would be ignored by a warm start, and ``load`` rebuilds the networks from them)."""
        changes = self._network_changes()
        if changes:
            raise ValueError(
                f"{action}, but the parameters changed since fit describe other networks ("
                + ", ".join(changes) + "); set them back, or refit with warm_start=False."
            )

    @abstractmethod
    def _fit_ratings(self, train, valid, rng, incremental):
        """Fit the algorithm on encoded training ratings.

        ``valid`` holds the validation ratings for early stopping, or is None when early stopping
        is off (by the parameter, or because nothing could be held out). In ``fit``,
        ``self._validation_given`` says whether they came as ``X_val`` (then they are not
        training data: not to train on, nor to read at prediction).
        """

    # ----------------------------------------------------------------- fold-in
    def _can_fold_in(self):
        return type(self)._fold_in_rows is not BaseRatingEstimator._fold_in_rows

    @available_if(_can_fold_in)
    def fold_in(self, X, y):
        """Add users and items, or more ratings of known ones, from their ratings, without training.

        The new users and items of ``X`` get latent vectors from their ratings, and so do the
        known ones that ``X`` gives ratings of ids seen in ``fit``: from the ratings given to
        ``fit`` (and earlier ``fold_in`` calls) together with those in ``X``; a pair rated
        again takes the rating in ``X``. The fitted parameters do not change, nor does any other
        user or item (the fallback deviations of the ids in ``X`` follow their ratings). New ids are added to ``user_ids_`` and ``item_ids_``
        after the others, and ``predict``, ``recommend`` and ``similar_users`` /
        ``similar_items`` then serve them like the ids of ``fit`` (not through
        ``handle_unknown``). The ratings count with weight 1. Like ``fit``, ``fold_in`` is
        atomic: on any error the estimator is left as it was.

        Parameters
        ----------
        X : array-like of shape (n_ratings, 2)
            User ids in the first column, item ids in the second; each pair at most once.
        y : array-like of shape (n_ratings,)
            The ratings, within ``rating_range_`` (the range seen in ``fit``).

        Returns
        -------
        self : object
            The estimator, with the users and items of ``X`` folded in.
        """
        return self._fold_in(X, y)

    def _fold_in(self, X, y, **options):
        """``fold_in`` with the estimator's own ``options`` for :meth:`_fold_in_rows`."""
        check_is_fitted(self)
        with self._atomic():
            self._fold_in_rows(*self._add_ratings(X, y, "fold_in"), **options)
        return self

    def _add_ratings(self, X, y, method):
        """Validate the ratings of ``X`` and add them to the fitted state: new ids appended to
        the vocabularies, the ratings merged into ``ratings_`` and the fallbacks of their rows
        updated. Returns every stored rating as a table, and the user and item codes whose
        state the ratings change (new ones, and those given ratings of ids seen in ``fit``)."""
        X = validate_data(self, X, dtype=None, reset=False)
        users, items = split_id_columns(X)
        ratings = check_ratings(y, X.shape[0], type(self).__name__)
        low, high = self.rating_range_
        outside = (ratings < low) | (ratings > high)
        if outside.any():
            raise ValueError(
                f"{method} takes ratings within the range seen in fit, [{low:g}, {high:g}] (the "
                f"predictions are clipped to it); {np.count_nonzero(outside)} are outside it, e.g. "
                f"{ratings[outside][0]:g}. Refit to learn a wider scale."
            )
        known_sizes = (self.n_users_, self.n_items_)
        self.user_ids_, user_codes = extend_vocabulary(self.user_ids_, users, "user")
        self.item_ids_, item_codes = extend_vocabulary(self.item_ids_, items, "item")
        self.n_users_, self.n_items_ = len(self.user_ids_), len(self.item_ids_)
        check_no_duplicates(user_codes, item_codes, self.user_ids_, self.item_ids_)
        given = RatingTable(user_codes, item_codes, ratings, self.n_users_, self.n_items_)
        self.ratings_ = self._merged_ratings(given)
        merged = self.ratings_.tocoo()
        merged = RatingTable(merged.row.astype(np.int64), merged.col.astype(np.int64), merged.data,
                             self.n_users_, self.n_items_)
        # A row changes when it is new, or when X gives it a rating of an id of fit (the ratings
        # the models read); a known row rated only by new ids keeps its state.
        changed = {
            "user": np.unique(user_codes[(user_codes >= known_sizes[0]) | (item_codes < self.fit_sizes_[1])]),
            "item": np.unique(item_codes[(item_codes >= known_sizes[1]) | (user_codes < self.fit_sizes_[0])]),
        }
        for side, codes, size in (("user", merged.users, self.n_users_), ("item", merged.items, self.n_items_)):
            rows = changed[side]
            setattr(self, f"{side}_fallback_", grown(getattr(self, f"{side}_fallback_"), size, rows,
                                                     self._fallbacks(codes, merged.values, size)[rows]))
        return merged, changed["user"], changed["item"]

    def _merged_ratings(self, given):
        """``ratings_`` grown to the current vocabularies, with ``given``'s ratings in it (a pair
        rated again takes the given rating)."""
        stored = self.ratings_.tocoo()
        touched = np.zeros(given.n_users, dtype=bool)
        touched[given.users] = True
        # Only the touched users' stored ratings can clash with the given ones.
        candidates = np.flatnonzero(touched[stored.row])
        keys = stored.row[candidates].astype(np.int64) * given.n_items + stored.col[candidates]
        replaced = candidates[np.isin(keys, given.users * given.n_items + given.items)]
        kept = np.ones(stored.nnz, dtype=bool)
        kept[replaced] = False
        return sp.csr_matrix(
            (np.concatenate([stored.data[kept], given.values]),
             (np.concatenate([stored.row[kept], given.users]), np.concatenate([stored.col[kept], given.items]))),
            shape=(given.n_users, given.n_items),
        )

    def _fold_in_reads(self, ratings, users, items):
        """What each side's fold-in reads: for 'user' then 'item', the ``codes`` to compute and
        the ratings of those rows whose other id was seen in ``fit``, as ``(side, codes, rows,
        others, values)``: ``rows`` the position in ``codes`` of each rating's row, ``others``
        its other id's code."""
        for side, codes, own, other, size, n_other in (
            ("user", users, ratings.users, ratings.items, self.n_users_, self.fit_sizes_[1]),
            ("item", items, ratings.items, ratings.users, self.n_items_, self.fit_sizes_[0]),
        ):
            position = np.full(size, -1)
            position[codes] = np.arange(len(codes))
            read = (position[own] >= 0) & (other < n_other)
            yield side, codes, position[own[read]], other[read], ratings.values[read]

    def _fold_in_rows(self, ratings, users, items, **options):
        """Recompute the prediction state of the ``users`` and ``items`` codes from ``ratings``
        (every stored rating, as a table over the current vocabularies), growing the per-user
        and per-item arrays to ``n_users_`` and ``n_items_`` rows. Estimators that can fold in
        override this."""

    # --------------------------------------------------------------- prediction
    @abstractmethod
    def _predict_codes(self, users, items, return_std=False):
        """Predictions (and standard deviations) for known user and item codes."""

    def _score_items(self, users, items):
        """Predicted ratings of known user codes (rows) for known item codes (columns), unclipped
        where the model allows it, so that items predicted above the rating range keep their order."""
        pairs_users = np.repeat(users, len(items))
        pairs_items = np.tile(items, len(users))
        return self._predict_codes(pairs_users, pairs_items).reshape(len(users), len(items))

    def _factors(self, side):
        """The (n_rows, K) latent vectors of one side ('user' or 'item') that ``similar_users``
        and ``similar_items`` compare; None for a model without such vectors."""
        return None

    def _encode_known(self, columns, strict=True):
        """Codes and known-masks of raw (user, item) id columns, applying ``handle_unknown``
        (unless not ``strict``)."""
        encoded = [encode_ids(vocabulary, ids, name) for vocabulary, ids, name in
                   zip((self.user_ids_, self.item_ids_), columns, ("user", "item"))]
        if strict and self.handle_unknown == "error":
            problems = [_known_mask_message(ids, known, name)
                        for ids, (_, known), name in zip(columns, encoded, ("user", "item"))
                        if not known.all()]
            if problems:
                raise ValueError("X contains " + " and ".join(problems)
                                 + " not seen during fit (handle_unknown='error').")
        return encoded

    def _encode_pairs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=None, reset=False)
        (user_codes, user_known), (item_codes, item_known) = self._encode_known(split_id_columns(X))
        return user_codes, user_known, item_codes, item_known

    def _predict(self, X, return_std=False):
        user_codes, user_known, item_codes, item_known = self._encode_pairs(X)
        both = user_known & item_known
        fallback = (
            self.global_mean_
            + np.where(user_known, self.user_fallback_[user_codes], 0.0)
            + np.where(item_known, self.item_fallback_[item_codes], 0.0)
        )
        prediction = fallback
        std = np.full(len(fallback), self.rating_std_)
        if both.any():
            result = self._predict_codes(user_codes[both], item_codes[both], return_std=return_std)
            if return_std:
                prediction[both], std[both] = result
            else:
                prediction[both] = result
        return (prediction, std) if return_std else prediction

    def predict(self, X):
        """Predict the ratings of (user, item) pairs.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2)
            User ids in the first column, item ids in the second.

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,)
            Predicted ratings. Pairs with an id unseen in ``fit`` follow ``handle_unknown``.
        """
        return self._predict(X)

    def _raw_ids(self, ids, name):
        raw = np.atleast_1d(np.asarray(ids, dtype=object))
        if raw.ndim != 1:
            raise ValueError(f"{name}s must be one-dimensional; got shape {raw.shape}.")
        return raw, normalise_id_column(raw, name)

    def _candidate_items(self, items):
        """Codes of the candidate items and which are known (all items when ``items`` is None)."""
        if items is None:
            return np.arange(self.n_items_), np.ones(self.n_items_, dtype=bool), self.item_ids_
        raw, normalised = self._raw_ids(items, "item")
        if len(raw) == 0:
            raise ValueError("items is empty; give at least one candidate item id.")
        if len(np.unique(normalised)) != len(normalised):
            raise ValueError("items holds repeated ids; give each candidate once.")
        _, (codes, known) = self._encode_known((self.user_ids_[:1], normalised))
        return codes, known, raw

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination (R^2) of the predictions of ``X`` against ``y``.

        Warns with :class:`~skcrossvae.exceptions.UnknownIdsWarning` when more than half of the
        pairs have an id unseen in ``fit`` (see :func:`skcrossvae.metrics.check_known_ids`).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2)
            User ids in the first column, item ids in the second.
        y : array-like of shape (n_pairs,)
            The true ratings.
        sample_weight : array-like of shape (n_pairs,), default=None
            Weights of the pairs in the score.

        Returns
        -------
        score : float
        """
        from .metrics import check_known_ids

        check_known_ids(self, X)
        return super().score(X, y, sample_weight=sample_weight)

    def recommend(self, users, n=10, *, exclude_seen=True, items=None):
        """Top-``n`` items for each user, in raw ids, best first.

        Parameters
        ----------
        users : array-like of shape (n_users,) or scalar
            Raw user ids.
        n : int, default=10
            Number of items per user, at most the number of candidate items.
        exclude_seen : bool, default=True
            Leave out the items each user rated in the data given to ``fit``.
        items : array-like of raw item ids, default=None
            The candidate items (distinct ids); None ranks every item seen in ``fit``. Unknown
            candidates follow ``handle_unknown``: ``'mean'`` scores them with the fallback,
            ``'error'`` raises a ``ValueError`` naming them.

        Returns
        -------
        item_ids : ndarray of shape (n_users, n)
            Raw item ids, best first.
        scores : ndarray of shape (n_users, n)
            Predicted ratings of those items. A user with fewer than ``n`` unrated candidates
            gets ``-inf`` scores in the positions past them (the ids there are rated items).
            Unknown users are ranked by the fallback (``handle_unknown='mean'``).
        """
        check_is_fitted(self)
        item_codes, item_known, candidate_ids = self._candidate_items(items)
        if not isinstance(n, Integral) or isinstance(n, bool) or not 1 <= n <= len(item_codes):
            raise ValueError(f"n must be an integer in [1, {len(item_codes)}] (the number of candidate "
                             f"items); got {n!r}.")
        raw_users, users_normalised = self._raw_ids(users, "user")
        (user_codes, user_known), _ = self._encode_known((users_normalised, self.item_ids_[:1]))
        item_fallback = np.where(item_known, self.item_fallback_[item_codes], 0.0)
        top_items = np.empty((len(raw_users), n), dtype=np.int64)
        top_scores = np.empty((len(raw_users), n))
        for start in range(0, len(raw_users), _RECOMMEND_BATCH):
            rows = slice(start, start + _RECOMMEND_BATCH)
            known = user_known[rows]
            scores = np.tile(self.global_mean_ + item_fallback, (len(known), 1))
            codes = user_codes[rows][known]
            if len(codes):
                block = self.global_mean_ + self.user_fallback_[codes][:, None] + np.zeros(len(item_codes))
                block[:, item_known] = self._score_items(codes, item_codes[item_known])
                if exclude_seen:
                    rated = self.ratings_[codes]  # its pattern, not its values (a rating may be 0)
                    seen = sp.csr_matrix((np.ones(rated.nnz, dtype=bool), rated.indices, rated.indptr),
                                         shape=rated.shape)[:, item_codes].toarray() & item_known
                    block[seen] = -np.inf
                scores[known] = block
            best = np.argpartition(-scores, n - 1, axis=1)[:, :n]
            best_scores = np.take_along_axis(scores, best, axis=1)
            order = np.argsort(-best_scores, axis=1, kind="stable")
            top_items[rows] = np.take_along_axis(best, order, axis=1)
            top_scores[rows] = np.take_along_axis(best_scores, order, axis=1)
        return candidate_ids[top_items], top_scores

    def _has_factors(self):
        return self._factors("user") is not None if hasattr(self, "n_users_") else (
            type(self)._factors is not BaseRatingEstimator._factors)

    def _similar(self, side, ids, n):
        check_is_fitted(self)
        factors = self._factors(side)
        vocabulary = self.user_ids_ if side == "user" else self.item_ids_
        if not isinstance(n, Integral) or isinstance(n, bool) or not 1 <= n < len(vocabulary):
            raise ValueError(f"n must be an integer in [1, {len(vocabulary) - 1}] (the other {side}s); "
                             f"got {n!r}.")
        raw, normalised = self._raw_ids(ids, side)
        codes, known = encode_ids(vocabulary, normalised, side)
        if not known.all():
            raise ValueError(f"{_known_mask_message(normalised, known, side)} not seen during fit: "
                             f"similar_{side}s needs their latent vectors.")
        norms = np.linalg.norm(factors, axis=1)
        unit = factors / np.where(norms > 0, norms, 1.0)[:, None]
        similarity = unit[codes] @ unit.T
        similarity[np.arange(len(codes)), codes] = -np.inf  # never the query itself
        best = np.argpartition(-similarity, n - 1, axis=1)[:, :n]
        best_scores = np.take_along_axis(similarity, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        return vocabulary[np.take_along_axis(best, order, axis=1)], np.take_along_axis(best_scores, order, axis=1)

    @available_if(_has_factors)
    def similar_users(self, users, n=10):
        """The ``n`` users whose latent vectors are closest (cosine) to each given user's.

        Parameters
        ----------
        users : array-like of shape (n_queries,) or scalar
            Raw user ids seen in ``fit``.
        n : int, default=10
            Number of similar users per query (the query itself is left out).

        Returns
        -------
        user_ids : ndarray of shape (n_queries, n)
            Raw user ids, most similar first.
        similarities : ndarray of shape (n_queries, n)
            Their cosine similarities, in [-1, 1].
        """
        return self._similar("user", users, n)

    @available_if(_has_factors)
    def similar_items(self, items, n=10):
        """The ``n`` items whose latent vectors are closest (cosine) to each given item's.

        Parameters
        ----------
        items : array-like of shape (n_queries,) or scalar
            Raw item ids seen in ``fit``.
        n : int, default=10
            Number of similar items per query (the query itself is left out).

        Returns
        -------
        item_ids : ndarray of shape (n_queries, n)
            Raw item ids, most similar first.
        similarities : ndarray of shape (n_queries, n)
            Their cosine similarities, in [-1, 1].
        """
        return self._similar("item", items, n)

    # ------------------------------------------------------------- persistence
    def save(self, path):
        """Save the fitted estimator to ``path`` in a safe, self-contained format.

        The file is a ``safetensors`` file: the fitted arrays and network weights, plus one JSON
        document of the parameters and other fitted values, with a SHA-256 digest of both.
        :func:`skcrossvae.load` reads it on any machine, with or without a GPU, without the
        training data, and without running any code from the file. The file is written
        atomically: a failed save leaves no partial file.

        Parameters
        ----------
        path : str or path-like
            Destination file (by convention ``*.skcv``).

        Raises
        ------
        ValueError
            When a parameter that shapes the networks was changed with ``set_params`` after
            ``fit``: loading rebuilds the networks from the saved parameters.
        """
        check_is_fitted(self)
        self._check_networks_match_parameters("load rebuilds the saved networks from the parameters")
        _persistence.save_estimator(self, path)

    def _fitted_state(self):
        """The fitted attributes (public names ending in an underscore), as saved by ``save``."""
        return {key: value for key, value in vars(self).items()
                if key.endswith("_") and not key.startswith("_")}

    def _restore_fitted_state(self, fitted):
        """Set the fitted attributes read by :func:`skcrossvae.load`, rebuilding the networks.

        The networks are built by :meth:`_module_factory` from the (validated) parameters and
        the fitted sizes, then filled with the saved weights, whose names and shapes must match
        (checked on the meta device before any weight is allocated).
        """
        modules = {key: value for key, value in fitted.items() if isinstance(value, _persistence.SavedModule)}
        vars(self).update({key: value for key, value in fitted.items() if key not in modules})
        if "device_" in fitted:
            self.device_ = "cpu"
        self._check_fitted_state()
        factories = self._module_factory()
        if set(modules) != set(factories):
            raise ValueError(f"the file holds networks {sorted(modules)}, the class expects {sorted(factories)}")
        if modules:
            from ._torch._device import check_weight_shapes, load_weights

            # The shapes are checked on networks built on the meta device first: parameters of a
            # crafted file (n_components=10**9) then cannot make load allocate their weights.
            for key, saved in modules.items():
                check_weight_shapes(factories[key](device="meta"), saved.state)
            for key, saved in modules.items():
                setattr(self, key, load_weights(factories[key](), saved.state))

    def _check_fitted_state(self):
        """Check that the fitted sizes agree with each other and the rating statistics are
        usable (for :func:`skcrossvae.load`)."""
        sizes = {"user_ids_": self.n_users_, "item_ids_": self.n_items_,
                 "user_fallback_": self.n_users_, "item_fallback_": self.n_items_}
        for name, size in sizes.items():
            if len(getattr(self, name)) != size:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, not {size}")
        if not all(0 < fitted <= now for fitted, now in zip(self.fit_sizes_, (self.n_users_, self.n_items_))):
            raise ValueError(f"fit_sizes_ {self.fit_sizes_} exceed the vocabularies")
        if self.ratings_.shape != (self.n_users_, self.n_items_):
            raise ValueError(f"ratings_ has shape {self.ratings_.shape}")
        # The rating statistics every prediction uses: finite numbers, a positive spread and an
        # ordered range (a hand-edited file could otherwise load and predict NaN or fail later).
        def finite_number(value):
            return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)

        low_high = self.rating_range_
        if not (finite_number(self.global_mean_) and finite_number(self.rating_std_) and self.rating_std_ > 0):
            raise ValueError(f"global_mean_ {self.global_mean_!r} and rating_std_ {self.rating_std_!r} must be "
                             "finite numbers, the spread positive")
        if not (isinstance(low_high, tuple) and len(low_high) == 2 and all(map(finite_number, low_high))
                and low_high[0] <= low_high[1]):
            raise ValueError(f"rating_range_ {low_high!r} is not an ordered pair of finite numbers")
        for name in ("user_fallback_", "item_fallback_"):
            values = getattr(self, name)
            if not (isinstance(values, np.ndarray) and values.dtype.kind == "f" and np.isfinite(values).all()):
                raise ValueError(f"{name} must be an array of finite floats")

    def _module_factory(self):
        """Rebuild the torch module(s) of a fitted estimator from its fitted sizes (for load):
        name -> callable ``(device='cpu') -> module``."""
        return {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = False
        tags.regressor_tags.poor_score = True
        return tags
