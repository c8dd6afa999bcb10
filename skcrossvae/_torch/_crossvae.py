"""The cross-feedback VAE of Jin et al.: encoders, attention and the ELBO terms.

Notation follows the paper: a *side* is the user side (rows of X) or the item side (rows of
X^T); the *other* side's embeddings sampled at the previous iteration are the cross-fed latent
input (Z_U for users, Z_V for items). Everything sparse is visited through the stored ratings only.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ._layers import MLP, LatentConcatInput, Linear, RowSteppedSparseInput

_RATIO_EPS = 1e-6


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of a :class:`CrossFeedbackVAE` (what its parameters' shapes depend on).

    Attributes
    ----------
    n_components : int
        K, the number of factors.
    encoder_layer_sizes : tuple of int
        Widths of the MLPs over the rating input and over the cross-fed input: the hidden layers
        M^(l'), then K', the width of the intermediate embeddings.
    fusion_layer_sizes : tuple of int
        Hidden widths M^(l) of the MLP after the concatenation.
    use_ratings : bool
        Whether the encoders read the rating rows.
    cross_feedback : {'concat', 'mean'} or None
        How the encoders read the other side's embeddings: the paper's masked concatenation,
        their average (the paper's accelerated variant), or not at all.
    attention_norm : {'softmax', 'ratio', 'eq9'} or None
        Normalisation of the attention scores (None: no attention).
    biases : bool
        Whether each latent vector carries one more coordinate, the row's bias.
    """

    n_components: int
    encoder_layer_sizes: tuple
    fusion_layer_sizes: tuple
    use_ratings: bool
    cross_feedback: str | None
    attention_norm: str | None
    biases: bool

    @property
    def latent_dim(self):
        """Length of each latent vector: the K factors, then the bias when there is one."""
        return self.n_components + int(self.biases)


def segment_normalise(scores, segment, n_segments, norm, visible=None):
    """Normalise attention scores within segments (the items one user rated, say).

    ``'softmax'`` is the usual softmax per segment. ``'eq9'`` is Eq. 9 as printed: each score over
    the sum of its segment's scores; the sum crosses zero when the scores have both signs, and the
    weights then blow up. ``'ratio'`` is Eq. 9 made numerically safe: each score over the sum of
    the absolute scores of its segment; it equals Eq. 9 whenever the scores of a segment share one
    sign, its denominator cannot cross zero, and the weights stay in [-1, 1].

    ``visible`` (bool per score, optional) leaves the other entries out of every segment, as if
    they were not there (the ratings input dropout hides from the encoders).
    """
    if norm == "softmax":
        if visible is not None:
            scores = scores.masked_fill(~visible, -torch.inf)
        peak = torch.full((n_segments,), -torch.inf, device=scores.device, dtype=scores.dtype)
        peak = peak.scatter_reduce(0, segment, scores, reduce="amax", include_self=True)
        # A segment with no visible entry has peak -inf; its weights are 0, not NaN.
        numerators = torch.exp(scores - peak.clamp_min(torch.finfo(scores.dtype).min)[segment].detach())
        magnitudes, eps = numerators, 0.0 if visible is None else torch.finfo(scores.dtype).tiny
    else:
        numerators = scores if visible is None else scores * visible
        magnitudes = numerators.abs() if norm == "ratio" else numerators
        eps = _RATIO_EPS if norm == "ratio" else 0.0
    totals = torch.zeros(n_segments, device=scores.device, dtype=scores.dtype)
    totals = totals.index_add(0, segment, magnitudes)
    return numerators / (totals[segment] + eps)


#: Embeddings of the other side per block of :class:`_RowAbsoluteSums` (a block of scores of a
#: batch then stays in the CPU's cache).
_SCORE_BLOCK = 256


class _RowAbsoluteSums(torch.autograd.Function):
    """``|queries @ keys.T|.sum(1)`` without the (rows, keys) score matrix: the scores are made
    block by block, in the backward pass again; the gradient reaches ``queries`` only."""

    @staticmethod
    def forward(ctx, queries, keys):
        ctx.save_for_backward(queries, keys)
        sums = torch.zeros(len(queries), device=queries.device, dtype=queries.dtype)
        for start in range(0, len(keys), _SCORE_BLOCK):
            sums += (queries @ keys[start:start + _SCORE_BLOCK].T).abs_().sum(dim=1)
        return sums

    @staticmethod
    def backward(ctx, grad_sums):
        queries, keys = ctx.saved_tensors
        grad = torch.zeros_like(queries)
        for start in range(0, len(keys), _SCORE_BLOCK):
            block = keys[start:start + _SCORE_BLOCK]
            grad += (queries @ block.T).sign_() @ block
        return grad_sums[:, None] * grad, None


