"""Algorithm 1: training the cross-feedback VAE over sparse (user batch × item batch) blocks."""

import contextlib
import dataclasses
import os
import tempfile

import numpy as np
import torch

from ._batching import make_blocks, partition, side_batches, squared_error_sum
from ._crossvae import decode, kl_to_standard_normal, reparameterise
from ._layers import LatentConcatInput
from ._optim import TableRMSprop, adam


#: Row-stepped tables with more weights than this (512 MiB in float32) keep no average.
LARGE_TABLE = 2**27

#: Early stopping copies tensors with more entries than this (64 MiB in float32) to a temporary
#: file, not to memory: written through the page cache, read back only if that state wins.
SPILLED_COPY = 2**24


@dataclasses.dataclass(frozen=True)
class _Spilled:
    """A tensor copied to a file (its shape and dtype), read back in place."""

    path: str
    shape: tuple
    dtype: torch.dtype

    def read_into(self, tensor):
        with open(self.path, "rb") as file:
            file.readinto(memoryview(tensor.numpy()).cast("B"))


@dataclasses.dataclass(frozen=True)
class TrainerSettings:
    """How :class:`CrossFeedbackTrainer` trains (the estimator's parameters, 'auto' resolved)."""

    schedule: str
    beta_user: float
    beta_item: float
    user_batch_size: int
    item_batch_size: int
    learning_rate: float
    input_dropout: float
    weight_averaging: float


@torch.no_grad()
def encode_batches(encoder, batches, feedback, n_rows):
    """Posterior means and variances of the rows of ``batches`` (an ``(n_rows, latent_dim)`` pair;
    rows in no batch are left unset), read by ``encoder`` with the cross-fed ``feedback``."""
    k = feedback.shape[1]
    means = torch.empty(n_rows, k, device=feedback.device)
    variances = torch.empty(n_rows, k, device=feedback.device)
    for batch in batches:
        mean, logit = encoder(batch, feedback)
        means[batch.rows], variances[batch.rows] = mean, torch.sigmoid(logit)
    return means, variances


def fold_in(encoder, rows, columns, inputs, n_rows, feedback, batch_size):
    """Posteriors of rows that no training read, from their entries: one pass of the trained
    ``encoder`` with the cross-fed ``feedback`` of the other side, no sampling, no gradient.

    ``rows`` (codes in ``[0, n_rows)``), ``columns`` (the other side's codes, below
    ``len(feedback)``) and ``inputs`` (the scaled ratings) are parallel arrays of entries.
    Returns the means and variances as float64 numpy arrays of shape ``(n_rows, latent_dim)``.
    """
    device = feedback.device
    batches = [np.arange(start, min(start + batch_size, n_rows)) for start in range(0, n_rows, batch_size)]
    sides = side_batches(rows, columns, inputs, np.zeros(len(inputs)), n_rows, len(feedback), batches, device)
    return tuple(t.cpu().double().numpy() for t in encode_batches(encoder, sides, feedback, n_rows))


