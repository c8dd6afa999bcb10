"""Building blocks whose initialisation draws from an explicit generator (never the global RNG)."""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


# torch warns once per process that its CSR tensors are in beta, at the first one built: build
# that one here with the warning silenced, so a user's fit does not show it.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta state", UserWarning)
    torch.sparse_csr_tensor(torch.zeros(2, dtype=torch.int64, device="cpu"),
                            torch.zeros(0, dtype=torch.int64, device="cpu"), torch.zeros(0, device="cpu"),
                            (1, 1), check_invariants=False)


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


class SparsePattern:
    """Where the entries of a sparse (rows x columns) matrix lie, for products with new values.

    The pattern is built once per batch; :meth:`matmul` multiplies the matrix holding ``values``
    (one per entry, in row order) at the pattern's entries with a dense matrix. Both the product
    and its gradient are CSR matrix products (the gradient with the transposed pattern, built
    once too), which is faster than ``embedding_bag``, whose backward sorts the indices at every
    step. The values are data (ratings, dropout weights): no gradient flows into them.

    Parameters
    ----------
    row_lengths : ndarray of int
        Number of entries of each row.
    columns : ndarray of int
        The column of each entry, row by row.
    n_columns : int
        Number of columns.
    device : torch.device
    """

    def __init__(self, row_lengths, columns, n_columns, device):
        n_rows = len(row_lengths)
        self.shape, self.transposed_shape = (n_rows, n_columns), (n_columns, n_rows)
        self.row_pointer = torch.as_tensor(np.concatenate([[0], np.cumsum(row_lengths)]), device=device)
        self.columns = torch.as_tensor(np.asarray(columns, dtype=np.int64), device=device)
        order = np.argsort(columns, kind="stable")
        counts = np.bincount(columns, minlength=n_columns)
        self.transposed_pointer = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)]), device=device)
        self.transposed_rows = torch.as_tensor(np.repeat(np.arange(n_rows), row_lengths)[order], device=device)
        self.transposed_order = torch.as_tensor(order, device=device)
        self.ones = torch.ones(len(columns), device=device)

    def matrix(self, values):
        return torch.sparse_csr_tensor(self.row_pointer, self.columns, values, self.shape,
                                       check_invariants=False)

    def transposed_matrix(self, values):
        return torch.sparse_csr_tensor(self.transposed_pointer, self.transposed_rows,
                                       values[self.transposed_order], self.transposed_shape,
                                       check_invariants=False)

    def matmul(self, values, dense):
        """``A @ dense`` for the matrix ``A`` holding ``values`` (None: ones) at the pattern."""
        return _PatternProduct.apply(dense, self.ones if values is None else values, self)


class _PatternProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dense, values, pattern):
        ctx.save_for_backward(values)
        ctx.pattern = pattern
        return pattern.matrix(values) @ dense

    @staticmethod
    def backward(ctx, grad):
        (values,) = ctx.saved_tensors
        return ctx.pattern.transposed_matrix(values) @ grad, None, None


def _grown_parameter(weight, n_rows, bound, generator):
    """``weight`` with rows appended up to ``n_rows``, drawn from U(-bound, bound)."""
    added = torch.empty((n_rows - len(weight), *weight.shape[1:]), device=weight.device)
    nn.init.uniform_(added, -bound, bound, generator=generator)
    return nn.Parameter(torch.cat([weight.detach(), added]))


