"""Algorithm 1's trainer: weight averaging, input dropout, reading new ratings."""

import numpy as np
import pytest
import torch

from skcrossvae._crossvae import _Decoder
from skcrossvae._data import RatingTable
from skcrossvae._torch._crossvae import CrossFeedbackVAE, ModelConfig
from skcrossvae._torch._crossvae_fit import CrossFeedbackTrainer, TrainerSettings, _deferred_table_steps

CPU = torch.device("cpu")


def _table(n_users=12, n_items=10, density=0.5, seed=0):
    rng = np.random.RandomState(seed)
    observed = rng.rand(n_users, n_items) < density
    observed[np.arange(n_users), rng.randint(n_items, size=n_users)] = True
    observed[rng.randint(n_users, size=n_items), np.arange(n_items)] = True
    users, items = np.nonzero(observed)
    return RatingTable(users, items, rng.randint(1, 6, size=len(users)).astype(float), n_users, n_items)


def _trainer(table, schedule="nested", weight_averaging=0.0, input_dropout=0.0, seed=0):
    config = ModelConfig(n_components=3, encoder_layer_sizes=(5, 4), fusion_layer_sizes=(),
                         use_ratings=True, cross_feedback="concat", attention_norm="softmax", biases=True)
    settings = TrainerSettings(schedule=schedule, beta_user=0.1, beta_item=0.1, user_batch_size=5,
                               item_batch_size=4, learning_rate=1e-2, input_dropout=input_dropout,
                               weight_averaging=weight_averaging)
    generator = torch.Generator().manual_seed(seed)
    model = CrossFeedbackVAE(table.n_users, table.n_items, ("local", "local"), config, generator)
    decoder = _Decoder(3.0, np.zeros(table.n_users), np.zeros(table.n_items), 1.0)
    return CrossFeedbackTrainer(model, table, settings, 5.0, decoder, np.random.RandomState(seed), generator, CPU)


@pytest.mark.parametrize("shape, density", [((20, 30), 0.5), ((40, 200), 0.02)], ids=["whole tables", "rows"])
@pytest.mark.parametrize("schedule", ["nested", "alternating"])
def test_weight_averaging_is_the_bias_corrected_moving_average_of_every_step(schedule, shape, density):
    # The dense weights are averaged at every step, the row-stepped tables at the end of each
    # iteration by the product of the iteration's decays.
    trainer = _trainer(_table(*shape, density=density), schedule, weight_averaging=0.9)
    tables = {id(table.weight) for table in trainer.tables}
    assert len(tables) == 4  # both encoders' latent and rating inputs
    expected = [p.detach().clone().double() for p in trainer.model.parameters()]
    step = trainer._step
    seen, product = [], [1.0]

    def step_and_track(loss):
        step(loss)
        decay = min(0.9, (2 + len(seen)) / (11 + len(seen)))
        seen.append(decay)
        product[0] *= decay
        for average, parameter in zip(expected, trainer.model.parameters()):
            if id(parameter) not in tables:
                average.mul_(decay).add_(parameter.detach().double(), alpha=1 - decay)

    trainer._step = step_and_track
    for _ in range(2):
        trainer.train_one_iteration()
        for average, parameter in zip(expected, trainer.model.parameters()):
            if id(parameter) in tables:
                average.mul_(product[0]).add_(parameter.detach().double(), alpha=1 - product[0])
        product[0] = 1.0
    assert len(seen) == trainer.n_steps > 1
    parameters, averages = trainer._parameters_and_averages()
    order = {id(p): k for k, p in enumerate(trainer.model.parameters())}
    assert {id(p) for p in parameters} == set(order)
    for parameter, kept in zip(parameters, averages):
        torch.testing.assert_close(kept, expected[order[id(parameter)]].float(), rtol=1e-5, atol=1e-6)
    live = [p.detach().clone() for p in trainer.model.parameters()]
    with trainer.averaged_weights():
        for parameter, average in zip(trainer.model.parameters(), expected):
            torch.testing.assert_close(parameter.detach(), average.float(), rtol=1e-5, atol=1e-6)
    for parameter, before in zip(trainer.model.parameters(), live):
        torch.testing.assert_close(parameter.detach(), before)