class CrossFeedbackTrainer:
    """Trains a :class:`CrossFeedbackVAE` on encoded ratings, one iteration at a time.

    Parameters
    ----------
    model : CrossFeedbackVAE
    train : RatingTable
        Encoded training ratings.
    settings : TrainerSettings
    input_scale : float
        Ratings are divided by it before entering the observed-input layers.
    decoder : object
        Its ``standardise(table)`` gives the targets the dot product models for a rating table.
    rng : numpy RandomState
        Draws the batches and the order of the blocks.
    generator : torch.Generator
        Draws the initial cross-fed embeddings and the reparameterisation noise.
    feedback : tuple of Tensor or None
        Cross-fed (user, item) embeddings to start from (warm start); drawn from the prior N(0, I)
        when None (Algorithm 1, line 2).
    """

    def __init__(self, model, train, settings, input_scale, decoder,
                 rng, generator, device, feedback=None):
        self.model, self.settings, self.rng, self.generator = model, settings, rng, generator
        self.user_batches = partition(train.n_users, settings.user_batch_size, rng)
        self.item_batches = partition(train.n_items, settings.item_batch_size, rng)
        self.input_scale, self.decoder, self.device = input_scale, decoder, device
        self.read_ratings(train)
        if feedback is None:
            shape_users = (train.n_users, model.latent_dim)
            shape_items = (train.n_items, model.latent_dim)
            feedback = (torch.randn(shape_users, generator=generator, device=device),
                        torch.randn(shape_items, generator=generator, device=device))
        self.feedback_users, self.feedback_items = feedback
        # The first layers' tables (one row per user or item of the other side: 94 % of the
        # weights on MovieLens-100K, more on sparse data) take row-wise steps; every other
        # weight takes Adam's step.
        self.tables = [module for module in model.modules() if hasattr(module, "step_rows")]
        table_weights = {id(table.weight) for table in self.tables}
        self.dense_parameters = [p for p in model.parameters() if id(p) not in table_weights]
        self.optimizer = adam(self.dense_parameters, settings.learning_rate, device)
        self.table_optimizer = TableRMSprop(self.tables, settings.learning_rate)
        self.n_steps = 0
        # The averages of the dense weights move at every step, those of the tables once per
        # iteration (by the product of the iteration's decays): a pass over a table at every step
        # would cost more than the step. A table too large to copy keeps no average.
        self.averaged = (
            [p.detach().clone() for p in [*self.dense_parameters, *self._table_weights()]]
            if settings.weight_averaging > 0 else None
        )
        self._snapshots = None  # a temporary folder for the large tables' early-stopping copies
        self.iteration_decay = 1.0
        self.holds_averages = False  # inside averaged_weights(): the averages are in the model

    def read_ratings(self, table):
        """Train on, and encode from, ``table``'s ratings (over the same row batches) from now on."""
        # Input dropout draws one mask entry per rating; the objective is per unit of weight.
        self.n_ratings, self.total_weight = len(table), table.total_weight
        targets = self.decoder.standardise(table)
        inputs = table.values / self.input_scale
        self.user_side = side_batches(table.users, table.items, inputs, targets, table.n_users,
                                      table.n_items, self.user_batches, self.device, table.weights)
        self.item_side = side_batches(table.items, table.users, inputs, targets, table.n_items,
                                      table.n_users, self.item_batches, self.device, table.weights)
        self.blocks = None
        if self.settings.schedule == "nested":
            self.blocks = make_blocks(table.users, table.items, targets, self.user_batches,
                                      self.item_batches, table.n_users, table.n_items, self.device,
                                      table.weights)

    def _step(self, loss):
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.n_steps += 1
        # Bias-corrected decay: the average does not linger on the initial weights.
        decay = min(self.settings.weight_averaging, (1 + self.n_steps) / (10 + self.n_steps))
        self.table_optimizer.step()
        if self.averaged is not None:
            self.iteration_decay *= decay
            with torch.no_grad():
                torch._foreach_lerp_(self.averaged[:len(self.dense_parameters)],
                                     [p.detach() for p in self.dense_parameters], 1 - decay)

    def _hidden_ratings(self):
        """A fresh draw of the ratings hidden from both encoders at this step (None: none hidden)."""
        rate = self.settings.input_dropout
        if rate == 0:
            return None
        return torch.rand(self.n_ratings, generator=self.generator, device=self.device) < rate

    def _dropped(self, batch, hidden):
        """The batch as the encoder sees it with the ``hidden`` ratings removed.

        The encoders otherwise read the very ratings the decoder is scored on and can learn to
        copy them; a hidden rating is removed from the rating input and from the cross-fed
        input, on both sides at once, so the decoder must predict it as at prediction time
        (the rest are scaled by ``1 / (1 - rate)``, as inverted dropout does).
        """
        if hidden is None:
            return batch
        kept = (~hidden[batch.ratings]).float() / (1 - self.settings.input_dropout)
        return dataclasses.replace(batch, inputs=batch.inputs * kept, entry_weights=kept)

    @contextlib.contextmanager
    def averaged_weights(self):
        """Within the block, the model's parameters hold their running average (if kept)."""
        if self.averaged is None or self.holds_averages:
            yield
            return
        self._swap_weights()
        self.holds_averages = True
        try:
            yield
        finally:
            self._swap_weights()
            self.holds_averages = False

    def _parameters_and_averages(self):
        return [*self.dense_parameters, *self._table_weights()], self.averaged

    @torch.no_grad()
    def _swap_weights(self):
        # Exchanging the storages, not copying the values, keeps no third copy of every weight
        # (1.9 GB for an Epinions latent-input table).
        for parameter, average in zip(*self._parameters_and_averages()):
            parameter.data, average.data = average.data, parameter.data

    def _table_weights(self):
        """The weights of the tables small enough to average (a copy of the others would be as
        large as the model: on data as sparse as theirs most rows change at a few steps)."""
        return [table.weight for table in self.tables if table.weight.numel() <= LARGE_TABLE]

    def train_one_iteration(self):
        """One pass of Algorithm 1 (lines 6-15); returns the negative ELBO per rating."""
        loss = self._nested_iteration() if self.settings.schedule == "nested" else self._alternating_iteration()
        self._update_table_averages()
        return loss

    def _update_table_averages(self):
        tables = self._table_weights()
        if self.averaged is not None and tables:
            with torch.no_grad():
                torch._foreach_lerp_(self.averaged[len(self.dense_parameters):],
                                     [p.detach() for p in tables], 1 - self.iteration_decay)
        self.iteration_decay = 1.0

    def _nested_iteration(self):
        with _deferred_table_steps(_latent_tables(self.model.user_encoder), self.feedback_items), \
                _deferred_table_steps(_latent_tables(self.model.item_encoder), self.feedback_users):
            return self._nested_steps()

    def _nested_steps(self):
        settings, model = self.settings, self.model
        n_user_batches, n_item_batches = len(self.user_side), len(self.item_side)
        next_users = torch.empty_like(self.feedback_users)
        next_items = torch.empty_like(self.feedback_items)
        total = torch.zeros((), device=next_users.device)
        for b in self.rng.permutation(n_user_batches):
            users = self.user_side[b]
            for c in self.rng.permutation(n_item_batches):
                items = self.item_side[c]
                hidden = self._hidden_ratings()
                mean_u, logit_u = model.user_encoder(self._dropped(users, hidden), self.feedback_items)
                mean_v, logit_v = model.item_encoder(self._dropped(items, hidden), self.feedback_users)
                sample_u = reparameterise(mean_u, logit_u, self.generator)
                sample_v = reparameterise(mean_v, logit_v, self.generator)
                local_users, local_items, targets, weights = self.blocks.block(b, c)
                predictions = decode(sample_u[local_users], sample_v[local_items], model.biases)
                # Each user's KL enters once per item batch and each item's once per user batch:
                # dividing by those counts makes one iteration's blocks add up to Eq. 7 exactly.
                loss = (
                    0.5 * squared_error_sum(targets, predictions, weights)
                    + settings.beta_user * kl_to_standard_normal(mean_u, logit_u).sum() / n_item_batches
                    + settings.beta_item * kl_to_standard_normal(mean_v, logit_v).sum() / n_user_batches
                ) / self.total_weight
                self._step(loss)
                next_users[users.rows] = sample_u.detach()
                next_items[items.rows] = sample_v.detach()
                total += loss.detach()
        self.feedback_users, self.feedback_items = next_users, next_items
        return total.item()

    def _alternating_iteration(self):
        """User batches update the user side against fixed item embeddings, then vice versa."""
        total = torch.zeros((), device=self.feedback_users.device)
        phases = (
            (self.model.user_encoder, self.user_side, "feedback_items", "feedback_users", self.settings.beta_user),
            (self.model.item_encoder, self.item_side, "feedback_users", "feedback_items", self.settings.beta_item),
        )
        for encoder, batches, other_name, own_name, beta in phases:
            refreshed = torch.empty_like(getattr(self, own_name))
            other = getattr(self, other_name)
            with _deferred_table_steps(_latent_tables(encoder), other):
                self._alternating_phase(encoder, batches, other, refreshed, beta, total)
            setattr(self, own_name, refreshed)
        return total.item() / 2

    def _alternating_phase(self, encoder, batches, other, refreshed, beta, total):
        """One side's steps against the other side's fixed embeddings ``other``."""
        for b in self.rng.permutation(len(batches)):
            batch = batches[b]
            hidden = self._hidden_ratings()
            mean, logit = encoder(self._dropped(batch, hidden), other)
            sample = reparameterise(mean, logit, self.generator)
            predictions = decode(sample[batch.segment], other[batch.columns], self.model.biases)
            loss = (
                0.5 * squared_error_sum(batch.targets, predictions, batch.weights)
                + beta * kl_to_standard_normal(mean, logit).sum()
            ) / self.total_weight
            self._step(loss)
            refreshed[batch.rows] = sample.detach()
            total += loss.detach()

    def average_posteriors(self):
        """From now on, :meth:`encode_all` gives the average of the posteriors added by
        :meth:`add_posteriors` (once per iteration): the cross-fed embeddings are samples, and
        one iteration's posteriors carry their noise."""
        self._posterior_sums, self._n_averaged = None, 0

    def add_posteriors(self):
        """Add the current posteriors to the average."""
        encoded = self._encode_all()
        self._posterior_sums = encoded if self._posterior_sums is None else tuple(
            total + new for total, new in zip(self._posterior_sums, encoded))
        self._n_averaged += 1

    @torch.no_grad()
    def encode_all(self):
        """Posterior means and variances of every user and item, from the current cross-fed
        embeddings (with the averaged weights, when kept), or their average over the
        iterations since :meth:`average_posteriors`."""
        if getattr(self, "_n_averaged", 0):
            return tuple(total / self._n_averaged for total in self._posterior_sums)
        return self._encode_all()

    def _encode_all(self):
        with self.averaged_weights():
            return (*encode_batches(self.model.user_encoder, self.user_side, self.feedback_items,
                                    len(self.feedback_users)),
                    *encode_batches(self.model.item_encoder, self.item_side, self.feedback_users,
                                    len(self.feedback_items)))

    def get_state(self):
        """A copy of what prediction and further training start from (early stopping's best
        state); large tensors are copied to a temporary file instead of memory."""
        averages = None if self.averaged is None else [
            self._copy(f"average.{position}", average) for position, average in enumerate(self.averaged)]
        weights = {key: self._copy(key, value) for key, value in self.model.state_dict().items()}
        return weights, averages, self.feedback_users.clone(), self.feedback_items.clone()

    def _copy(self, key, value):
        value = value.detach()
        if value.numel() <= SPILLED_COPY or value.device.type != "cpu":
            return value.clone()
        if self._snapshots is None:
            self._snapshots = tempfile.TemporaryDirectory(prefix="skcrossvae-")
        path = os.path.join(self._snapshots.name, key)
        value.numpy().tofile(path)  # written through the page cache, not held in memory
        return _Spilled(path, value.shape, value.dtype)

    @staticmethod
    @torch.no_grad()
    def _restore(target, copy):
        if isinstance(copy, _Spilled):
            copy.read_into(target)
        else:
            target.copy_(copy)

    def set_state(self, state):
        weights, averages, self.feedback_users, self.feedback_items = state
        current = self.model.state_dict()
        for key, value in weights.items():
            self._restore(current[key], value)
        # Read back into the tensors in place: a state can be restored more than once, and the
        # averages move in place from here on.
        for average, copy in zip(self.averaged or (), averages or ()):
            self._restore(average, copy)

    def finalise(self):
        """Leave the averaged weights (if kept) in the model for good: prediction uses them.

        The last step's gradients are released: the fitted model would otherwise hold a copy of
        every weight it never uses again.
        """
        self.optimizer.zero_grad(set_to_none=True)
        for table in self.tables:
            table.release_gradient()
        if self.averaged is not None:
            with torch.no_grad():
                parameters, averages = self._parameters_and_averages()
                torch._foreach_copy_([p.detach() for p in parameters], averages)
        # The model holds the averages for good; the optimisers' state is not needed any more.
        self.averaged, self.table_optimizer = None, None
        if self._snapshots is not None:
            self._snapshots.cleanup()
            self._snapshots = None


def _latent_tables(module):
    """The latent-input tables of ``module``."""
    return [layer for layer in module.modules() if isinstance(layer, LatentConcatInput)]


@contextlib.contextmanager
def _deferred_table_steps(tables, feedback):
    """Within the block, the steps of ``tables`` (which read ``feedback``) add up per row and
    reach the tables at its end (:meth:`LatentConcatInput.defer_updates`)."""
    for table in tables:
        table.defer_updates(feedback)
    try:
        yield
    finally:
        for table in tables:
            table.apply_deferred_updates()
