"""What the baselines share beyond :class:`BaseRatingEstimator`.

- :class:`TorchBaseline`: the fit of every baseline trained by minibatch Adam (device, generator,
  warm start, the shared iteration driver, the recorded curves).
- :class:`PairBaseline`: models scoring (user, item) pairs from embeddings (biased MF, NCF,
  ConvNCF), trained over shuffled ratings.
- :class:`RowAutoencoderBaseline`: autoencoders over sparse rating rows (AutoRec, DAE, VAE),
  trained over shuffled rows.
- Docstring fragments for the parameters and attributes they all have.
"""

import copy
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from .._base import BaseRatingEstimator
from .._data import RatingTable, root_mean_square
from .._torch._batching import side_batches
from .._torch._device import as_tensor, make_generator, resolve_device
from .._torch._rating_batches import EpochTrainer, PairBatches, RowBatches
from .._training import run_iterations

_PREDICT_BATCH = 8192

TORCH_PARAMETER_DOCS = """
    device : str, default='auto'
        'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'. Asking for CUDA where
        there is none raises an error.

    warm_start : bool, default=False
        When True and already fitted, ``fit`` continues from the current network (the ids in X
        must all be known, the parameters that shape the network unchanged; Adam's moments
        restart).
"""

BASE_ATTRIBUTE_DOCS = """
    user_ids_, item_ids_ : ndarray
        The raw ids seen in ``fit``, sorted; a user's code is its position.
    n_users_, n_items_ : int
        Numbers of users and items.
    global_mean_ : float
        Mean training rating.
    rating_std_ : float
        Standard deviation of the training ratings.
    rating_range_ : tuple of float
        Smallest and largest rating seen; predictions are clipped to it.
    user_fallback_, item_fallback_ : ndarray
        Damped mean deviations from the global mean, used for pairs with an unknown id.
    seen_items_ : scipy.sparse.csr_matrix
        Users × items indicator of the pairs given to ``fit`` (excluded by ``recommend``).
    n_iter_ : int
        Iterations run.
    loss_curve_ : list of float
        Training objective per rating at each iteration.
    validation_scores_ : list of float or None
        Validation RMSE after each iteration (None without early stopping).
    best_validation_score_ : float or None
        Best validation RMSE (None without early stopping).
    best_iteration_ : int
        Iteration whose state the model holds.
    n_features_in_ : int
        Always 2.
    feature_names_in_ : ndarray
        Column names when X was a DataFrame.
"""

ROW_INPUT_NOTES = """
    A row enters the encoder as its standardised ratings, ``(rating - global_mean_) /
    rating_std_``, divided by the square root of its number of ratings; unrated entries are 0.
    (Liang et al. L2-normalise click rows, whose norm is that square root; Sedhain et al. feed
    raw ratings.) Centring makes an unrated entry neutral and lets the first layer see the
    row's mean deviation: on a validation part of MovieLens-100K it lowered the RMSE of the
    user-side autoencoders from about 0.965 to 0.93. Rows are read sparsely (an
    ``embedding_bag`` over the observed entries) and during training the output layer is
    evaluated only at the batch's observed entries, so no dense users × items matrix is built.
"""

TORCH_ATTRIBUTE_DOCS = """    module_ : torch.nn.Module
        The trained network.
    device_ : str
        Device used for training.
"""


def record_history(estimator, history):
    """Store the driver's curves under scikit-learn's names."""
    estimator.n_iter_ = history.n_iter
    estimator.loss_curve_ = history.loss_curve
    estimator.validation_scores_ = history.validation_scores
    validated = history.validation_scores is not None
    estimator.best_validation_score_ = history.best_score if validated else None
    estimator.best_iteration_ = history.best_iteration if validated else history.n_iter


class TorchBaseline(BaseRatingEstimator):
    """Fit plumbing of the baselines trained by minibatch Adam; not for direct use.

    Subclasses build the network (:meth:`_make_module`), say how to batch and score the
    training data (:meth:`_training_objective`) and predict.
    """

    _parameter_constraints: dict = {
        **BaseRatingEstimator._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "warm_start": ["boolean"],
    }

    @abstractmethod
    def _make_module(self, generator, device):
        """The untrained network for the fitted sizes and the current parameters."""

    @abstractmethod
    def _training_objective(self, train, rng, generator, device):
        """``(batches, batch_loss)`` for :class:`EpochTrainer` on the encoded training ratings."""

    def _prepare_prediction(self, table, batches=None):
        """Store what prediction needs from the current network, reading rows from ``table``.

        ``batches``, when given, are the training batches of ``table`` (to reuse their layout).
        """

    def _module_factory(self):
        return {"module_": lambda: self._make_module(torch.Generator(), torch.device("cpu"))}

    def _fit_ratings(self, train, valid, rng, incremental):
        device = resolve_device(self.device)
        generator = make_generator(rng, device)
        # A warm start trains a copy: a failed fit must leave the fitted network untouched.
        self.module_ = copy.deepcopy(self.module_).to(device) if incremental else self._make_module(generator, device)
        self.device_ = str(device)
        batches, batch_loss = self._training_objective(train, rng, generator, device)
        trainer = EpochTrainer(self.module_, batches, batch_loss, self.learning_rate, device)

        def validation_rmse():
            self._prepare_prediction(train, batches)
            return root_mean_square(self._predict_codes(valid.users, valid.items) - valid.values)

        history = run_iterations(
            self, trainer.train_one_iteration, validation_rmse, trainer.get_state, trainer.set_state,
            max_iter=self.max_iter, early_stopping=valid is not None,
        )
        record_history(self, history)
        self.module_.eval()
        self._prepare_prediction(train if valid is None else _concatenate(train, valid))

    @property
    def _module_device(self):
        # Not device_: a pickled or loaded estimator holds its network on the CPU.
        return next(self.module_.parameters()).device

    @torch.no_grad()
    def _batched(self, function, *code_arrays):
        """``function`` applied to chunks of code arrays (as long tensors), concatenated in numpy."""
        device = self._module_device
        parts = [
            function(*(as_tensor(codes[start:start + _PREDICT_BATCH], device, torch.long) for codes in code_arrays))
            .double().cpu().numpy()
            for start in range(0, len(code_arrays[0]), _PREDICT_BATCH)
        ]
        return np.concatenate(parts) if parts else np.empty(0)


