"""Sparse batching of ratings: row batches for the encoders and (user batch, item batch) blocks."""

from dataclasses import dataclass

import numpy as np
import torch

from ._device import as_tensor
from ._layers import SparsePattern


@dataclass
class SideBatch:
    """The sparse inputs of one batch of rows (users or items), as tensors on the model's device.

    Attributes
    ----------
    rows : LongTensor (B,)
        Codes of the batch's rows.
    pattern : SparsePattern
        The rows' entries over the other side's codes (the rating matrix's pattern).
    distinct_pattern : SparsePattern
        The rows' entries over the positions in ``distinct``.
    columns : LongTensor (nnz,)
        Codes of the other side for each stored rating of the batch, row by row.
    inputs : FloatTensor (nnz,)
        The rating entries fed to the observed-input layer (scaled).
    segment : LongTensor (nnz,)
        Position in the batch (0..B-1) of the row of each entry.
    counts : FloatTensor (B,)
        Number of entries of each row (at least 1, to average safely).
    targets : FloatTensor (nnz,)
        The decoder's target for each entry (standardised rating).
    weights : FloatTensor (nnz,) or None
        The weight of each entry's squared error (``sample_weight``; None: all 1).
    distinct : LongTensor (D,)
        The distinct column codes of the batch.
    positions : LongTensor (nnz,)
        Index of each entry's column in ``distinct``.
    ratings : LongTensor (nnz,)
        Index of each entry's rating in the table the batch was built from.
    entry_weights : FloatTensor (nnz,) or None
        Weights of the entries in the latent input (None: all 1); training sets them to hide
        some ratings from the encoders entirely.
    """

    rows: torch.Tensor
    pattern: SparsePattern
    distinct_pattern: SparsePattern
    columns: torch.Tensor
    inputs: torch.Tensor
    segment: torch.Tensor
    counts: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor | None
    distinct: torch.Tensor
    positions: torch.Tensor
    ratings: torch.Tensor
    entry_weights: torch.Tensor | None = None

    def __len__(self):
        return len(self.rows)


def partition(n_rows, batch_size, rng):
    """Split ``0..n_rows-1`` at random into batches of at most ``batch_size`` (Algorithm 1, line 3)."""
    order = rng.permutation(n_rows)
    return [order[start:start + batch_size] for start in range(0, n_rows, batch_size)]


def _row_order(rows, n_rows):
    """Entries sorted by row (stable) and the CSR-style pointer of each row."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return order, indptr


def _gather_rows(batch_rows, order, indptr):
    """Positions (in the original arrays) of every entry of ``batch_rows``, row by row."""
    starts, lengths = indptr[batch_rows], indptr[batch_rows + 1] - indptr[batch_rows]
    total = int(lengths.sum())
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return order[shift + np.arange(total)], lengths


def side_batches(rows, columns, inputs, targets, n_rows, n_columns, batches, device, weights=None):
    """One :class:`SideBatch` per batch of rows (users, or items on the transposed side).

    ``n_rows`` and ``n_columns`` are the numbers of codes of the side and of the other side;
    ``targets`` (and their ``weights``) are stored along for schedules whose decoder works row
    batch by row batch.
    """
    order, indptr = _row_order(rows, n_rows)
    result = []
    for batch_rows in batches:
        entries, lengths = _gather_rows(batch_rows, order, indptr)
        distinct, positions = np.unique(columns[entries], return_inverse=True)
        result.append(SideBatch(
            rows=as_tensor(batch_rows, device, torch.long),
            pattern=SparsePattern(lengths, columns[entries], n_columns, device),
            distinct_pattern=SparsePattern(lengths, positions, len(distinct), device),
            columns=as_tensor(columns[entries], device, torch.long),
            inputs=as_tensor(inputs[entries], device, torch.float32),
            segment=as_tensor(np.repeat(np.arange(len(batch_rows)), lengths), device, torch.long),
            counts=as_tensor(np.maximum(lengths, 1), device, torch.float32),
            targets=as_tensor(targets[entries], device, torch.float32),
            weights=None if weights is None else as_tensor(weights[entries], device, torch.float32),
            distinct=as_tensor(distinct, device, torch.long),
            positions=as_tensor(positions, device, torch.long),
            ratings=as_tensor(entries, device, torch.long),
        ))
    return result


@dataclass
class Blocks:
    """Ratings grouped by (user batch, item batch), with positions local to each batch.

    Block ``(b, c)`` holds entries ``pointer[b * n_item_batches + c]`` to the next pointer.
    """

    local_users: torch.Tensor
    local_items: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor | None
    pointer: np.ndarray
    n_item_batches: int

    def block(self, user_batch, item_batch):
        key = user_batch * self.n_item_batches + item_batch
        entries = slice(int(self.pointer[key]), int(self.pointer[key + 1]))
        weights = None if self.weights is None else self.weights[entries]
        return self.local_users[entries], self.local_items[entries], self.targets[entries], weights


def _batch_positions(batches, n_rows):
    batch_of = np.empty(n_rows, dtype=np.int64)
    position = np.empty(n_rows, dtype=np.int64)
    for number, rows in enumerate(batches):
        batch_of[rows] = number
        position[rows] = np.arange(len(rows))
    return batch_of, position


def make_blocks(users, items, targets, user_batches, item_batches, n_users, n_items, device, weights=None):
    """Group ratings into the nested schedule's (user batch × item batch) blocks."""
    user_batch, user_position = _batch_positions(user_batches, n_users)
    item_batch, item_position = _batch_positions(item_batches, n_items)
    n_item_batches = len(item_batches)
    keys = user_batch[users] * n_item_batches + item_batch[items]
    order = np.argsort(keys, kind="stable")
    pointer = np.searchsorted(keys[order], np.arange(len(user_batches) * n_item_batches + 1))
    return Blocks(
        local_users=as_tensor(user_position[users][order], device, torch.long),
        local_items=as_tensor(item_position[items][order], device, torch.long),
        targets=as_tensor(targets[order], device, torch.float32),
        weights=None if weights is None else as_tensor(weights[order], device, torch.float32),
        pointer=pointer,
        n_item_batches=n_item_batches,
    )


def squared_error_sum(targets, predictions, weights=None):
    """``sum(w * (targets - predictions) ** 2)`` (``weights`` None: all 1)."""
    squared = (targets - predictions).square()
    return squared.sum() if weights is None else (weights * squared).sum()