def global_context(projected, feedback, norm):
    """``normalise(projected @ feedback.T) @ feedback``, row by row: global attention's context.

    The normalisations of :func:`segment_normalise` over a whole row. With ``'eq9'`` and
    ``'ratio'`` each weight is a score over one sum per row, so the context is
    ``projected @ (feedback.T @ feedback)`` over that sum: the (rows, other side) score matrix is
    never stored, and a step costs a fraction of the plain product's time on data with thousands
    of rows per side. ``feedback`` gets no gradient from the ``'ratio'`` normalisation (the
    cross-fed embeddings are constants).
    """
    if norm == "softmax":
        return torch.softmax(projected @ feedback.T, dim=1) @ feedback
    numerators = projected @ (feedback.T @ feedback)
    if norm == "eq9":
        return numerators / (projected @ feedback.sum(dim=0))[:, None]
    return numerators / (_RowAbsoluteSums.apply(projected, feedback) + _RATIO_EPS)[:, None]


class Attention(nn.Module):
    """Attention of a posterior parameter vector over the cross-fed embeddings (Section 3.4).

    ``query`` (a posterior mean or variance vector) scores each embedding ``e`` as
    ``query @ Theta @ e``; the normalised scores weight the embeddings into ``c``; ``[query; c]``
    is mapped back to ``K`` dimensions by a linear layer.
    """

    def __init__(self, n_components, norm, generator, device=None):
        super().__init__()
        self.norm = norm
        self.theta = nn.Parameter(torch.empty(n_components, n_components, device=device))
        nn.init.uniform_(self.theta, -n_components**-0.5, n_components**-0.5, generator=generator)
        self.combine = Linear(2 * n_components, n_components, generator, device)

    def forward(self, query, batch, feedback, scope):
        projected = query @ self.theta
        if scope == "local":
            neighbours = feedback[batch.columns]
            scores = (projected[batch.segment] * neighbours).sum(dim=1)
            # Ratings hidden by input dropout are hidden from the attention too.
            visible = None if batch.entry_weights is None else batch.entry_weights > 0
            weights = segment_normalise(scores, batch.segment, len(batch), self.norm, visible)
            context = torch.zeros_like(query).index_add(0, batch.segment, weights[:, None] * neighbours)
        else:
            context = global_context(projected, feedback, self.norm)
        return self.combine(torch.cat([query, context], dim=1))


class _PosteriorHead(nn.Module):
    """The dense part of one posterior network (means or variances) after the sparse first layers."""

    def __init__(self, config, generator, device):
        super().__init__()
        widths = config.encoder_layer_sizes
        n_paths = int(config.use_ratings) + int(config.cross_feedback is not None)
        self.observed = MLP(widths, generator, device) if config.use_ratings else None
        self.latent = MLP(widths, generator, device) if config.cross_feedback is not None else None
        self.fusion = MLP(
            [n_paths * widths[-1], *config.fusion_layer_sizes, config.latent_dim],
            generator, device, relu_output=False,
        )
        self.attention = (
            Attention(config.latent_dim, config.attention_norm, generator, device)
            if config.attention_norm is not None else None
        )


