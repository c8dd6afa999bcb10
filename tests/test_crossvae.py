"""CrossFeedbackVAERegressor: properties on toy matrices, sklearn integration, real data."""

import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline

from skcrossvae import CrossFeedbackVAERegressor, load
from skcrossvae._data import RatingTable, damped_biases
from skcrossvae.datasets import make_ratings
from skcrossvae.testing import low_rank_tables, rating_tables

TOY = dict(user_batch_size=10, item_batch_size=10, n_components=4, intermediate_dim=4,
           hidden_layer_sizes=(8,), max_iter=3, random_state=0, device="cpu")
# A setting that learns a toy matrix in seconds: small batches give many steps per iteration,
# posterior means fed back steady the cross-feedback on tiny data, and hidden layers wider than
# the toy defaults keep ReLU units alive (narrow ones got stuck at the mean in about half of the
# draws we tried).
# Noise-free recovery: weak KL weights and no input dropout (regularisers against noise, which
# these tables have none of, and which on 30 x 20 tables would hide half of few entries).
RECOVERY = dict(TOY, max_iter=150, n_iter_no_change=150, early_stopping=False, learning_rate=3e-3,
                hidden_layer_sizes=(32,), intermediate_dim=16, beta_user=1e-3, beta_item=1e-3,
                feedback="mean", attention=None, input_dropout=0.0)
# Fits take seconds: few examples, a fixed draw (derandomize) so CI sees the examples tested
# here, and no shrinking (each shrink step would refit).
SLOW = settings(max_examples=3, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow])


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CrossFeedbackVAERegressor(**{**TOY, **params}).fit(X, y)


def _heldout_rmse(model, full, X):
    observed = np.zeros(full.shape, dtype=bool)
    observed[X[:, 0].astype(int), X[:, 1].astype(int)] = True
    users, items = np.nonzero(~observed)
    predictions = model.predict(np.column_stack([users, items]))
    return np.sqrt(np.mean((predictions - full[users, items]) ** 2))


@SLOW
@given(low_rank_tables(rank=(1, 2), density=(0.6, 0.9)))
def test_noiseless_low_rank_matrix_is_recovered(table):
    X, y, full = table
    model = _fit(X, y, **RECOVERY)
    assert _heldout_rmse(model, full, X) < 0.5 * full.std()


@settings(SLOW, max_examples=1)
@given(low_rank_tables(rank=(1, 2), density=(0.6, 0.9)))
def test_renaming_ids_moves_rmse_no_more_than_the_seed(table):
    X, y, full = table
    scores = [_heldout_rmse(_fit(X, y, **{**RECOVERY, "random_state": seed}), full, X) for seed in range(3)]
    rng = np.random.RandomState(0)
    user_names, item_names = rng.permutation(full.shape[0]), rng.permutation(full.shape[1])
    renamed = np.column_stack([user_names[X[:, 0]], item_names[X[:, 1]]])
    model = _fit(renamed, y, **RECOVERY)
    users, items = np.nonzero(np.ones(full.shape, dtype=bool))
    observed = set(map(tuple, X))
    heldout = np.array([(u, i) for u, i in zip(users, items) if (u, i) not in observed])
    predictions = model.predict(np.column_stack([user_names[heldout[:, 0]], item_names[heldout[:, 1]]]))
    renamed_score = np.sqrt(np.mean((predictions - full[heldout[:, 0], heldout[:, 1]]) ** 2))
    spread = max(scores) - min(scores)
    assert min(scores) - spread - 0.02 <= renamed_score <= max(scores) + spread + 0.02


@settings(max_examples=15, deadline=None, derandomize=True)
@given(rating_tables(rating_scale=(0.5, 100.0)))
def test_predictions_are_finite_for_every_valid_input(table):
    X, y = table
    model = _fit(X, y, max_iter=2)
    predictions, std = model.predict(X, return_std=True)
    assert np.isfinite(predictions).all() and np.isfinite(std).all() and (std > 0).all()


