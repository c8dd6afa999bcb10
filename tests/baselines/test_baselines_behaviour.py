"""What only the baselines do (the package's behaviour checks run over them in
``tests/test_behaviour.py``). The baselines are found by walking ``skcrossvae.baselines.__all__``."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch
from _estimators import fast_instance
from sklearn.model_selection import ParameterGrid

import skcrossvae
import skcrossvae.testing
from skcrossvae import baselines
from skcrossvae._base import BaseRatingEstimator

BASELINES = [
    getattr(baselines, name) for name in baselines.__all__
    if inspect.isclass(getattr(baselines, name)) and issubclass(getattr(baselines, name), BaseRatingEstimator)
]
TORCH_BASELINES = [cls for cls in BASELINES if "warm_start" in inspect.signature(cls).parameters]
# Settings besides the defaults that the shared checks should also see.
VARIANTS = [(cls, {}) for cls in BASELINES] + [(baselines.AutoRecRegressor, {"side": "user"})]


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """One torch thread while these tests run: their tensors are tiny, so extra threads only
    add synchronisation, which costs seconds per fit on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _name(cls):
    return cls.__name__


def _variant_name(variant):
    cls, overrides = variant
    return cls.__name__ + "".join(f"-{value}" for value in overrides.values())


def _fit(cls, X, y, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # test-sized fits stop at max_iter
        return fast_instance(cls, **overrides).fit(X, y)


@pytest.fixture(scope="module")
def toy_ratings():
    return skcrossvae.testing.toy_ratings()


def test_every_baseline_is_found():
    assert len(BASELINES) == 8
    assert set(TORCH_BASELINES) == set(BASELINES) - {baselines.BayesianMFRegressor,
                                                     baselines.VariationalBayesMFRegressor}


# ------------------------------------------------------------ baseline behaviour
@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_name)
def test_training_beats_the_global_mean(variant):
    cls, overrides = variant
    rng = np.random.RandomState(0)
    users, items = np.nonzero(rng.rand(40, 30) < 0.6)
    truth = 3 + rng.randn(40, 2) @ rng.randn(2, 30) / 2
    X, y = np.column_stack([users, items]), np.clip(truth[users, items], 1, 5)
    # Wider than the test-sized defaults: a network of three or four ReLU units can die.
    quick = {"batch_size": 32, "learning_rate": 1e-2, "n_components": 8, "hidden_layer_sizes": ()}
    accepted = inspect.signature(cls).parameters
    quick = {key: value for key, value in quick.items() if key in accepted}
    model = _fit(cls, X, y, max_iter=30, early_stopping=False, **quick, **overrides)
    baseline = np.sqrt(np.mean((y - y.mean()) ** 2))
    assert np.sqrt(np.mean((model.predict(X) - y) ** 2)) < 0.9 * baseline


@pytest.mark.parametrize("cls", TORCH_BASELINES, ids=_name)
def test_warm_start_continues_from_the_fitted_network(cls, toy_ratings, tmp_path):
    X, y = toy_ratings
    model = _fit(cls, X, y, warm_start=True)
    module = model.module_
    fitted_weights = {key: value.clone() for key, value in module.state_dict().items()}
    first = model.predict(X)
    # With a negligible step the warm fit keeps the trained predictions: it starts from them.
    model.set_params(learning_rate=1e-12).fit(X, y)
    np.testing.assert_allclose(model.predict(X), first, atol=1e-5)
    model.set_params(learning_rate=_fit(cls, X, y).learning_rate).fit(X, y)
    assert not np.array_equal(model.predict(X), first)
    # The warm fit trains a copy: the network of the previous fit is left as it was.
    assert model.module_ is not module
    for key, value in module.state_dict().items():
        assert torch.equal(value, fitted_weights[key])
    with pytest.raises(ValueError, match="warm_start=True continues training"):
        model.fit(np.vstack([X, [[-1, X[0, 1]]]]), np.append(y, 3.0))
    # A parameter that shapes the network cannot change under a warm start.
    trained = model.predict(X)
    model.set_params(n_components=model.n_components + 1)
    with pytest.raises(ValueError, match="parameters changed since fit describe other networks"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.predict(X), trained)
    with pytest.raises(ValueError, match="load rebuilds the saved networks"):
        model.save(tmp_path / "model.skcv")