def test_the_tables_take_row_wise_rmsprop_steps():
    trainer = _trainer(_table(n_users=40, n_items=200, density=0.02), weight_averaging=0.0)
    layer = trainer.model.user_encoder.latent_input
    table = layer.weight
    batch = trainer.user_side[0]
    for step in (1, 2):
        before = table.detach().clone()
        second = trainer.table_optimizer.state[trainer.tables.index(layer)]["second_moment"].clone()
        mean, logit = trainer.model.user_encoder(batch, trainer.feedback_items)
        (mean.square().sum() + logit.sum()).backward()
        rows, inputs, output_gradient = layer.pending_gradient
        gradient = torch.bmm(inputs.unsqueeze(2), output_gradient.unsqueeze(1))
        with _deferred_table_steps([layer], trainer.feedback_items):
            trainer.table_optimizer.step()
        assert torch.equal(rows, batch.distinct)
        moment = 0.999 * second[rows] + 0.001 * gradient.square().mean(dim=(1, 2))
        corrected = moment / (1 - 0.999**step)
        expected = before[rows] - 1e-2 * gradient / (corrected.sqrt() + 1e-8)[:, None, None]
        torch.testing.assert_close(table.detach()[rows], expected, rtol=1e-4, atol=1e-6)
        untouched = torch.ones(len(table), dtype=torch.bool)
        untouched[rows] = False
        assert torch.equal(table.detach()[untouched], before[untouched])


def test_a_table_step_moves_only_the_rows_the_batch_rated():
    trainer = _trainer(_table(n_users=40, n_items=200, density=0.02), weight_averaging=0.9)
    table = trainer.model.user_encoder.latent_input.weight
    before = table.detach().clone()
    batch = trainer.user_side[0]
    assert 2 * len(batch.distinct) < len(table)  # the gathered-rows path
    with _deferred_table_steps([trainer.model.user_encoder.latent_input], trainer.feedback_items):
        mean, logit = trainer.model.user_encoder(batch, trainer.feedback_items)
        trainer._step(mean.square().sum() + logit.sum())
    moved = (table.detach() != before).flatten(1).any(dim=1)
    assert set(torch.nonzero(moved).flatten().tolist()) == set(batch.distinct.tolist())


@pytest.mark.parametrize("density", [0.02, 0.5], ids=["rows", "whole table"])
def test_the_rating_inputs_take_row_wise_rmsprop_steps_on_the_rated_rows(density):
    trainer = _trainer(_table(n_users=40, n_items=200, density=density), weight_averaging=0.0)
    layer = trainer.model.user_encoder.observed_input
    position = trainer.tables.index(layer)
    batch = trainer.user_side[0]
    for step in (1, 2):
        before = layer.weight.detach().clone()
        second = trainer.table_optimizer.state[position]["second_moment"].clone()
        # The dense definition: autograd through the whole weight.
        weight = layer.weight.detach().clone().requires_grad_(True)
        (batch.pattern.matmul(batch.inputs, weight).square().sum()).backward()
        (layer(batch, batch.inputs) - layer.bias).square().sum().backward()
        assert layer.weight.grad is None  # the row-wise optimiser takes it, not autograd
        rated = torch.zeros(len(weight), dtype=torch.bool)
        rated[batch.distinct] = True
        trainer.table_optimizer.step()
        moment = 0.999 * second + 0.001 * weight.grad.square().mean(1)
        corrected = moment / (1 - 0.999 ** step)
        expected = before - 1e-2 * weight.grad / (corrected.sqrt() + 1e-8)[:, None]
        torch.testing.assert_close(layer.weight.detach()[rated], expected[rated], rtol=1e-4, atol=1e-6)
        assert torch.equal(layer.weight.detach()[~rated], before[~rated])