@settings(max_examples=5, deadline=None, derandomize=True)
@given(rating_tables())
def test_same_seed_gives_the_same_predictions(table):
    X, y = table
    np.testing.assert_array_equal(_fit(X, y).predict(X), _fit(X, y).predict(X))


@pytest.fixture(scope="module")
def toy():
    rng = np.random.RandomState(3)
    users, items = np.nonzero(rng.rand(30, 20) < 0.5)
    X = np.column_stack([users, items])
    y = np.clip(np.round(3 + rng.randn(len(users))), 1, 5)
    return X, y


@pytest.mark.parametrize("params", [
    dict(attention="local"), dict(attention="global"), dict(attention=None),
    dict(attention_norm="ratio"), dict(latent_input="mean"), dict(cross_feedback=False, attention=None),
    dict(use_ratings=False), dict(schedule="alternating"), dict(feedback="mean"),
    dict(standardize=False), dict(baseline=False), dict(baseline=False, standardize=False),
    dict(fusion_layer_sizes=(6, 5)), dict(hidden_layer_sizes=()),
    dict(free_means=True, learn_prior_variance=True), dict(free_means=True, schedule="alternating"),
])
def test_every_variant_fits_and_predicts(toy, params):
    X, y = toy
    model = _fit(X, y, **params)
    assert np.isfinite(model.predict(X)).all()
    # refit='average' keeps the validated and the refit run's embeddings side by side.
    n_runs = 2 if model.refitted_ else 1
    assert model.user_embeddings_.shape == (model.n_users_, n_runs * TOY["n_components"])


def _sparse_items_table():
    """Users with 20 ratings each, most items with 1 to 3 (median item count below 10)."""
    rng = np.random.RandomState(0)
    users = np.repeat(np.arange(30), 20)
    items = np.concatenate([rng.choice(300, 20, replace=False) for _ in range(30)])
    return np.column_stack([users, items]), rng.randint(1, 6, len(users)).astype(float)


@pytest.mark.parametrize("baseline, expected", [("auto", True), (True, True), (False, False)])
def test_auto_baseline_is_used_when_a_side_is_sparse(toy, baseline, expected):
    X, y = _sparse_items_table()
    assert np.median(np.bincount(X[:, 1])[np.unique(X[:, 1])]) < 10 <= np.median(np.bincount(X[:, 0]))
    model = _fit(X, y, baseline=baseline, early_stopping=False)
    assert model.uses_baseline_ is expected
    assert bool(model.baseline_item_biases_.any()) == expected
    # The toy matrix is dense on both sides (median 10 ratings per user, 16 per item): no baseline.
    dense = _fit(*toy, baseline=baseline, early_stopping=False)
    assert dense.uses_baseline_ is (baseline is True)


@pytest.mark.parametrize("input_dropout, dense_rate, sparse_rate",
                         [("auto", 0.5, 0.0), (0.25, 0.25, 0.25), (0.0, 0.0, 0.0)])