class SparseInput(nn.Module):
    """First layer over a sparse input: ``sum_r w_r * W[index_r] + b`` per row.

    This is ``X @ W0`` without building ``X``: a sparse matrix product over the stored entries
    only (:class:`SparsePattern`), so time and memory grow with the number of ratings, not with
    the number of columns.

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

    def forward(self, pattern, values):
        return pattern.matmul(values, self.weight) + self.bias

    def grow(self, n_rows, generator):
        """Add rows (new columns of the input), drawn as a layer of ``n_rows`` rows draws them."""
        self.weight = _grown_parameter(self.weight, n_rows, 1.0 / math.sqrt(n_rows), generator)


class _RowSteppedTable:
    """The gradient hand-over of a table whose rows take row-wise steps: the backward pass
    leaves ``pending_gradient`` for :class:`~skcrossvae._torch._optim.TableRMSprop` instead of
    giving autograd a table-sized gradient."""

    pending_gradient = None

    def take_gradient(self):
        """The gradient of the last backward pass (its form is the layer's), then forget it;
        None when there was no backward pass since."""
        pending, self.pending_gradient = self.pending_gradient, None
        return pending

    def release_gradient(self):
        """Forget the last gradient (a fitted model keeps none)."""
        self.pending_gradient = None


class RowSteppedSparseInput(_RowSteppedTable, SparseInput):
    """A :class:`SparseInput` whose weight takes row-wise steps (the encoders' rating input).

    A batch rates a few of the weight's rows on sparse data (it has one row per item of the
    catalogue); a dense gradient and a dense optimiser step over every row would cost far more
    than the batch's arithmetic. The backward keeps the gradient of the rated rows only,
    ``(rows, gradient)`` (``rows`` None: every row), for :meth:`take_gradient`.
    """

    def forward(self, batch, values):
        """``X @ W0 + b`` for the batch's rows, ``X`` holding ``values`` at its pattern."""
        if 2 * len(batch.distinct) >= len(self.weight):
            return _RowProduct.apply(self.weight, values, batch.pattern, None, self) + self.bias
        return _RowProduct.apply(self.weight, values, batch.distinct_pattern, batch.distinct, self) + self.bias

    def mean_squares(self, pending):
        """Mean square of each row's gradient."""
        return pending[1].square().mean(1)

    @torch.no_grad()
    def step_rows(self, pending, coefficients):
        """``W[j] += c_j g_j`` for the rows of ``pending``."""
        rows, gradient = pending
        gradient.mul_(coefficients[:, None])
        if rows is None:
            self.weight.detach().add_(gradient)
        else:
            self.weight.detach().index_add_(0, rows, gradient)


class _RowProduct(torch.autograd.Function):
    """``A @ W[rows]`` for a batch's pattern ``A`` over ``rows``; the backward hands the rows'
    gradient to the layer, not to autograd."""

    @staticmethod
    def forward(ctx, weight, values, pattern, rows, layer):
        ctx.save_for_backward(values)
        ctx.pattern, ctx.rows, ctx.layer = pattern, rows, layer
        return pattern.matrix(values) @ (weight if rows is None else weight[rows])

    @staticmethod
    def backward(ctx, grad):
        (values,) = ctx.saved_tensors
        ctx.layer.pending_gradient = (ctx.rows, ctx.pattern.transposed_matrix(values) @ grad)
        return None, None, None, None, None


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


#: :func:`add_outer_products` builds the rows' outer products this many entries at a time: the
#: rows can hold most of a large table (1.9 GB on Epinions), and one product over all of them
#: would double it.
UPDATE_CHUNK = 2**22


@torch.no_grad()
def add_outer_products(table, rows, left, right):
    """``table[rows[r]] += outer(left[r], right[r])`` for rows listed at most once each (every
    row of ``table`` when ``rows`` is None)."""
    flat = table.view(len(table), -1)
    n_rows = len(table) if rows is None else len(rows)
    chunk = max(1, UPDATE_CHUNK // flat.shape[1])
    for start in range(0, n_rows, chunk):
        part = slice(start, start + chunk)
        # by broadcasting into the rows seen as flat vectors: the same values as a batched
        # product, in less time
        outer = (left[part, :, None] * right[part, None, :]).view(-1, flat.shape[1])
        if rows is None:
            flat[part] += outer
        else:
            flat.index_add_(0, rows[part], outer)


class _ProjectRows(torch.autograd.Function):
    """``p_j = v_j @ W[j]`` for the rows ``j`` of ``rows`` (all rows when None).

    The forward reads the rows in place (an embedding bag over the table's ``K`` vectors of each
    row, weighted by ``v_j``), without copying them. The backward does not hand the table's
    gradient to autograd: the gradient of row ``j`` is the outer product ``v_j (dL/dp_j)^T``,
    and the layer keeps its two factors (:meth:`LatentConcatInput.take_gradient`) for the
    row-wise optimiser, which applies the update without ever building the gradient of the
    table. The table must be used once per backward pass, as the encoders do.
    """

    @staticmethod
    def forward(ctx, weight, feedback, rows, layer):
        ctx.layer, ctx.rows = layer, rows
        inputs = feedback if rows is None else feedback[rows]
        ctx.save_for_backward(inputs)
        if layer.deferred is not None:
            # The table holds still while its steps are deferred: a row's projection is the one
            # taken when deferral began plus |v_j|^2 d_j, the deferred update v_j d_j^T's share.
            deferred = layer.deferred
            if rows is None:
                return torch.addcmul(deferred.start, deferred.norms, deferred.vectors)
            return torch.addcmul(deferred.start[rows], deferred.norms[rows], deferred.vectors[rows])
        if rows is None:
            return torch.bmm(inputs.unsqueeze(1), weight).squeeze(1)
        n_components = weight.shape[1]
        vectors = (rows[:, None] * n_components + torch.arange(n_components, device=rows.device)).flatten()
        offsets = torch.arange(0, len(vectors), n_components, device=rows.device)
        return F.embedding_bag(vectors, weight.view(-1, weight.shape[2]), offsets, mode="sum",
                               per_sample_weights=inputs.flatten())

    @staticmethod
    def backward(ctx, grad):
        (inputs,) = ctx.saved_tensors
        ctx.layer.pending_gradient = (ctx.rows, inputs, grad)
        return None, None, None, None


@dataclass
class _DeferredSteps:
    """A latent-input table's steps while they are deferred (:meth:`LatentConcatInput.defer_updates`).

    Attributes
    ----------
    inputs : Tensor (n_other, K)
        The embeddings ``v`` the steps were taken with.
    start : Tensor (n_other, width)
        Each row's projection ``v_j @ table[j]`` when deferral began.
    norms : Tensor (n_other, 1)
        ``|v_j|^2``.
    vectors : Tensor (n_other, width)
        ``d_j``: the deferred update of row ``j`` is ``v_j d_j^T``.
    stepped : Tensor of bool (n_other,)
        The rows that took a step.
    """

    inputs: torch.Tensor
    start: torch.Tensor
    norms: torch.Tensor
    vectors: torch.Tensor
    stepped: torch.Tensor


class LatentConcatInput(_RowSteppedTable, nn.Module):
    """First layer over the paper's latent input ``Z`` (masked concatenation of embeddings).

    Row ``i`` of ``Z @ Phi0`` is ``sum over rated j of v_j @ Phi0[j]`` with ``Phi0`` viewed as
    ``n_other × K × width``. The layer first projects each rated entry's row once,
    ``p_j = v_j @ Phi0[j]``, then sums the projections per row with a sparse product: the cost
    is ``O(distinct × K × width + ratings × width)`` instead of ``O(ratings × K × width)``, and
    ``Z`` is never built. When a batch rates at least half of the other side's rows, every row
    is projected (one pass over the table instead of visiting most of it). The table's gradient
    is kept in factored form, ``(rows, inputs, output_gradient)``: row ``rows[r]`` (every row
    when ``rows`` is None) has the gradient ``outer(inputs[r], output_gradient[r])``.

    While the other side's embeddings ``v`` stay fixed (one iteration, or one phase of the
    alternating schedule), every step changes row ``j`` by a multiple of ``v_j g^T``, so the
    steps can add up in one vector per row, ``Phi0[j] = table[j] + v_j d_j^T``
    (:meth:`defer_updates`, :class:`_DeferredSteps`), and reach the table once at the end
    (:meth:`apply_deferred_updates`):
    a step then reads and writes ``width`` numbers per row instead of ``K × width`` (the rows'
    projections ``v_j @ table[j]`` are taken once, when deferral begins).
    """

    def __init__(self, n_other, n_components, out_features, generator, device=None):
        super().__init__()
        bound = 1.0 / math.sqrt(n_other * n_components)
        self.weight = _uniform_parameter((n_other, n_components, out_features), bound, generator, device)
        self.bias = _uniform_parameter((out_features,), bound, generator, device)
        self.deferred = None

    def grow(self, n_rows, generator):
        """Add rows (new ids of the other side), drawn as a layer of ``n_rows`` rows draws them."""
        bound = 1.0 / math.sqrt(n_rows * self.weight.shape[1])
        self.weight = _grown_parameter(self.weight, n_rows, bound, generator)

    def mean_squares(self, pending):
        """Mean square of each row's gradient, from its two factors."""
        _, inputs, output_gradient = pending
        return inputs.square().sum(1) * output_gradient.square().sum(1) / self.weight[0].numel()

    def defer_updates(self, feedback):
        """From now on, and while the layer reads ``feedback``, row steps add up in
        :attr:`deferred` instead of reaching the table."""
        with torch.no_grad():
            self.deferred = _DeferredSteps(
                inputs=feedback,
                # every row's projection, once for all the deferred steps
                start=torch.bmm(feedback.unsqueeze(1), self.weight.detach()).squeeze(1),
                norms=feedback.square().sum(1, keepdim=True),
                vectors=torch.zeros(self.weight.shape[0], self.weight.shape[2], device=self.weight.device),
                stepped=torch.zeros(self.weight.shape[0], dtype=torch.bool, device=self.weight.device),
            )

    @torch.no_grad()
    def step_rows(self, pending, coefficients):
        """Defer the steps ``table[j] += v_j (c_j g_j)^T`` of the rows of ``pending``."""
        if self.deferred is None:
            raise RuntimeError("the table takes its steps between defer_updates and apply_deferred_updates")
        rows, _, output_gradient = pending
        if rows is None:
            self.deferred.vectors.addcmul_(coefficients[:, None], output_gradient)
            self.deferred.stepped.fill_(True)
        else:
            self.deferred.vectors.index_add_(0, rows, output_gradient.mul_(coefficients[:, None]))
            self.deferred.stepped[rows] = True

    @torch.no_grad()
    def apply_deferred_updates(self):
        """Add the deferred steps to the table, ``table[j] += v_j d_j^T``, and stop deferring."""
        deferred, self.deferred = self.deferred, None
        if deferred is None:
            return
        if deferred.stepped.all():  # as after a full iteration: no gathered copies
            add_outer_products(self.weight.detach(), None, deferred.inputs, deferred.vectors)
        else:
            rows = deferred.stepped.nonzero().squeeze(1)
            add_outer_products(self.weight.detach(), rows, deferred.inputs[rows], deferred.vectors[rows])

    def forward(self, batch, feedback, entry_weights=None):
        """The batch's rows of ``Z @ Phi0 + b``; ``entry_weights`` optionally weight each entry
        of a row's sum."""
        if self.deferred is not None and feedback is not self.deferred.inputs:
            raise RuntimeError("the layer defers updates made with other embeddings; apply them first")
        if 2 * len(batch.distinct) >= len(self.weight):
            projected = _ProjectRows.apply(self.weight, feedback, None, self)
            return batch.pattern.matmul(entry_weights, projected) + self.bias
        projected = _ProjectRows.apply(self.weight, feedback, batch.distinct, self)
        return batch.distinct_pattern.matmul(entry_weights, projected) + self.bias
