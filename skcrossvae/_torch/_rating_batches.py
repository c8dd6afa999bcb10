"""Minibatch Adam over shuffled training data, one epoch per iteration of the shared driver, and
batched prediction with the trained networks.

The baselines that score (user, item) pairs draw batches of ratings (:class:`PairBatches`); the
autoencoders draw batches of rows with their sparse rating entries (:class:`RowBatches`). Both
are trained by :class:`EpochTrainer`.
"""

import numpy as np
import torch

from ._batching import partition, side_batches
from ._device import as_tensor
from ._optim import adam


class PairBatches:
    """Batches of (user codes, item codes, targets, weights or None), reshuffled every epoch.

    The ratings are moved to ``device`` once; an epoch only draws a new order.
    """

    def __init__(self, users, items, targets, batch_size, rng, device, weights=None):
        self.users = as_tensor(users, device, torch.long)
        self.items = as_tensor(items, device, torch.long)
        self.targets = as_tensor(targets, device, torch.float32)
        self.weights = None if weights is None else as_tensor(weights, device, torch.float32)
        self.batch_size, self.rng, self.device = batch_size, rng, device

    def __call__(self):
        order = as_tensor(self.rng.permutation(len(self.targets)), self.device, torch.long)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start:start + self.batch_size]
            weights = None if self.weights is None else self.weights[chosen]
            yield self.users[chosen], self.items[chosen], self.targets[chosen], weights


class RowBatches:
    """The rows of one side in random batches of sparse entries, visited in a new order every epoch.

    Rows are split into batches once (as :class:`~._crossvae_fit.CrossFeedbackTrainer` does),
    so the sparse layouts are built and moved to the device once.

    Parameters
    ----------
    table : RatingTable
        Ratings seen from the side whose rows are encoded (users, or items via ``transpose()``).
    inputs, targets : ndarray of shape (len(table),)
        Values fed to the encoder and values the decoder is trained to reproduce.
    """

    def __init__(self, table, inputs, targets, batch_size, rng, device):
        self.rng, self.table = rng, table
        self.batches = side_batches(table.users, table.items, inputs, targets, table.n_users, table.n_items,
                                    partition(table.n_users, batch_size, rng), device, table.weights)

    def __call__(self):
        for position in self.rng.permutation(len(self.batches)):
            yield self.batches[position]


class EpochTrainer:
    """Adam on ``batch_loss`` over the batches of one epoch per call of :meth:`train_one_iteration`.

    Parameters
    ----------
    module : torch.nn.Module
    batches : callable () -> iterable
        Draws the batches of one epoch.
    batch_loss : callable (batch) -> Tensor
        The objective on one batch, in per-rating units.
    learning_rate : float
    device : torch.device
    """

    def __init__(self, module, batches, batch_loss, learning_rate, device):
        self.module, self.batches, self.batch_loss = module, batches, batch_loss
        self.optimizer = adam(module.parameters(), learning_rate, device)
        self.device = device

    def train_one_iteration(self):
        """One epoch; returns the mean batch loss."""
        self.module.train()
        total = torch.zeros((), device=self.device)
        n_batches = 0
        for batch in self.batches():
            loss = self.batch_loss(batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
            n_batches += 1
        self.module.eval()
        return total.item() / n_batches

    def get_state(self):
        return {key: value.detach().clone() for key, value in self.module.state_dict().items()}

    def set_state(self, state):
        self.module.load_state_dict(state)

    def finalise(self):
        """Release the last step's gradients (the fitted network never uses them again)."""
        self.optimizer.zero_grad(set_to_none=True)


_PREDICT_BATCH = 8192


def mean_squared_error(targets, predictions, weights=None):
    """The (``weights``-weighted) mean of the squared errors of a batch."""
    squared = (predictions - targets).square()
    return squared.mean() if weights is None else (weights * squared).sum() / weights.sum()


@torch.no_grad()
def predict_in_chunks(function, code_arrays, device):
    """``function`` applied to chunks of numpy code arrays (as long tensors on ``device``),
    concatenated as one float64 numpy array."""
    parts = [
        function(*(as_tensor(codes[start:start + _PREDICT_BATCH], device, torch.long) for codes in code_arrays))
        .double().cpu().numpy()
        for start in range(0, len(code_arrays[0]), _PREDICT_BATCH)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


@torch.no_grad()
def encode_rows(module, table, inputs, batches=None, batch_size=1024):
    """The autoencoder's decoder output of every row of ``table`` (rows in code order), read from
    ``inputs``; ``batches`` (training batches of this table) are reused when given."""
    device = next(module.parameters()).device
    if batches is None:
        in_order = [np.arange(start, min(start + batch_size, table.n_users))
                    for start in range(0, table.n_users, batch_size)]
        batches = side_batches(table.users, table.items, inputs, table.values, table.n_users, table.n_items,
                               in_order, device)
    module.eval()
    codes = np.empty((table.n_users, module.output_weight.shape[1]), dtype=np.float32)
    for batch in batches:
        codes[batch.rows.cpu().numpy()] = module(batch)[0].cpu().numpy()
    return codes


def pair_outputs(module, row_codes, rows, columns, link):
    """``link`` of the output layer of each row's code at its paired column (numpy codes)."""
    device = next(module.parameters()).device
    codes = as_tensor(row_codes, device)
    return predict_in_chunks(lambda r, c: link(module.output_at(codes[r], c)), (rows, columns), device)


@torch.no_grad()
def dense_outputs(module, row_codes, rows, columns, link):
    """``link`` of the output layer of ``rows``' codes at every one of ``columns`` (numpy codes)."""
    device = next(module.parameters()).device
    codes = as_tensor(row_codes, device)[as_tensor(rows, device, torch.long)]
    return link(module.output_dense(codes, as_tensor(columns, device, torch.long))).double().cpu().numpy()