def test_auto_input_dropout_hides_ratings_only_on_dense_data(toy, input_dropout, dense_rate,
                                                              sparse_rate):
    dense = _fit(*toy, input_dropout=input_dropout, early_stopping=False)
    sparse = _fit(*_sparse_items_table(), input_dropout=input_dropout, early_stopping=False)
    assert (dense.input_dropout_, sparse.input_dropout_) == (dense_rate, sparse_rate)
    assert dense.get_params()["input_dropout"] == input_dropout
    # The resolved share is what the trainer hid: 'auto' on dense data fits as 0.5 does.
    if input_dropout == "auto":
        explicit = _fit(*toy, input_dropout=0.5, early_stopping=False)
        np.testing.assert_array_equal(dense.predict(toy[0]), explicit.predict(toy[0]))
    # A warm start trains with the share it is given now.
    dense.set_params(warm_start=True, input_dropout=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dense.fit(*toy).input_dropout_ == 0.1


def test_auto_attention_follows_the_documented_threshold():
    rng = np.random.RandomState(0)
    users, items = np.nonzero(rng.rand(40, 100) < 0.15)  # ~15 ratings per user, ~6 per item
    X, y = np.column_stack([users, items]), rng.randint(1, 6, len(users)).astype(float)
    model = _fit(X, y, attention="auto", early_stopping=False)
    assert np.median(np.bincount(users)) >= 10 > np.median(np.bincount(items))
    assert model.attention_scopes_ == ("local", "global")


@pytest.mark.parametrize("params, message", [
    (dict(cross_feedback=False, attention="auto"), "needs cross_feedback=True"),
    (dict(cross_feedback=False, use_ratings=False, attention=None), "no input"),
    (dict(hidden_layer_sizes=(4, 0)), "positive integers"),
    (dict(attention="everywhere"), "attention"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(free_means=True, free_means_learning_rate=-0.1), "free_means_learning_rate"),
    (dict(learn_prior_variance="yes"), "learn_prior_variance"),
    (dict(baseline_damping=-1.0), "baseline_damping"),
    (dict(baseline="yes"), "baseline"),
    (dict(refit="median"), "refit"),
    (dict(device="tpu"), "device"),
])
def test_invalid_parameters_are_named(toy, params, message):
    with pytest.raises(ValueError, match=message):
        CrossFeedbackVAERegressor(**{**TOY, **params}).fit(*toy)


def test_early_stopping_attributes_and_restored_best_state(toy):
    X, y = toy
    model = _fit(X, y, max_iter=6, n_iter_no_change=2)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == min(model.validation_scores_)
    assert model.validation_scores_[model.best_iteration_ - 1] == model.best_validation_score_
    no_stop = _fit(X, y, early_stopping=False)
    assert no_stop.validation_scores_ is None and no_stop.best_iteration_ == no_stop.n_iter_


def test_verbose_prints_progress(toy, capsys):
    _fit(*toy, verbose=1, max_iter=2)
    out = capsys.readouterr().out
    assert "iteration 1/2" in out and "validation RMSE" in out and "ETA" in out


def test_return_std_is_larger_for_unknown_pairs(toy):
    X, y = toy
    model = _fit(X, y)
    _, known_std = model.predict(X[:5], return_std=True)
    _, unknown_std = model.predict(np.array([[999, 999]]), return_std=True)
    assert unknown_std[0] == pytest.approx(model.rating_std_)
    assert np.all(known_std >= np.sqrt(model.noise_variance_))


def test_warm_start_continues_and_rejects_new_ids(toy):
    X, y = toy
    model = _fit(X, y, warm_start=True, early_stopping=False)
    before = model.predict(X)
    model.fit(X, y)
    assert model.n_iter_ == TOY["max_iter"]
    assert not np.array_equal(before, model.predict(X))
    with pytest.raises(ValueError, match="warm_start=True continues training"):
        model.fit(np.vstack([X, [[999, 0]]]), np.append(y, 3.0))


@pytest.mark.parametrize("change, message", [
    (dict(n_components=5), "n_components from 4 to 5"),
    (dict(free_means=True), "free_means from False to True"),
    (dict(attention="local"), "attention from None to 'local'"),
    (dict(hidden_layer_sizes=[8, 8]), r"hidden_layer_sizes from \(8,\) to \(8, 8\)"),
    (dict(attention_norm="ratio", free_means=True), "attention_norm from 'softmax' to 'ratio', free_means"),
])
def test_warm_start_and_save_reject_a_changed_architecture(toy, change, message, tmp_path):
    model = _fit(*toy, warm_start=True, early_stopping=False)
    before = model.predict(toy[0])
    model.set_params(**change)
    with pytest.raises(ValueError, match=f"warm_start=True continues training.*{message}"):
        model.fit(*toy)
    np.testing.assert_array_equal(model.predict(toy[0]), before)
    with pytest.raises(ValueError, match=f"load rebuilds the saved networks.*{message}"):
        model.save(tmp_path / "model.skcv")


def test_free_means_and_learned_prior_are_trained_kept_and_restored(toy, tmp_path):
    X, y = toy
    model = _fit(X, y, free_means=True, learn_prior_variance=True, warm_start=True)
    user_free = model.module_.user_encoder.free_means
    assert user_free.shape == (model.n_users_, TOY["n_components"] + 1)
    assert user_free.abs().min() > 0
    assert (model.module_.item_encoder.log_prior_variance != 0).all()
    path = tmp_path / "model.skcv"
    model.save(path)
    restored = load(path)
    torch.testing.assert_close(restored.module_.user_encoder.free_means, user_free)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    # A warm start trains the same free means further.
    before = user_free.detach().clone()
    model.fit(X, y)
    assert not torch.equal(model.module_.user_encoder.free_means.detach(), before)


def test_pipeline_gridsearch_clone_and_cross_validate(toy):
    X, y = toy
    pipeline = Pipeline([("model", CrossFeedbackVAERegressor(**TOY))])
    search = GridSearchCV(
        pipeline, {"model__n_components": [2, 4], "model__beta_user": [1e-3, 1e-1]},
        cv=KFold(2, shuffle=True, random_state=0), scoring="neg_root_mean_squared_error",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
        scores = cross_validate(CrossFeedbackVAERegressor(**TOY), X, y, cv=2)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.best_estimator_.predict(X)).all()
    assert np.isfinite(scores["test_score"]).all()
    assert clone(search.best_estimator_).get_params()["model__n_components"] in (2, 4)


def test_pickle_round_trip_identical_predictions(toy):
    X, y = toy
    model = _fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X, return_std=True)[1], model.predict(X, return_std=True)[1])


