"""Torch modules of the baselines: pair scorers (biased MF, NeuMF, ConvNCF) and row autoencoders.

Every parameter is initialised from an explicit generator (never the global RNG). Pair modules
map (user codes, item codes) to standardised ratings; row autoencoders map a batch of sparse
rating rows to codes and decode them only at the columns asked for.
"""

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ._layers import MLP, Linear, SparseInput, _uniform_parameter

_ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh}


def _normal_parameter(shape, std, generator, device):
    return nn.Parameter(torch.randn(shape, generator=generator, device=device) * std)


def _zero_parameter(shape, device):
    return nn.Parameter(torch.zeros(shape, device=device))


def _factor_and_bias_tables(n_rows, n_components, init_std, generator, device):
    """Per-row factors ~ N(0, init_std^2) and biases starting at 0."""
    return nn.ParameterList([
        _normal_parameter((n_rows, n_components), init_std, generator, device),
        _zero_parameter(n_rows, device),
    ])


class PairModule(nn.Module):
    """A scorer of (user, item) pairs whose per-user and per-item tables are listed apart.

    Subclasses put their embedding (and bias) tables in ``user_tables`` and ``item_tables``;
    :meth:`penalty` needs no more to regularise them.
    """

    def penalty(self, users, items):
        """The L2 term of a batch: its ratings' mean squared row norms plus the dense weights'.

        Each rating pays for the table rows it uses (Koren et al.'s per-rating regulariser);
        the dense weights, shared by all ratings, are paid for once per batch, as in the
        NCF and ConvNCF code (where the penalty enters every step's loss).
        """
        rows = sum(table[users].square().reshape(len(users), -1).sum(dim=1) for table in self.user_tables)
        rows = rows + sum(table[items].square().reshape(len(items), -1).sum(dim=1) for table in self.item_tables)
        tables = {id(table) for table in (*self.user_tables, *self.item_tables)}
        dense = sum(
            parameter.square().sum() for parameter in self.parameters()
            if parameter.dim() > 1 and id(parameter) not in tables
        )
        return rows.mean() + dense


class BiasedMF(PairModule):
    """``b_u + b_i + p_u . q_i`` (Koren et al. 2009), on the standardised rating scale."""

    def __init__(self, n_users, n_items, n_components, init_std, generator, device=None):
        super().__init__()
        self.user_tables = _factor_and_bias_tables(n_users, n_components, init_std, generator, device)
        self.item_tables = _factor_and_bias_tables(n_items, n_components, init_std, generator, device)

    def forward(self, users, items):
        user_factors, user_bias = self.user_tables
        item_factors, item_bias = self.item_tables
        return (user_factors[users] * item_factors[items]).sum(dim=1) + user_bias[users] + item_bias[items]


def with_rows(module, side, size, rows, factors, biases):
    """A copy of a :class:`BiasedMF` whose ``side`` ('user' or 'item') tables have ``size`` rows
    (the added ones 0), with ``factors`` and ``biases`` (numpy) at ``rows``."""
    copied = copy.deepcopy(module)
    tables = getattr(copied, f"{side}_tables")
    for index, values in enumerate((factors, biases)):
        fitted = tables[index].detach()
        table = torch.zeros((size, *fitted.shape[1:]), dtype=fitted.dtype, device=fitted.device)
        table[:len(fitted)] = fitted
        table[torch.as_tensor(rows, device=fitted.device)] = torch.as_tensor(values, dtype=fitted.dtype,
                                                                             device=fitted.device)
        tables[index] = nn.Parameter(table)
    return copied


class NeuMF(PairModule):
    """NeuMF (He et al. 2017): a GMF vector and an MLP tower over concatenated embeddings, fused linearly.

    The tower has ReLU after every layer; with no hidden layer the concatenated MLP embeddings
    go straight to the fusing layer.
    """

    def __init__(self, n_users, n_items, n_components, hidden_layer_sizes, init_std, generator, device=None):
        super().__init__()
        self.user_tables = nn.ParameterList(
            _normal_parameter((n_users, n_components), init_std, generator, device) for _ in range(2)
        )
        self.item_tables = nn.ParameterList(
            _normal_parameter((n_items, n_components), init_std, generator, device) for _ in range(2)
        )
        self.tower = MLP([2 * n_components, *hidden_layer_sizes], generator, device)
        tower_width = hidden_layer_sizes[-1] if hidden_layer_sizes else 2 * n_components
        self.fuse = Linear(n_components + tower_width, 1, generator, device)

    def forward(self, users, items):
        gmf_users, mlp_users = self.user_tables
        gmf_items, mlp_items = self.item_tables
        tower = self.tower(torch.cat([mlp_users[users], mlp_items[items]], dim=1))
        return self.fuse(torch.cat([gmf_users[users] * gmf_items[items], tower], dim=1)).squeeze(1)


