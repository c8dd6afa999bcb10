"""Building blocks whose initialisation draws from an explicit generator (never the global RNG)."""

import math

import torch
from torch import nn
from torch.nn import functional as F


def _uniform_parameter(shape, bound, generator, device):
    tensor = torch.empty(shape, device=device)
    nn.init.uniform_(tensor, -bound, bound, generator=generator)
    return nn.Parameter(tensor)


class Linear(nn.Module):
    """``x @ W + b`` with PyTorch's default (Kaiming-uniform) scale, drawn from ``generator``."""

    def __init__(self, in_features, out_features, generator, device=None, bias=True):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = _uniform_parameter((out_features, in_features), bound, generator, device)
        self.bias = _uniform_parameter((out_features,), bound, generator, device) if bias else None

    def forward(self, inputs):
        return F.linear(inputs, self.weight, self.bias)


class SparseInput(nn.Module):
    """First layer over a sparse input: ``sum_r w_r * W[index_r] + b`` per bag.

    This is ``X @ W0`` (or ``Z_U @ Phi0``) without building ``X``: ``torch.nn.functional.embedding_bag``
    with per-sample weights visits only the stored entries, so time and memory grow with the
    number of ratings, not with the number of columns.

    Parameters
    ----------
    n_rows : int
        Number of columns of the (virtual) dense input, i.e. rows of ``W``.
    fan_in : int
        Number of columns used for the initialisation scale (PyTorch's default ``1/sqrt(fan_in)``).
    out_features : int
        Width of the layer.
    """

    def __init__(self, n_rows, fan_in, out_features, generator, device=None):
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = _uniform_parameter((n_rows, out_features), bound, generator, device)
        self.bias = _uniform_parameter((out_features,), bound, generator, device)

    def forward(self, indices, offsets, weights):
        summed = F.embedding_bag(
            indices, self.weight, offsets, mode="sum", per_sample_weights=weights
        )
        return summed + self.bias


class MLP(nn.Module):
    """Dense layers ``widths[0] -> ... -> widths[-1]`` with ReLU after each hidden layer.

    ``relu_output`` also applies ReLU to the last layer, as Eq. 8 of the paper does for the
    observed- and latent-input networks; the fusion network's output stays linear.
    """

    def __init__(self, widths, generator, device=None, relu_output=True):
        super().__init__()
        self.layers = nn.ModuleList(
            Linear(a, b, generator, device) for a, b in zip(widths[:-1], widths[1:])
        )
        self.relu_output = relu_output

    def forward(self, inputs):
        for position, layer in enumerate(self.layers):
            inputs = layer(inputs)
            if self.relu_output or position < len(self.layers) - 1:
                inputs = F.relu(inputs)
        return inputs


class _GatherRows(torch.autograd.Function):
    """``weight[rows]`` for sorted distinct ``rows``, with a sparse gradient (the gathered rows only).

    The dense gradient of an index is a zero-filled copy of the whole table, allocated afresh at
    every step: for CiaoDVD's 16k × 16 × 100 latent-input tables, filling those fresh pages took
    45 % of an iteration. :func:`densify_sparse_gradients` turns the sparse gradient back into the
    same dense values, in a buffer allocated once.
    """

    @staticmethod
    def forward(ctx, weight, rows):
        ctx.save_for_backward(rows)
        ctx.table_shape = weight.shape
        return weight[rows]

    @staticmethod
    def backward(ctx, grad):
        (rows,) = ctx.saved_tensors
        # The rows come from np.unique: sorted and distinct, so the tensor is coalesced as declared.
        gradient = torch.sparse_coo_tensor(rows[None], grad, ctx.table_shape, is_coalesced=True,
                                           check_invariants=False)
        return gradient, None


def densify_sparse_gradients(parameters, buffers):
    """Replace the sparse gradients of ``parameters`` by the equal dense ones (Adam's fused step
    takes dense gradients).

    They are written into buffers allocated once and kept in ``buffers`` (a dict the caller keeps
    across steps: parameter -> (buffer, rows written last)); a buffer stays zero outside the rows
    of its last gradient, so only those rows are cleared, not the whole table.
    """
    for parameter in parameters:
        grad = parameter.grad
        if grad is None or not grad.is_sparse:
            continue
        if parameter in buffers:
            dense, written = buffers[parameter]
            dense.index_fill_(0, written, 0.0)
        else:
            dense = torch.zeros_like(parameter)
        # Adding (not copying) sums the rows that several gathers of one step share, without
        # coalescing: autograd hands the gradient over without its coalesced flag.
        rows = grad._indices()[0]
        dense.index_add_(0, rows, grad._values())
        buffers[parameter] = dense, rows
        parameter.grad = dense


class LatentConcatInput(nn.Module):
    """First layer over the paper's latent input ``Z`` (masked concatenation of embeddings).

    Row ``i`` of ``Z @ Phi0`` is ``sum over rated j of v_j @ Phi0[j]`` with ``Phi0`` viewed as
    ``n_other × K × width``. The layer first projects each distinct rated entry once,
    ``p_j = v_j @ Phi0[j]``, then sums the projections per row with an embedding bag: the cost
    is ``O(distinct × K × width + ratings × width)`` instead of ``O(ratings × K × width)``, and
    ``Z`` is never built.
    """

    def __init__(self, n_other, n_components, out_features, generator, device=None):
        super().__init__()
        bound = 1.0 / math.sqrt(n_other * n_components)
        self.weight = _uniform_parameter((n_other, n_components, out_features), bound, generator, device)
        self.bias = _uniform_parameter((out_features,), bound, generator, device)

    def forward(self, distinct, positions, offsets, feedback, entry_weights=None):
        """``distinct``: the batch's distinct column codes; ``positions``: each entry's index in it;
        ``entry_weights``: optional weight of each entry in its row's sum."""
        projected = torch.bmm(feedback[distinct].unsqueeze(1), _GatherRows.apply(self.weight, distinct)).squeeze(1)
        summed = F.embedding_bag(positions, projected, offsets, mode="sum", per_sample_weights=entry_weights)
        return summed + self.bias