@pytest.mark.realdata
@pytest.mark.slow
def test_movielens_100k_u1_default_parameters(real_data_home):
    train = np.loadtxt(real_data_home / "ml-100k" / "u1.base", dtype=np.int64)
    test = np.loadtxt(real_data_home / "ml-100k" / "u1.test", dtype=np.int64)
    model = CrossFeedbackVAERegressor(random_state=0).fit(train[:, :2], train[:, 2].astype(float))
    rmse = np.sqrt(np.mean((model.predict(test[:, :2]) - test[:, 2]) ** 2))
    # 0.8970 measured here with one torch thread, 0.8973 with two (Bayesian MF: 0.9041; seeds
    # 0-2 with one thread: 0.8973 +- 0.0014). Floating-point reductions differ between thread counts and CPUs,
    # so the same seed lands on another optimum (0.9034 with one thread against 0.9008 with two
    # under the previous defaults): the bound leaves room for that.
    assert rmse <= 0.910, rmse


def _record_training_runs(monkeypatch):
    """Record (number of training ratings, validated?, max_iter, starting weights) of every run."""
    runs = []
    train = CrossFeedbackVAERegressor._train

    def recording(self, table, valid, start, rng, generator, device, max_iter):
        weights = torch.cat([p.detach().flatten().clone() for p in start[0].parameters()])
        runs.append((len(table), valid is not None, max_iter, weights))
        return train(self, table, valid, start, rng, generator, device, max_iter)

    monkeypatch.setattr(CrossFeedbackVAERegressor, "_train", recording)
    return runs


@pytest.fixture(scope="module")
def low_rank_toy():
    """Ratings of a rank-2 matrix with a little noise: the refit has structure to learn."""
    rng = np.random.RandomState(4)
    full = 3 + rng.randn(40, 2) @ rng.randn(2, 30)
    users, items = np.nonzero(rng.rand(40, 30) < 0.6)
    return np.column_stack([users, items]), full[users, items] + 0.1 * rng.randn(len(users))