class ConvNCF(PairModule):
    """ConvNCF (He et al. 2018) over the outer product of the user and item embeddings, plus biases.

    Each layer is a 2×2 convolution with stride 2 and ReLU, halving the K×K interaction map
    (an odd map gets a row and a column of zeros first). Such a convolution sees disjoint 2×2
    patches, so it is computed as a dense layer over the patch vectors (faster than ``conv2d``
    for these tiny kernels, same function). The last map is flattened into a linear output, to
    which a user and an item bias are added (``b_u + b_i + CNN(p_u ⊗ q_i)``, as in biased MF).
    """

    def __init__(self, n_users, n_items, n_components, n_conv_layers, n_channels, init_std,
                 generator, device=None):
        super().__init__()
        self.user_tables = _factor_and_bias_tables(n_users, n_components, init_std, generator, device)
        self.item_tables = _factor_and_bias_tables(n_items, n_components, init_std, generator, device)
        channels = [1] + [n_channels] * n_conv_layers
        self.convolutions = nn.ModuleList(
            Linear(4 * a, b, generator, device) for a, b in zip(channels[:-1], channels[1:])
        )
        for layer in self.convolutions:
            # He initialisation keeps the signal's scale through the stack of ReLU layers; the
            # default scale shrinks it layer by layer and training can stall at the mean. The
            # biases start at zero (as in He et al. 2015): the default uniform biases (±0.5 in
            # the first layer) dwarf the small products of the map, so that whole channels
            # start, and could stay, dead or constant, and on some seeds the network then
            # collapsed to the biases alone.
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(layer.bias)
        side = n_components
        for _ in range(n_conv_layers):
            side = (side + 1) // 2
        self.output = Linear(channels[-1] * side * side, 1, generator, device)

    def forward(self, users, items):
        user_embeddings, user_bias = self.user_tables
        item_embeddings, item_bias = self.item_tables
        maps = (user_embeddings[users][:, :, None] * item_embeddings[items][:, None, :]).unsqueeze(-1)
        for convolution in self.convolutions:
            if maps.shape[1] % 2:
                maps = F.pad(maps, (0, 0, 0, 1, 0, 1))
            batch, height, width, channels = maps.shape
            patches = (maps.reshape(batch, height // 2, 2, width // 2, 2, channels)
                       .transpose(2, 3).reshape(batch, height // 2, width // 2, 4 * channels))
            maps = F.relu(convolution(patches))
        interaction = self.output(maps.reshape(len(users), -1)).squeeze(1)
        return interaction + user_bias[users] + item_bias[items]


class RowAutoencoder(nn.Module):
    """An autoencoder over sparse rating rows whose output layer is evaluated only where needed.

    Encoder: a sparse first layer (a sparse product over the row's entries) and dense layers
    down to a ``n_components`` code (or to its mean and log-variance when ``variational``).
    Decoder: the mirrored dense layers, then an output layer with one weight row per column,
    gathered at the observed entries for training and applied densely to score all columns.

    Parameters
    ----------
    n_columns : int
        Length of a row (items for user rows, users for item rows).
    hidden_layer_sizes : tuple of int
        Widths between the input and the code; the decoder mirrors them.
    activation : {'relu', 'tanh'}
        Applied after every layer but the output (and but the variational mean/log-variance).
    input_dropout : float
        Share of a row's entries dropped (and the rest rescaled) during training.
    """

    def __init__(self, n_columns, hidden_layer_sizes, n_components, activation, variational,
                 input_dropout, generator, device=None):
        super().__init__()
        self.activation = _ACTIVATIONS[activation]
        self.variational, self.input_dropout = variational, input_dropout
        encoder_widths = [*hidden_layer_sizes, (2 if variational else 1) * n_components]
        self.input_layer = SparseInput(n_columns, n_columns, encoder_widths[0], generator, device)
        self.encoder = nn.ModuleList(
            Linear(a, b, generator, device) for a, b in zip(encoder_widths[:-1], encoder_widths[1:])
        )
        decoder_widths = [n_components, *reversed(hidden_layer_sizes)]
        self.decoder = nn.ModuleList(
            Linear(a, b, generator, device) for a, b in zip(decoder_widths[:-1], decoder_widths[1:])
        )
        bound = decoder_widths[-1] ** -0.5
        self.output_weight = _uniform_parameter((n_columns, decoder_widths[-1]), bound, generator, device)
        self.output_bias = _uniform_parameter((n_columns,), bound, generator, device)

    def _input_weights(self, batch, generator):
        weights = batch.inputs
        if self.training and self.input_dropout > 0:
            kept = torch.rand(weights.shape, generator=generator, device=weights.device) >= self.input_dropout
            weights = weights * kept / (1 - self.input_dropout)
        return weights

    def forward(self, batch, generator=None):
        """Decoder outputs of the batch's rows (the input of the output layer) and their KL terms.

        The KL divergence to N(0, I) is zero unless ``variational``. In training mode a
        variational code is sampled with ``generator``; in eval mode it is the posterior mean.
        """
        hidden = self.input_layer(batch.pattern, self._input_weights(batch, generator))
        for layer in self.encoder:
            hidden = layer(self.activation(hidden))
        if self.variational:
            mean, log_variance = hidden.chunk(2, dim=1)
            kl = 0.5 * (log_variance.exp() + mean.square() - 1 - log_variance).sum(dim=1)
            hidden = mean
            if self.training:
                noise = torch.randn(mean.shape, generator=generator, device=mean.device)
                hidden = mean + (0.5 * log_variance).exp() * noise
        else:
            hidden, kl = self.activation(hidden), hidden.new_zeros(len(batch))
        for layer in self.decoder:
            hidden = self.activation(layer(hidden))
        return hidden, kl

    def output_at(self, codes, columns):
        """Output-layer values at one column per code (rows of ``codes`` paired with ``columns``)."""
        return (codes * self.output_weight[columns]).sum(dim=1) + self.output_bias[columns]

    def output_dense(self, codes, columns):
        """Output-layer values of every code at every column of ``columns``: (len(codes), len(columns))."""
        return codes @ self.output_weight[columns].T + self.output_bias[columns]

    def squared_weights(self):
        """Sum of the squared weights (biases excluded), for the L2 penalty."""
        return sum(parameter.square().sum() for parameter in self.parameters() if parameter.dim() > 1)