class SideEncoder(nn.Module):
    """The posterior network of one side: ``q(u_i | V_i, X_i) = N(mean_i, diag(var_i))``.

    Means and variances have separate networks (as in the paper's experiments). Their sparse first
    layers are stored side by side in one table of width ``2 * M1`` so that one sparse product
    serves both; the two halves never mix, so this is exactly two separate networks.
    """

    def __init__(self, n_other, attention_scope, config, generator, device=None):
        super().__init__()
        self.config = config
        self.attention_scope = attention_scope
        first = config.encoder_layer_sizes[0]
        self.first_width = first
        k = config.latent_dim
        self.observed_input = (
            RowSteppedSparseInput(n_other, n_other, 2 * first, generator, device) if config.use_ratings else None
        )
        if config.cross_feedback is None:
            self.latent_input = None
        elif config.cross_feedback == "concat":
            self.latent_input = LatentConcatInput(n_other, k, 2 * first, generator, device)
        else:
            self.latent_input = Linear(k, 2 * first, generator, device)
        self.mean_head = _PosteriorHead(config, generator, device)
        self.var_head = _PosteriorHead(config, generator, device)

    def _latent_first_layer(self, batch, feedback):
        if self.config.cross_feedback == "concat":
            return self.latent_input(batch, feedback, batch.entry_weights)
        rated = feedback[batch.columns]
        if batch.entry_weights is not None:
            rated = rated * batch.entry_weights[:, None]
        summed = torch.zeros(len(batch), feedback.shape[1], device=feedback.device, dtype=feedback.dtype)
        summed = summed.index_add(0, batch.segment, rated)
        return self.latent_input(summed / batch.counts[:, None])

    def forward(self, batch, feedback):
        """Posterior means and variance logits of the batch's rows.

        Parameters
        ----------
        batch : SideBatch
            Sparse inputs of the rows.
        feedback : Tensor (n_other, K)
            The other side's embeddings from the previous iteration (no gradient flows into them).

        Returns
        -------
        mean, var_logit : Tensor (B, K)
            ``var = sigmoid(var_logit)`` keeps the variance in (0, 1), the prior's scale.
        """
        first = self.first_width
        observed = latent = None
        if self.observed_input is not None:
            observed = F.relu(self.observed_input(batch, batch.inputs))
        if self.latent_input is not None:
            latent = F.relu(self._latent_first_layer(batch, feedback))
        outputs = []
        for position, head in enumerate((self.mean_head, self.var_head)):
            half = slice(position * first, (position + 1) * first)
            paths = []
            if observed is not None:
                paths.append(head.observed(observed[:, half]))
            if latent is not None:
                paths.append(head.latent(latent[:, half]))
            outputs.append(head.fusion(torch.cat(paths, dim=1)))
        mean, var_logit = outputs
        if self.mean_head.attention is not None:
            mean = self.mean_head.attention(mean, batch, feedback, self.attention_scope)
            # The variance vector itself attends (with its own matrix A); the combined output goes
            # through the same sigmoid so the variance stays positive after attention.
            var_logit = self.var_head.attention(torch.sigmoid(var_logit), batch, feedback, self.attention_scope)
        return mean, var_logit


class CrossFeedbackVAE(nn.Module):
    """User-side and item-side encoders with cross feedback; the decoder is the dot product.

    With ``config.biases`` each latent vector carries one more coordinate, the row's bias: the
    decoder adds the user's and the item's biases to the dot product of the other coordinates.
    """

    def __init__(self, n_users, n_items, attention_scopes, config, generator, device=None):
        super().__init__()
        self.biases = config.biases
        self.latent_dim = config.latent_dim
        self.config = config
        self.attention_scopes = tuple(attention_scopes)
        self.user_encoder = SideEncoder(n_items, attention_scopes[0], config, generator, device)
        self.item_encoder = SideEncoder(n_users, attention_scopes[1], config, generator, device)

    def grow(self, n_users, n_items, generator):
        """Give the encoders inputs for new users and items (rows drawn as at construction)."""
        for encoder, n_other in ((self.user_encoder, n_items), (self.item_encoder, n_users)):
            for layer in (encoder.observed_input, encoder.latent_input):
                if hasattr(layer, "grow") and n_other > len(layer.weight):
                    layer.grow(n_other, generator)


def decode(users, items, biases):
    """Predicted (standardised) ratings of paired rows of user and item latent vectors."""
    if not biases:
        return (users * items).sum(dim=1)
    return (users[:, :-1] * items[:, :-1]).sum(dim=1) + users[:, -1] + items[:, -1]


def kl_to_standard_normal(mean, var_logit):
    """Closed-form ``KL(N(mean, diag(var)) || N(0, I))`` per row, ``var = sigmoid(var_logit)``."""
    second_moment = torch.sigmoid(var_logit) + mean.square()
    log_ratio = -F.logsigmoid(var_logit)  # log(1 / var)
    return 0.5 * (second_moment - 1.0 + log_ratio).sum(dim=1)


def reparameterise(mean, var_logit, generator):
    """A sample ``mean + sqrt(var) * eps`` with ``eps`` drawn from ``generator``."""
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    # sqrt(sigmoid(x)) has an infinite derivative where sigmoid underflows to 0 (a variance
    # driven to 0 by a small KL weight) and its gradient becomes 0 * inf = NaN; the same
    # standard deviation through logsigmoid keeps a finite gradient.
    return mean + torch.exp(0.5 * F.logsigmoid(var_logit)) * noise