def test_predicting_with_the_averaged_weights_leaves_training_unchanged():
    # The block exchanges the weights' storages with the averages' and back: Adam's state, the
    # averages and the next steps must be those of a trainer that never entered it.
    visited, untouched = (_trainer(_table(), weight_averaging=0.9) for _ in range(2))
    for trainer in (visited, untouched):
        trainer.train_one_iteration()
    with visited.averaged_weights():
        encoded_inside = visited.encode_all()  # nested: the averages stay in place
    for inside, outside in zip(encoded_inside, visited.encode_all()):
        torch.testing.assert_close(inside, outside, rtol=0, atol=0)
    for trainer in (visited, untouched):
        trainer.train_one_iteration()
    for a, b in zip([*visited.model.parameters(), *visited._parameters_and_averages()[1]],
                    [*untouched.model.parameters(), *untouched._parameters_and_averages()[1]]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_finalise_releases_the_gradients():
    trainer = _trainer(_table(), weight_averaging=0.9)
    trainer.train_one_iteration()
    assert all(p.grad is not None for p in trainer.dense_parameters)
    trainer.finalise()
    assert all(p.grad is None for p in trainer.model.parameters())
    assert all(table.pending_gradient is None for table in trainer.tables)
    assert trainer.table_optimizer is None


def test_without_weight_averaging_encoding_uses_the_live_weights():
    trainer = _trainer(_table())
    trainer.train_one_iteration()
    assert trainer.averaged is None
    with trainer.averaged_weights():
        pass
    first = trainer.encode_all()
    with torch.no_grad():
        live, _ = trainer.model.user_encoder(trainer.user_side[0], trainer.feedback_items)
    torch.testing.assert_close(first[0][trainer.user_side[0].rows], live)


def test_input_dropout_hides_a_share_of_the_ratings_from_both_encoders():
    trainer = _trainer(_table(n_users=200, n_items=50), input_dropout=0.3)
    hidden = trainer._hidden_ratings()
    assert 0.2 < hidden.float().mean().item() < 0.4
    for batch in (trainer.user_side[0], trainer.item_side[0]):
        dropped = trainer._dropped(batch, hidden)
        gone = hidden[batch.ratings]
        # A hidden rating leaves the rating input and the cross-fed input; the rest are rescaled.
        assert torch.all(dropped.inputs[gone] == 0) and torch.all(dropped.entry_weights[gone] == 0)
        torch.testing.assert_close(dropped.inputs[~gone], batch.inputs[~gone] / 0.7)
        torch.testing.assert_close(dropped.entry_weights[~gone], torch.full_like(batch.inputs[~gone], 1 / 0.7))
        torch.testing.assert_close(dropped.columns, batch.columns)
    assert _trainer(_table(), input_dropout=0.0)._hidden_ratings() is None
    assert trainer._dropped(trainer.user_side[0], None) is trainer.user_side[0]


def test_hidden_entry_weight_leaves_the_latent_input_as_if_removed():
    trainer = _trainer(_table(n_users=30, n_items=20), input_dropout=0.5)
    batch = trainer.user_side[0]
    hidden = trainer._hidden_ratings()
    dropped = trainer._dropped(batch, hidden)
    layer = trainer.model.user_encoder.latent_input
    weighted = layer(dropped, trainer.feedback_items, dropped.entry_weights)
    kept = ~hidden[batch.ratings]
    # The same sums computed entry by entry over the kept ratings only, scaled by 1 / (1 - rate).
    projected = torch.einsum("nk,nkw->nw", trainer.feedback_items[batch.columns], layer.weight[batch.columns])
    expected = torch.zeros(len(batch), projected.shape[1]).index_add(
        0, batch.segment[kept], projected[kept] / 0.5) + layer.bias
    torch.testing.assert_close(weighted, expected, rtol=1e-5, atol=1e-5)


def test_reading_more_ratings_changes_the_posteriors_not_the_weights():
    table = _table()
    held_out = np.zeros(len(table), dtype=bool)
    held_out[::5] = True
    trainer = _trainer(table.subset(~held_out))
    trainer.train_one_iteration()
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    before = trainer.encode_all()
    trainer.read_ratings(table.subset(~held_out).concatenate(table.subset(held_out)))
    after = trainer.encode_all()
    for key, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, weights[key])
    assert not torch.allclose(before[0], after[0])
    assert sum(len(batch.columns) for batch in trainer.user_side) == len(table)
    # Training now reads them too: the nested blocks hold every rating, per-rating losses count them.
    assert trainer.n_ratings == len(table) and int(trainer.blocks.pointer[-1]) == len(table)