def test_refit_trains_again_on_every_rating_for_the_chosen_iterations(low_rank_toy, monkeypatch):
    X, y = low_rank_toy
    # A setting that learns the matrix, and stops before max_iter.
    learning = dict(RECOVERY, early_stopping=True, max_iter=100, n_iter_no_change=5)
    plain = _fit(X, y, **learning, refit=False)
    runs = _record_training_runs(monkeypatch)
    with warnings.catch_warnings():
        # Neither the refit's fixed length nor a discarded refit: the refit is kept.
        warnings.simplefilter("error", ConvergenceWarning)
        refitted = CrossFeedbackVAERegressor(**{**TOY, **learning, "refit": True}).fit(X, y)
    (first_size, first_validated, _, _), (second_size, second_validated, second_iter, _) = runs
    assert first_validated and not second_validated
    assert first_size < second_size == len(y)
    assert second_iter == refitted.best_iteration_ and refitted.refitted_
    # The validated run is the same as without refit; the final model is another one.
    assert refitted.validation_scores_ == plain.validation_scores_
    assert refitted.best_iteration_ == plain.best_iteration_
    assert not np.allclose(refitted.predict(X), plain.predict(X))


@pytest.mark.parametrize("params", [dict(baseline=False), dict(baseline=True), dict(biases=False)])
def test_refit_average_predicts_the_mean_of_the_validated_and_the_refit_model(low_rank_toy, params):
    X, y = low_rank_toy
    learning = dict(RECOVERY, early_stopping=True, max_iter=100, n_iter_no_change=5, **params)
    validated, refitted, averaged = (_fit(X, y, **learning, refit=refit) for refit in (False, True, "average"))
    assert refitted.refitted_ and averaged.refitted_
    assert averaged.user_embeddings_.shape == (averaged.n_users_, 2 * TOY["n_components"])
    assert averaged.best_iteration_ == validated.best_iteration_
    pairs = np.array([[u, i] for u in range(40) for i in range(30)])
    (mean_a, std_a), (mean_b, std_b), (mean, std) = (
        model.predict(pairs, return_std=True) for model in (validated, refitted, averaged)
    )
    low, high = averaged.rating_range_
    inside = (np.minimum(mean_a, mean_b) > low) & (np.maximum(mean_a, mean_b) < high)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(mean[inside], (mean_a + mean_b)[inside] / 2, atol=1e-9)
    # The variance of the model part is that of the average of two independent predictions.
    np.testing.assert_allclose(
        std**2 - averaged.noise_variance_,
        (std_a**2 - validated.noise_variance_ + std_b**2 - refitted.noise_variance_) / 4, atol=1e-9,
    )
    # The offsets average the two runs' (a baseline fitted on the training part and on all ratings).
    np.testing.assert_allclose(averaged.baseline_user_biases_,
                               (validated.baseline_user_biases_ + refitted.baseline_user_biases_) / 2)


def test_refit_without_early_stopping_trains_once(toy, monkeypatch):
    X, y = toy
    runs = _record_training_runs(monkeypatch)
    _fit(X, y, refit=True, early_stopping=False)
    assert [run[:3] for run in runs] == [(len(y), False, TOY["max_iter"])]