@pytest.mark.parametrize("cls", BASELINES, ids=_name)
def test_without_early_stopping_nothing_is_held_out(cls, toy_ratings):
    model = _fit(cls, *toy_ratings, early_stopping=False)
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert model.best_iteration_ == model.n_iter_


def test_autoencoder_codes_cover_the_rows_of_their_side(toy_ratings):
    X, y = toy_ratings
    for side, n_rows in (("user", len(np.unique(X[:, 0]))), ("item", len(np.unique(X[:, 1])))):
        model = _fit(baselines.AutoRecRegressor, X, y, side=side, n_components=5, hidden_layer_sizes=())
        assert model.row_codes_.shape == (n_rows, 5)


def test_vae_annealing_counts_steps_across_warm_starts(toy_ratings):
    X, y = toy_ratings
    model = _fit(baselines.MultVAERegressor, X, y, batch_size=10, early_stopping=False, warm_start=True)
    steps_per_epoch = int(np.ceil(len(np.unique(X[:, 0])) / 10))
    assert model.n_updates_ == model.n_iter_ * steps_per_epoch
    first = model.n_updates_
    model.fit(X, y)
    assert model.n_updates_ == first + model.n_iter_ * steps_per_epoch


def test_convncf_rejects_more_layers_than_halvings(toy_ratings):
    with pytest.raises(ValueError, match="use at most 3"):
        fast_instance(baselines.ConvNCFRegressor, n_components=8, n_conv_layers=4).fit(*toy_ratings)


def test_bpmf_predictive_std(toy_ratings):
    X, y = toy_ratings
    model = _fit(baselines.BayesianMFRegressor, X, y, max_iter=5)
    assert model.user_samples_.shape == (model.n_users_, model.n_iter_, 3)
    predictions, std = model.predict(np.vstack([X[:4], [[-5, -7]]]), return_std=True)
    np.testing.assert_array_equal(predictions, model.predict(np.vstack([X[:4], [[-5, -7]]])))
    assert np.all(std[:4] >= np.sqrt(model.noise_variance_)) and np.all(np.isfinite(std))
    assert std[4] == pytest.approx(model.rating_std_)


def test_bpmf_early_stopping_keeps_the_best_average(toy_ratings):
    model = _fit(baselines.BayesianMFRegressor, *toy_ratings, early_stopping=True, max_iter=30,
                 n_iter_no_change=3, tol=0.0)
    assert model.user_samples_.shape[1] == model.best_iteration_ <= model.n_iter_
    assert model.best_validation_score_ == min(model.validation_scores_)


def test_bpmf_pickle_keeps_the_samples(toy_ratings):
    model = _fit(baselines.BayesianMFRegressor, *toy_ratings)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.item_samples_, model.item_samples_)


# ----------------------------------------------------------------- paper grids
@pytest.mark.parametrize("name", sorted(baselines.PAPER_BASELINES))
def test_paper_grid_names_valid_parameters(name):
    grid = ParameterGrid(baselines.paper_baseline_grid(name))
    estimator = baselines.PAPER_BASELINES[name]()
    for candidate in grid:
        estimator.set_params(**candidate)._validate_params()
    assert len(grid) == {"ncf": 180, "cnn-cf": 96, "u-rec": 180, "i-rec": 180,
                         "dae-cf": 180, "vae-cf": 270}[name]


def test_paper_grid_settings():
    assert {c["side"] for c in ParameterGrid(baselines.paper_baseline_grid("u-rec"))} == {"user"}
    cnn = ParameterGrid(baselines.paper_baseline_grid("cnn-cf"))
    assert all(2 ** c["n_conv_layers"] <= c["n_components"] for c in cnn)
    assert max(c["n_conv_layers"] for c in cnn) == 6
    assert {c["beta"] for c in ParameterGrid(baselines.paper_baseline_grid("vae-cf"))} == {
        1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0}
    with pytest.raises(ValueError, match="name must be one of"):
        baselines.paper_baseline_grid("bpmf")


def test_load_restores_a_baseline_without_its_training_data(tmp_path, toy_ratings):
    X, y = toy_ratings
    model = _fit(baselines.MultVAERegressor, X, y)
    model.save(tmp_path / "vae.skcv")
    restored = skcrossvae.load(tmp_path / "vae.skcv")
    assert restored.n_updates_ == model.n_updates_
    np.testing.assert_array_equal(restored.row_codes_, model.row_codes_)