def test_hidden_ratings_are_hidden_from_the_local_attention_too():
    trainer = _trainer(_table(n_users=30, n_items=20), input_dropout=0.5)
    batch = trainer.user_side[0]
    hidden = trainer._hidden_ratings()
    dropped = trainer._dropped(batch, hidden)
    kept = ~hidden[batch.ratings]
    encoder = trainer.model.user_encoder
    attention = encoder.mean_head.attention
    query = torch.randn(len(batch), 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        attended = attention(query, dropped, trainer.feedback_items, "local")
        # The same attention over a batch that never had the hidden ratings.
        import dataclasses
        segment, columns = batch.segment[kept], batch.columns[kept]
        only_kept = dataclasses.replace(batch, segment=segment, columns=columns, entry_weights=None)
        expected = attention(query, only_kept, trainer.feedback_items, "local")
    torch.testing.assert_close(attended, expected)


def test_tables_too_large_to_copy_keep_no_average(monkeypatch):
    from skcrossvae._torch import _crossvae_fit

    monkeypatch.setattr(_crossvae_fit, "LARGE_TABLE", 10)
    trainer = _trainer(_table(), weight_averaging=0.9)
    parameters, averages = trainer._parameters_and_averages()
    tables = {id(table.weight) for table in trainer.tables}
    assert not tables & {id(p) for p in parameters} and len(parameters) == len(averages)


def test_large_tensors_of_a_state_go_to_a_file_and_come_back_exactly(monkeypatch):
    from skcrossvae._torch import _crossvae_fit

    monkeypatch.setattr(_crossvae_fit, "SPILLED_COPY", 10)
    trainer = _trainer(_table(), weight_averaging=0.9)
    trainer.train_one_iteration()
    state = trainer.get_state()
    weights, averages = state[0], state[1]
    assert any(isinstance(value, _crossvae_fit._Spilled) for value in weights.values())
    assert any(isinstance(value, _crossvae_fit._Spilled) for value in averages)
    before = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    averages_before = [average.clone() for average in trainer.averaged]
    for _ in range(2):  # a state can be restored more than once
        trainer.train_one_iteration()
        trainer.set_state(state)
        for key, value in trainer.model.state_dict().items():
            torch.testing.assert_close(value, before[key], rtol=0, atol=0)
        for average, expected in zip(trainer.averaged, averages_before):
            torch.testing.assert_close(average, expected, rtol=0, atol=0)


def test_row_wise_table_steps_in_chunks_equal_one_product(monkeypatch):
    from skcrossvae._torch import _layers

    results = []
    for chunk in (_layers.UPDATE_CHUNK, 1):
        monkeypatch.setattr(_layers, "UPDATE_CHUNK", chunk)  # 1 entry: one row per chunk
        trainer = _trainer(_table(40, 200, density=0.02), weight_averaging=0.0)  # batches rate few rows
        trainer.train_one_iteration()
        results.append([table.weight.detach().clone() for table in trainer.tables])
    for chunked, whole in zip(*results):
        torch.testing.assert_close(chunked, whole, rtol=0, atol=0)


@pytest.mark.parametrize("schedule", ["nested", "alternating"])
@pytest.mark.parametrize("density", [0.02, 0.3])  # batches that rate few rows, and most rows
def test_deferred_table_steps_equal_steps_applied_at_once(schedule, density):
    def trained(defer):
        trainer = _trainer(_table(40, 60, density=density), weight_averaging=0.0, schedule=schedule)
        if not defer:  # every step reaches the tables at once
            step = trainer.table_optimizer.step

            def step_and_apply():
                step()
                for table in trainer.tables:
                    if getattr(table, "deferred", None) is not None:
                        feedback = table.deferred.inputs
                        table.apply_deferred_updates()
                        table.defer_updates(feedback)

            trainer.table_optimizer.step = step_and_apply
        losses = [trainer.train_one_iteration() for _ in range(3)]
        assert all(getattr(table, "deferred", None) is None for table in trainer.tables)
        return losses, trainer.model.state_dict()

    (deferred_losses, deferred), (losses, applied) = trained(True), trained(False)
    np.testing.assert_allclose(deferred_losses, losses, rtol=1e-5)
    for key, value in applied.items():
        torch.testing.assert_close(deferred[key], value, rtol=1e-4, atol=1e-6)


def test_averaged_posteriors_are_the_mean_of_each_iteration_s_encoding():
    trainer = _trainer(_table(), weight_averaging=0.9)
    trainer.train_one_iteration()
    trainer.average_posteriors()
    encoded = []
    for _ in range(3):
        trainer.train_one_iteration()
        trainer.add_posteriors()
        encoded.append(trainer._encode_all())
    for got, parts in zip(trainer.encode_all(), zip(*encoded)):
        torch.testing.assert_close(got, sum(parts) / 3)