def test_refit_of_a_warm_start_starts_from_the_warm_weights(toy, monkeypatch):
    X, y = toy
    model = _fit(X, y, warm_start=True, refit=True, max_iter=4, n_iter_no_change=2)
    runs = _record_training_runs(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    (_, _, _, first_start), (_, _, _, second_start) = runs
    torch.testing.assert_close(first_start, second_start)


@pytest.mark.parametrize("refit", [True, "average"])
def test_a_refit_that_fits_the_validation_ratings_worse_is_discarded(toy, monkeypatch, refit):
    X, y = toy
    validated = _fit(X, y, refit=False)
    train = CrossFeedbackVAERegressor._train

    def astray(self, table, valid, start, rng, generator, device, max_iter):
        trainer, history = train(self, table, valid, start, rng, generator, device, max_iter)
        if valid is None:  # the refit: spoil its (averaged) weights
            with torch.no_grad():
                for weights in [*trainer.model.parameters(), *(trainer.averaged or [])]:
                    weights.mul_(-3.0)
        return trainer, history

    monkeypatch.setattr(CrossFeedbackVAERegressor, "_train", astray)
    with pytest.warns(ConvergenceWarning, match="keeping the validated model"):
        kept = CrossFeedbackVAERegressor(**TOY, refit=refit).fit(X, y)
    assert not kept.refitted_
    np.testing.assert_allclose(kept.predict(X), validated.predict(X))


@pytest.mark.parametrize("n_users, expected", [(30, 250), (2500, 250), (2501, 251), (17615, 1762)])
def test_auto_batch_sizes_bound_the_batches_per_side(n_users, expected):
    train = SimpleNamespace(n_users=n_users, n_items=40)
    sizes = CrossFeedbackVAERegressor()._resolve_batch_sizes(train)
    assert sizes == (expected, 250)
    # Never more than ten batches of more than 250 rows.
    assert sizes[0] == 250 or len(range(0, n_users, sizes[0])) <= 10


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_batch_sizes_are_the_resolved_ones():
    X, y, _ = make_ratings(30, 20, n_ratings=300, random_state=0)
    model = CrossFeedbackVAERegressor(max_iter=1, early_stopping=False, item_batch_size=7, random_state=0)
    assert model.fit(X, y).batch_sizes_ == (250, 7)


def _training_table(model, X, y):
    """The model's encoding of (X, y) as a rating table."""
    (users, _), (items, _) = model._encode_known((X[:, 0], X[:, 1]))
    return RatingTable(users, items, y, model.n_users_, model.n_items_)


def test_baseline_is_fitted_on_the_training_ratings_and_scales_the_residuals(toy):
    X, y = toy
    model = _fit(X, y, early_stopping=False, baseline=True, baseline_damping=3.0)
    table = _training_table(model, X, y)
    mean, user_bias, item_bias = damped_biases(table, 3.0)
    assert model.decoder_offset_ == mean == model.global_mean_
    np.testing.assert_allclose(model.baseline_user_biases_, user_bias)
    np.testing.assert_allclose(model.baseline_item_biases_, item_bias)
    residual = y - mean - user_bias[table.users] - item_bias[table.items]
    assert model.decoder_scale_ == pytest.approx(residual.std())
    # Predictions add the baseline back to the scaled score.
    users, items = table.users, table.items
    score = (np.einsum("ij,ij->i", model.user_embeddings_[users], model.item_embeddings_[items])
             + model.user_biases_[users] + model.item_biases_[items])
    expected = mean + user_bias[users] + item_bias[items] + model.decoder_scale_ * score
    np.testing.assert_allclose(model.predict(X), np.clip(expected, *model.rating_range_))


@pytest.mark.parametrize("standardize, offset, scale", [
    (True, "global_mean_", "rating_std_"), (False, 0.0, 1.0),
])
def test_without_baseline_the_decoder_offset_is_global(toy, standardize, offset, scale):
    X, y = toy
    model = _fit(X, y, baseline=False, standardize=standardize)
    assert not model.baseline_user_biases_.any() and not model.baseline_item_biases_.any()
    assert model.decoder_offset_ == (getattr(model, offset) if isinstance(offset, str) else offset)
    assert model.decoder_scale_ == (getattr(model, scale) if isinstance(scale, str) else scale)


def test_the_refit_fits_its_baseline_on_every_rating(toy):
    X, y = toy
    validated = _fit(X, y, refit=False, baseline=True)
    refitted = _fit(X, y, refit=True, baseline=True)
    assert refitted.refitted_
    everything = damped_biases(_training_table(refitted, X, y), refitted.baseline_damping)
    np.testing.assert_allclose(refitted.baseline_item_biases_, everything[2])
    # The validated model's baseline saw only the training part.
    assert not np.allclose(validated.baseline_item_biases_, everything[2])