def _concatenate(first, second):
    return RatingTable(*(np.concatenate([getattr(first, name), getattr(second, name)])
                         for name in ("users", "items", "values")), first.n_users, first.n_items)


class PairBaseline(TorchBaseline):
    """Models whose network maps (user codes, item codes) to standardised ratings; not for direct use.

    The objective of a batch is the mean squared error on the standardised scale,
    ``(rating - global_mean_) / rating_std_``, plus ``alpha`` times :meth:`PairModule.penalty`.
    """

    _parameter_constraints: dict = {
        **TorchBaseline._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def _training_objective(self, train, rng, generator, device):
        module = self.module_
        targets = (train.values - self.global_mean_) / self.rating_std_

        def batch_loss(batch):
            users, items, batch_targets = batch
            squared = (module(users, items) - batch_targets).square().mean()
            return squared + self.alpha * module.penalty(users, items)

        return PairBatches(train.users, train.items, targets, self.batch_size, rng, device), batch_loss

    def _unclipped(self, users, items):
        return self.global_mean_ + self.rating_std_ * self._batched(self.module_, users, items)

    def _predict_codes(self, users, items, return_std=False):
        return np.clip(self._unclipped(users, items), *self.rating_range_)

    def _score_items(self, users):
        # Unclipped, so that items predicted above the rating range keep their order.
        all_items = np.arange(self.n_items_)
        scores = self._unclipped(np.repeat(users, self.n_items_), np.tile(all_items, len(users)))
        return scores.reshape(len(users), self.n_items_)


class RowAutoencoderBaseline(TorchBaseline):
    """Autoencoders over the sparse rating rows of one side; not for direct use.

    The encoder reads :meth:`_inputs`. The objective of a batch is the mean squared error on
    its observed entries, on the standardised scale, plus :meth:`_regulariser`. After ``fit``
    each row's decoder output is computed once from all the ratings given to ``fit``
    (``row_codes_``); a prediction is the output layer at that row and the pair's column.
    """

    #: 'user' (rows of X) or 'item' (rows of X^T); AutoRec makes it a parameter.
    side = "user"

    @abstractmethod
    def _link(self, outputs):
        """Ratings from output-layer values (torch)."""

    @abstractmethod
    def _regulariser(self, module, batch, kl, n_ratings):
        """The batch's penalty in per-rating units, added to its mean squared error."""

    def _rows(self, table):
        return table if self.side == "user" else table.transpose()

    def _inputs(self, rows):
        """Encoder inputs: standardised ratings over the square root of the row's rating count.

        Centring lets 0 (not rated) mean "no evidence either way" and makes the first layer's
        sum carry the row's mean deviation. The count scaling is Liang et al.'s L2
        normalisation of a click row (whose norm is the square root of its count), so heavy and
        light raters enter on one scale without losing the magnitude of their ratings.
        """
        counts = np.bincount(rows.users, minlength=rows.n_users)
        return (rows.values - self.global_mean_) / (self.rating_std_ * np.sqrt(counts[rows.users]))

    def _training_objective(self, train, rng, generator, device):
        module, n_ratings, scale = self.module_, len(train), self.rating_std_
        rows = self._rows(train)
        batches = RowBatches(rows, self._inputs(rows), rows.values, self.batch_size, rng, device)

        def batch_loss(batch):
            codes, kl = module(batch, generator)
            predicted = self._link(module.output_at(codes[batch.segment], batch.columns))
            squared = ((predicted - batch.targets) / scale).square().mean()
            return squared + self._regulariser(module, batch, kl, n_ratings)

        return batches, batch_loss

    @torch.no_grad()
    def _prepare_prediction(self, table, batches=None):
        rows = self._rows(table)
        if batches is None:
            in_order = [np.arange(start, min(start + self.batch_size, rows.n_users))
                        for start in range(0, rows.n_users, self.batch_size)]
            side = side_batches(rows.users, rows.items, self._inputs(rows), rows.values,
                                rows.n_users, in_order, self._module_device)
        else:
            side = batches.batches
        self.module_.eval()
        self.row_codes_ = np.empty((rows.n_users, self.module_.output_weight.shape[1]), dtype=np.float32)
        for batch in side:
            self.row_codes_[batch.rows.cpu().numpy()] = self.module_(batch)[0].cpu().numpy()

    def _pair_outputs(self, rows, columns):
        codes = as_tensor(self.row_codes_, self._module_device)
        return self._batched(lambda r, c: self._link(self.module_.output_at(codes[r], c)), rows, columns)

    def _predict_codes(self, users, items, return_std=False):
        rows, columns = (users, items) if self.side == "user" else (items, users)
        return np.clip(self._pair_outputs(rows, columns), *self.rating_range_)

    @torch.no_grad()
    def _score_items(self, users):
        device = self._module_device
        codes = as_tensor(self.row_codes_, device)
        users_tensor = as_tensor(users, device, torch.long)
        if self.side == "user":
            outputs = self.module_.output_dense(codes[users_tensor], torch.arange(self.n_items_, device=device))
        else:
            outputs = self.module_.output_dense(codes, users_tensor).T
        return self._link(outputs).double().cpu().numpy()
