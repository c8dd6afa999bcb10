"""What the torch baselines share beyond :class:`~skcrossvae._torch_estimator.TorchEstimator`.

- :class:`TorchBaseline`: the baselines trained by minibatch Adam over epochs.
- :class:`PairBaseline`: models scoring (user, item) pairs from embeddings (biased MF, NCF,
  ConvNCF), trained over shuffled ratings.
- :class:`RowAutoencoderBaseline`: autoencoders over sparse rating rows (AutoRec, DAE, VAE),
  trained over shuffled rows.
- Docstring fragments for the parameters and attributes they all have.
"""

from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._data import RatingTable, grown
from .._torch_estimator import TORCH_ATTRIBUTE_DOCS, TORCH_PARAMETER_DOCS, TorchEstimator

__all__ = ["BASE_ATTRIBUTE_DOCS", "ROW_INPUT_NOTES", "TORCH_ATTRIBUTE_DOCS", "TORCH_PARAMETER_DOCS",
           "PairBaseline", "RowAutoencoderBaseline", "TorchBaseline"]

BASE_ATTRIBUTE_DOCS = """
    user_ids_, item_ids_ : ndarray
        The raw ids seen in ``fit``, sorted, then those added by ``fold_in`` (where the model
        has it); a user's code is its position.
    n_users_, n_items_ : int
        Numbers of users and items.
    fit_sizes_ : tuple of int
        The numbers of users and items seen in ``fit``.
    global_mean_ : float
        Mean training rating.
    rating_std_ : float
        Standard deviation of the training ratings.
    rating_range_ : tuple of float
        Smallest and largest rating seen; predictions are clipped to it.
    user_fallback_, item_fallback_ : ndarray
        Damped mean deviations from the global mean, used for pairs with an unknown id.
    ratings_ : scipy.sparse.csr_matrix
        Users × items matrix of the ratings given to ``fit`` (``recommend`` excludes its pairs).
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
    user-side autoencoders from about 0.965 to 0.93. Rows are read sparsely (a
    sparse product over the observed entries) and during training the output layer is
    evaluated only at the batch's observed entries, so no dense users × items matrix is built.
"""

class TorchBaseline(TorchEstimator):
    """The baselines trained by minibatch Adam, one epoch per iteration; not for direct use.

    Subclasses build the network (:meth:`_make_module`) and say how to batch and score the
    training data (:meth:`_training_objective`).
    """

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def _training_objective(self, train, rng, generator, device):
        """``(batches, batch_loss)`` for the epoch trainer, on the encoded training ratings."""

    def _make_trainer(self, module, train, rng, generator, device, incremental):
        from .._torch._rating_batches import EpochTrainer

        batches, batch_loss = self._training_objective(train, rng, generator, device)
        return EpochTrainer(module, batches, batch_loss, self.learning_rate, device)

    def _store_prediction_state(self, trainer, table):
        """Nothing to store by default: the network predicts pairs directly."""

    def _batched(self, function, *code_arrays):
        """``function`` of chunks of code arrays as long tensors, concatenated in numpy."""
        from .._torch._rating_batches import predict_in_chunks

        return predict_in_chunks(function, code_arrays, self._module_device)


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
        from .._torch._rating_batches import PairBatches, mean_squared_error

        module = self.module_
        targets = (train.values - self.global_mean_) / self.rating_std_

        def batch_loss(batch):
            users, items, batch_targets, weights = batch
            return (mean_squared_error(batch_targets, module(users, items), weights)
                    + self.alpha * module.penalty(users, items))

        return (PairBatches(train.users, train.items, targets, self.batch_size, rng, device, train.weights),
                batch_loss)

    def _unclipped(self, users, items):
        return self.global_mean_ + self.rating_std_ * self._batched(self.module_, users, items)

    def _predict_codes(self, users, items, return_std=False):
        return np.clip(self._unclipped(users, items), *self.rating_range_)

    def _score_items(self, users, items):
        scores = self._unclipped(np.repeat(users, len(items)), np.tile(items, len(users)))
        return scores.reshape(len(users), len(items))


