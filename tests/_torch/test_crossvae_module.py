"""The torch model: sparse computations against their dense definitions, the KL, gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence

from skcrossvae._torch._batching import partition, side_batches
from skcrossvae._torch._layers import SparsePattern
from skcrossvae._torch._crossvae import (
    CrossFeedbackVAE,
    ModelConfig,
    decode,
    global_context,
    kl_to_standard_normal,
    reparameterise,
    segment_normalise,
)

CPU = torch.device("cpu")


def _config(**changes):
    settings = dict(n_components=3, encoder_layer_sizes=(5, 4), fusion_layer_sizes=(6,), use_ratings=True,
                    cross_feedback="concat", attention_norm="softmax", biases=False)
    settings.update(changes)
    return ModelConfig(**settings)


def _random_ratings(n_rows=7, n_other=9, density=0.4, seed=0):
    rng = np.random.RandomState(seed)
    observed = rng.rand(n_rows, n_other) < density
    observed[np.arange(n_rows), rng.randint(n_other, size=n_rows)] = True
    rows, columns = np.nonzero(observed)
    values = rng.uniform(1, 5, size=len(rows))
    return rows, columns, values, observed


def _one_batch(rows, columns, values, n_rows, n_columns=None):
    batches = [np.arange(n_rows)]
    n_columns = int(columns.max()) + 1 if n_columns is None else n_columns
    return side_batches(rows, columns, values, values, n_rows, n_columns, batches, CPU)[0]


def test_latent_concat_input_equals_dense_z_construction():
    rows, columns, values, observed = _random_ratings()
    n_rows, n_other = observed.shape
    k = 3
    generator = torch.Generator().manual_seed(0)
    model = CrossFeedbackVAE(n_rows, n_other, ("local", "local"), _config(n_components=k), generator)
    encoder = model.user_encoder
    feedback = torch.randn(n_other, k, generator=generator)
    batch = _one_batch(rows, columns, values, n_rows)

    sparse = encoder._latent_first_layer(batch, feedback)

    # The paper's literal construction: row i of Z_U concatenates v_j for rated j, zeros elsewhere.
    mask = torch.as_tensor(observed, dtype=torch.float32)
    dense_z = (mask[:, :, None] * feedback[None, :, :]).reshape(n_rows, n_other * k)
    phi0 = encoder.latent_input.weight.reshape(n_other * k, -1)
    dense = dense_z @ phi0 + encoder.latent_input.bias
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("density", [0.15, 0.6], ids=["gathered rows", "whole table"])
def test_latent_input_gradient_is_the_dense_one_for_the_rows_the_batch_used(density):
    rows, columns, values, observed = _random_ratings(n_rows=7, n_other=40, density=density)
    n_rows, n_other = observed.shape
    generator = torch.Generator().manual_seed(0)
    model = CrossFeedbackVAE(n_rows, n_other, ("local", "local"), _config(), generator)
    layer = model.user_encoder.latent_input
    feedback = torch.randn(n_other, 3, generator=generator)
    for seed in (1, 2, 3):  # the whole-table path writes every step into the same buffer
        batch = _one_batch(*_random_ratings(n_rows=7, n_other=40, density=density, seed=seed)[:3], n_rows, n_other)
        weights = torch.randn(len(batch), layer.weight.shape[2], generator=generator)
        (model.user_encoder._latent_first_layer(batch, feedback) * weights).sum().backward()
        # The dense definition: autograd through plain indexing of the table.
        table = layer.weight.detach().clone().requires_grad_(True)
        projected = torch.bmm(feedback[batch.distinct].unsqueeze(1), table[batch.distinct]).squeeze(1)
        summed = torch.zeros(len(batch), projected.shape[1]).index_add(
            0, batch.segment, projected[batch.distinct_pattern.columns])
        (summed * weights).sum().backward()
        used, inputs, output_gradient = layer.take_gradient()
        assert layer.weight.grad is None  # the row-wise optimiser takes it, not autograd
        gradient = torch.bmm(inputs.unsqueeze(2), output_gradient.unsqueeze(1))
        if used is None:
            assert 2 * len(batch.distinct) >= n_other
            torch.testing.assert_close(gradient, table.grad, rtol=1e-6, atol=1e-6)
        else:
            assert torch.equal(used, batch.distinct)
            torch.testing.assert_close(gradient, table.grad[used], rtol=1e-6, atol=1e-6)
            untouched = torch.ones(n_other, dtype=torch.bool)
            untouched[used] = False
            assert not table.grad[untouched].any()
        assert layer.take_gradient() is None


def test_sparse_pattern_products_and_their_gradient_are_the_dense_ones():
    rows, columns, values, observed = _random_ratings(n_rows=6, n_other=11, density=0.5, seed=4)
    lengths = np.bincount(rows, minlength=6)
    pattern = SparsePattern(lengths, columns, 11, CPU)
    values = torch.as_tensor(values, dtype=torch.float32)
    dense = torch.randn(11, 3, requires_grad=True)
    matrix = torch.zeros(6, 11)
    matrix[rows, columns] = values
    product = pattern.matmul(values, dense)
    torch.testing.assert_close(product, matrix @ dense)
    grad = torch.randn(6, 3)
    product.backward(grad)
    torch.testing.assert_close(dense.grad, matrix.T @ grad)
    torch.testing.assert_close(pattern.matmul(None, dense), (matrix != 0).float() @ dense)


def test_observed_input_equals_dense_x_at_w0():
    rows, columns, values, observed = _random_ratings(seed=1)
    n_rows, n_other = observed.shape
    generator = torch.Generator().manual_seed(1)
    model = CrossFeedbackVAE(n_rows, n_other, ("local", "local"), _config(), generator)
    layer = model.user_encoder.observed_input
    batch = _one_batch(rows, columns, values, n_rows)
    dense_x = torch.zeros(n_rows, n_other)
    dense_x[rows, columns] = torch.as_tensor(values, dtype=torch.float32)
    expected = dense_x @ layer.weight + layer.bias
    torch.testing.assert_close(layer(batch, batch.inputs), expected, rtol=1e-5, atol=1e-5)
    # a batch rating few of the rows reads them alone
    few = _one_batch(*_random_ratings(n_rows=3, n_other=n_other, density=0.05, seed=3)[:3], 3, n_other)
    assert 2 * len(few.distinct) < n_other
    dense_few = torch.zeros(3, n_other).index_put_((few.segment, few.columns), few.inputs, accumulate=True)
    torch.testing.assert_close(layer(few, few.inputs), dense_few @ layer.weight + layer.bias, rtol=1e-5, atol=1e-5)


def test_latent_mean_input_is_average_of_rated_embeddings():
    rows, columns, values, observed = _random_ratings(seed=2)
    n_rows, n_other = observed.shape
    generator = torch.Generator().manual_seed(2)
    model = CrossFeedbackVAE(n_rows, n_other, ("local", "local"), _config(cross_feedback="mean"), generator)
    feedback = torch.randn(n_other, 3, generator=generator)
    batch = _one_batch(rows, columns, values, n_rows)
    mask = torch.as_tensor(observed, dtype=torch.float32)
    average = (mask @ feedback) / mask.sum(1, keepdim=True)
    expected = model.user_encoder.latent_input(average)
    torch.testing.assert_close(model.user_encoder._latent_first_layer(batch, feedback), expected)


@pytest.mark.parametrize("norm", ["softmax", "ratio", "eq9"])
def test_segment_normalise_matches_dense_per_row(norm):
    rows, columns, values, observed = _random_ratings(seed=3)
    scores = torch.randn(len(rows), generator=torch.Generator().manual_seed(3))
    weights = segment_normalise(scores, torch.as_tensor(rows), observed.shape[0], norm)
    for row in range(observed.shape[0]):
        own = scores[torch.as_tensor(rows == row)]
        if norm == "softmax":
            expected = torch.softmax(own, 0)
        elif norm == "eq9":
            expected = own / own.sum()
        else:
            expected = own / (own.abs().sum() + 1e-6)
        torch.testing.assert_close(weights[torch.as_tensor(rows == row)], expected)


@settings(max_examples=25, deadline=None)
@given(n_rows=st.integers(1, 6), n_other=st.integers(1, 600), n_components=st.integers(1, 5),
       norm=st.sampled_from(["softmax", "ratio", "eq9"]), seed=st.integers(0, 2**16))
def test_global_context_equals_normalised_scores_times_embeddings(n_rows, n_other, n_components, norm, seed):
    # Global attention is local attention over every entry of each row: segment_normalise (tested
    # against the formulas above) over the whole score matrix is the reference. float64: the
    # reference and the factored form differ by rounding only.
    generator = torch.Generator().manual_seed(seed)
    feedback = torch.randn(n_other, n_components, generator=generator, dtype=torch.float64)
    if norm == "eq9":  # scores of one sign, as where Eq. 9 as printed trains
        feedback = feedback.abs()
    projected = torch.randn(n_rows, n_components, generator=generator, dtype=torch.float64)
    projected = (projected.abs() if norm == "eq9" else projected).requires_grad_()
    scores = projected @ feedback.T
    rows = torch.arange(n_rows).repeat_interleave(n_other)
    weights = segment_normalise(scores.reshape(-1), rows, n_rows, norm).reshape(n_rows, n_other)
    expected = weights @ feedback
    upstream = torch.randn(n_rows, n_components, generator=generator, dtype=torch.float64)
    (expected_grad,) = torch.autograd.grad(expected, projected, upstream)
    context = global_context(projected, feedback, norm)
    (grad,) = torch.autograd.grad(context, projected, upstream)
    torch.testing.assert_close(context, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_ratio_norm_equals_eq9_for_positive_scores_and_stays_bounded():
    segment = torch.tensor([0, 0, 0, 1, 1])
    positive = torch.tensor([1.0, 2.0, 5.0, 0.5, 0.5])
    torch.testing.assert_close(
        segment_normalise(positive, segment, 2, "ratio"),
        torch.tensor([1 / 8, 2 / 8, 5 / 8, 0.5, 0.5]), rtol=1e-5, atol=1e-5,
    )
    # Eq. 9 as written divides by 1e-7 here; the safe ratio keeps every weight in [-1, 1].
    nearly_cancelling = torch.tensor([1.0, -1.0 + 1e-7, 0.0, 3.0, -3.0])
    assert segment_normalise(nearly_cancelling, segment, 2, "ratio").abs().max() <= 1.0


def test_kl_equals_closed_form_of_torch_distributions():
    generator = torch.Generator().manual_seed(4)
    mean = torch.randn(6, 3, generator=generator)
    logit = torch.randn(6, 3, generator=generator)
    variance = torch.sigmoid(logit)
    expected = kl_divergence(Normal(mean, variance.sqrt()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(kl_to_standard_normal(mean, logit), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scopes", [("local", "local"), ("global", "global")])
def test_gradients_reach_both_sides_encoders(scopes):
    rows, columns, values, observed = _random_ratings(seed=5)
    n_users, n_items = observed.shape
    generator = torch.Generator().manual_seed(5)
    model = CrossFeedbackVAE(n_users, n_items, scopes, _config(), generator)
    users = _one_batch(rows, columns, values, n_users)
    items = _one_batch(columns, rows, values, n_items)
    feedback_users = torch.randn(n_users, 3, generator=generator)
    feedback_items = torch.randn(n_items, 3, generator=generator)
    mean_u, logit_u = model.user_encoder(users, feedback_items)
    mean_v, logit_v = model.item_encoder(items, feedback_users)
    order_u = torch.argsort(users.rows)
    order_v = torch.argsort(items.rows)
    prediction = (mean_u[order_u][rows] * mean_v[order_v][columns]).sum(1)
    loss = prediction.square().sum() + kl_to_standard_normal(mean_u, logit_u).sum() \
        + kl_to_standard_normal(mean_v, logit_v).sum()
    loss.backward()
    tables = {name + ".weight": module for name, module in model.named_modules()
              if hasattr(module, "take_gradient")}
    for name, parameter in model.named_parameters():
        # The row-stepped tables hand their gradient (the latent inputs: its factors) to the
        # row-wise optimiser.
        if name in tables:
            pending = tables[name].take_gradient()
            gradient = (torch.bmm(pending[1].unsqueeze(2), pending[2].unsqueeze(1)) if len(pending) == 3
                        else pending[1])
        else:
            gradient = parameter.grad
        assert gradient is not None, name
        assert torch.isfinite(gradient).all(), name
        assert gradient.abs().sum() > 0, f"no gradient reaches {name}"


def test_partition_covers_every_row_once():
    batches = partition(23, 5, np.random.RandomState(0))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert sorted(np.concatenate(batches).tolist()) == list(range(23))


def test_decoder_biases_add_to_the_dot_product_of_the_factors():
    users, items = torch.randn(4, 3), torch.randn(4, 3)
    expected = (users[:, :2] * items[:, :2]).sum(dim=1) + users[:, 2] + items[:, 2]
    torch.testing.assert_close(decode(users, items, biases=True), expected)
    torch.testing.assert_close(decode(users, items, biases=False), (users * items).sum(dim=1))


def test_biased_model_encodes_one_more_coordinate():
    rows, columns, values, _ = _random_ratings()
    model = CrossFeedbackVAE(7, 9, ("local", "global"), _config(biases=True), torch.Generator().manual_seed(0))
    assert model.latent_dim == 4
    mean, logit = model.user_encoder(_one_batch(rows, columns, values, 7), torch.randn(9, 4))
    assert mean.shape == logit.shape == (7, 4)


def test_reparameterisation_gradient_stays_finite_for_vanishing_variances():
    # A small KL weight drives variance logits far below zero, where sigmoid underflows.
    logits = torch.tensor([[-200.0, -20.0, 0.0, 20.0]], requires_grad=True)
    mean = torch.zeros(1, 4, requires_grad=True)
    sample = reparameterise(mean, logits, torch.Generator().manual_seed(0))
    sample.sum().backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(sample).all()
    torch.testing.assert_close(
        (sample - mean).detach() / torch.randn(1, 4, generator=torch.Generator().manual_seed(0)),
        torch.sigmoid(logits).sqrt().detach(),
    )