class RowAutoencoderBaseline(TorchBaseline):
    """Autoencoders over the sparse rating rows of one side; not for direct use.

    The encoder reads :meth:`_inputs`. The objective of a batch is the mean squared error on
    its observed entries, on the standardised scale, plus :meth:`_regulariser`. After ``fit``
    each row's decoder output is computed once from all the ratings given to ``fit``
    (``row_codes_``); a prediction is the output layer at that row and the pair's column.
    The network computes in standardised units (float32 stays exact and finite on every scale
    of ratings ``fit`` accepts); the rating scale is applied in float64 outside it.
    """

    #: 'user' (rows of X) or 'item' (rows of X^T); AutoRec makes it a parameter.
    side = "user"

    @abstractmethod
    def _link(self, outputs):
        """Standardised ratings, ``(rating - global_mean_) / rating_std_``, from output-layer
        values (torch)."""

    def _ratings(self, standardised):
        """Ratings from standardised ratings (numpy, float64)."""
        return self.global_mean_ + self.rating_std_ * standardised

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
        from .._torch._rating_batches import RowBatches, mean_squared_error

        module, n_ratings = self.module_, train.total_weight
        rows = self._rows(train)
        targets = (rows.values - self.global_mean_) / self.rating_std_
        batches = RowBatches(rows, self._inputs(rows), targets, self.batch_size, rng, device)

        def batch_loss(batch):
            codes, kl = module(batch, generator)
            predicted = self._link(module.output_at(codes[batch.segment], batch.columns))
            squared = mean_squared_error(batch.targets, predicted, batch.weights)
            return squared + self._regulariser(module, batch, kl, n_ratings)

        return batches, batch_loss

    def _store_prediction_state(self, trainer, table):
        """Each row's decoder output, read from ``table`` (the training batches when it is the
        table the trainer trains on)."""
        from .._torch._rating_batches import encode_rows

        rows = self._rows(table)
        # ``table`` is the training table or the training and validation ratings together.
        trained_on = len(rows) == len(trainer.batches.table)
        self.row_codes_ = encode_rows(self.module_, rows, self._inputs(rows),
                                      trainer.batches.batches if trained_on else None, self.batch_size)

    def _fold_in_rows(self, ratings, users, items):
        """The encoder pass of Liang et al.'s protocol: each folded-in row's decoder output is
        read from its ratings of the columns of ``fit`` (the other side's ids that
        :meth:`fold_in` adds have no input or output unit: their pairs keep the fallback)."""
        from .._torch._rating_batches import encode_rows

        n_columns = self.fit_sizes_[self.side == "user"]
        for side, codes, rows, others, values in self._fold_in_reads(ratings, users, items):
            if side != self.side:
                continue
            table = RatingTable(rows, others, values, len(codes), n_columns)
            codes_of_rows = encode_rows(self.module_, table, self._inputs(table), None, self.batch_size)
            self.row_codes_ = grown(self.row_codes_, len(self.user_ids_ if side == "user" else self.item_ids_),
                                    codes, codes_of_rows)

    def _modelled_columns(self, columns):
        """Which columns the decoder has an output unit for (those of ``fit``)."""
        return columns < self.fit_sizes_[self.side == "user"]

    def _fallback(self, users, items):
        return self.global_mean_ + self.user_fallback_[users] + self.item_fallback_[items]

    def _predict_codes(self, users, items, return_std=False):
        from .._torch._rating_batches import pair_outputs

        rows, columns = (users, items) if self.side == "user" else (items, users)
        modelled = self._modelled_columns(columns)
        predictions = self._fallback(users, items)
        predictions[modelled] = self._ratings(pair_outputs(self.module_, self.row_codes_, rows[modelled],
                                                           columns[modelled], self._link))
        return np.clip(predictions, *self.rating_range_)

    def _score_items(self, users, items):
        from .._torch._rating_batches import dense_outputs

        scores = self._fallback(users[:, None], items[None, :])
        if self.side == "user":
            modelled = self._modelled_columns(items)
            scores[:, modelled] = self._ratings(
                dense_outputs(self.module_, self.row_codes_, users, items[modelled], self._link))
        else:
            modelled = self._modelled_columns(users)
            scores[modelled] = self._ratings(
                dense_outputs(self.module_, self.row_codes_, items, users[modelled], self._link)).T
        return scores
