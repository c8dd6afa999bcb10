"""What the shared base guarantees every estimator: atomic fits, no silent divergence, clear
errors for inputs outside what it computes with, reproducible seeds."""

import copy
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from skcrossvae import CrossFeedbackVAERegressor, DivergenceError
from skcrossvae.exceptions import UnknownIdsWarning
from skcrossvae._data import RATING_MAGNITUDES
from skcrossvae.baselines import BayesianMFRegressor, BiasedMFRegressor, VariationalBayesMFRegressor
from skcrossvae.datasets import make_ratings

from _estimators import all_estimators, fast_instance

ESTIMATORS = all_estimators()
WARM_STARTABLE = [cls for cls in ESTIMATORS if "warm_start" in cls().get_params()]


def _name(cls):
    return cls.__name__


@pytest.fixture(scope="module")
def toys():
    X, y, _ = make_ratings(12, 10, n_ratings=70, random_state=0)
    X2, y2 = make_ratings(30, 20, n_ratings=300, random_state=1)[:2]
    return X, y, X2, y2


def _assert_same(before, after, where="estimator"):
    """Deep equality of estimator attribute tables: arrays, sparse matrices, networks, containers."""
    assert type(before) is type(after), where
    if isinstance(before, dict):
        assert before.keys() == after.keys(), f"{where}: {sorted(before.keys() ^ after.keys())}"
        for key in before:
            _assert_same(before[key], after[key], f"{where}.{key}")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), where
        for k, (a, b) in enumerate(zip(before, after)):
            _assert_same(a, b, f"{where}[{k}]")
    elif isinstance(before, torch.nn.Module):
        _assert_same({k: v.numpy() for k, v in before.state_dict().items()},
                     {k: v.numpy() for k, v in after.state_dict().items()}, where)
    elif isinstance(before, torch.Tensor):
        assert torch.equal(before, after), where
    elif sp.issparse(before):
        assert before.shape == after.shape and (before != after).nnz == 0, where
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(before, after, err_msg=where)
    elif isinstance(before, np.random.RandomState):
        _assert_same(before.get_state(), after.get_state(), where)
    else:
        assert before == after or (before != before and after != after), where


@pytest.fixture
def interrupt_second_iteration(monkeypatch):
    """Make the shared iteration driver raise KeyboardInterrupt inside the second iteration."""
    from skcrossvae import _training

    real = _training.run_iterations

    def interrupted(estimator, train_one_iteration, *args, **kwargs):
        calls = []

        def one_iteration():
            calls.append(None)
            if len(calls) == 2:
                raise KeyboardInterrupt("interrupted inside an iteration")
            return train_one_iteration()

        return real(estimator, one_iteration, *args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("skcrossvae") and getattr(module, "run_iterations", None) is real:
            monkeypatch.setattr(module, "run_iterations", interrupted)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_name)
def test_an_interrupted_fit_leaves_an_unfitted_estimator_unfitted(cls, toys, interrupt_second_iteration):
    model = fast_instance(cls, max_iter=5)
    before = copy.deepcopy(vars(model))
    with pytest.raises(KeyboardInterrupt):
        model.fit(*toys[:2])
    _assert_same(before, vars(model))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("warm", [False, True], ids=["refit", "warm_start"])
@pytest.mark.parametrize("cls", ESTIMATORS, ids=_name)
def test_an_interrupted_fit_leaves_the_fitted_estimator_exactly_as_it_was(cls, warm, toys, request):
    if warm and cls not in WARM_STARTABLE:
        pytest.skip(f"{cls.__name__} has no warm start")
    X, y, X2, y2 = toys
    model = fast_instance(cls, max_iter=3, warm_start=warm) if warm else fast_instance(cls, max_iter=3)
    model.fit(X, y)
    before, predictions = copy.deepcopy(vars(model)), model.predict(X)
    request.getfixturevalue("interrupt_second_iteration")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y) if warm else model.fit(X2 + 1000, y2)
    _assert_same(before, vars(model))
    np.testing.assert_array_equal(model.predict(X), predictions)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_name)
def test_an_interrupted_fit_leaves_a_random_state_parameter_where_it_was(cls, toys, request):
    # A RandomState given as random_state is a parameter: an interrupted fit must not advance it.
    X, y, X2, y2 = toys
    model = fast_instance(cls, max_iter=3, random_state=np.random.RandomState(0)).fit(X, y)
    before = copy.deepcopy(vars(model))
    request.getfixturevalue("interrupt_second_iteration")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X2 + 1000, y2)
    _assert_same(before, vars(model))


def test_a_diverged_fit_raises_and_keeps_the_previous_model(toys):
    X, y, X2, y2 = toys
    model = CrossFeedbackVAERegressor(max_iter=3, random_state=0, device="cpu").fit(X, y)
    predictions = model.predict(X)
    with pytest.raises(DivergenceError, match="Lower learning_rate"):
        model.set_params(learning_rate=1e3).fit(X2 + 1000, y2)
    assert model.n_users_ == len(np.unique(X[:, 0]))
    np.testing.assert_array_equal(model.predict(X), predictions)


def test_a_loss_that_explodes_but_stays_finite_is_a_divergence(toys):
    _, _, X2, y2 = toys
    with pytest.raises(DivergenceError, match=r"RMSE .* more than 1.5 times .*diverged. Lower learning_rate"):
        BiasedMFRegressor(learning_rate=1e3, max_iter=60, random_state=0, device="cpu").fit(X2, y2)


def test_a_short_fit_of_a_model_that_starts_far_off_warns_instead(toys):
    # The paper's decoder predicts about 0 before training: after one iteration it is still far
    # from the ratings, which is slow progress, not divergence.
    model = CrossFeedbackVAERegressor(decoder="dot", max_iter=1, final_iter=0,
                                      early_stopping=False, random_state=0, device="cpu")
    with pytest.warns(ConvergenceWarning, match="stopped far from a solution"):
        model.fit(*toys[:2])


def test_the_divergence_advice_names_what_the_estimator_has():
    assert "attention_norm" not in CrossFeedbackVAERegressor()._divergence_advice
    for norm in ("ratio", "eq9"):
        ratio = CrossFeedbackVAERegressor(attention="local", attention_norm=norm)
        assert "attention_norm='softmax'" in ratio._divergence_advice
    for cls in (BayesianMFRegressor, VariationalBayesMFRegressor):
        assert "learning_rate" not in cls()._divergence_advice and "noise_precision" in cls()._divergence_advice


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_name)
@pytest.mark.parametrize("name", ["n_components", "max_iter", "learning_rate"])
def test_a_boolean_for_a_number_is_refused(cls, name, toys):
    if name not in cls().get_params():
        pytest.skip(f"{cls.__name__} has no {name}")
    with pytest.raises(ValueError, match=f"'{name}' parameter .* must be a number, not a boolean"):
        fast_instance(cls, **{name: True}).fit(*toys[:2])


@pytest.mark.parametrize("scale", [1e160, 1e-200])
def test_ratings_outside_the_supported_magnitudes_are_refused(scale, toys):
    with pytest.raises(ValueError, match="largest rating magnitude is .* Rescale y"):
        fast_instance(BiasedMFRegressor).fit(toys[0], toys[1] * scale)


@pytest.mark.parametrize("scale", [1e-150, 1e149])
@pytest.mark.parametrize("cls", ESTIMATORS, ids=_name)
def test_every_estimator_fits_the_same_model_on_every_supported_scale(cls, scale, toys):
    # Ratings whose magnitudes fit accepts give the model of the same ratings on a 1-5 scale,
    # scaled (the autoencoders computed on the raw scale in float32 and raised a DivergenceError
    # advising a lower learning_rate outside about [1e-19, 1e18]). Early stopping is off: its
    # tol is in rating units.
    X, y = toys[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = fast_instance(cls, early_stopping=False).fit(X, y).predict(X)
        scaled = fast_instance(cls, early_stopping=False).fit(X, y * scale).predict(X)
    np.testing.assert_allclose(scaled / scale, plain, rtol=1e-9, atol=0)


def test_the_paper_decoder_refuses_ratings_float32_cannot_square(toys):
    model = fast_instance(CrossFeedbackVAERegressor, decoder="dot")
    with pytest.raises(ValueError, match="decoder='dot' models the raw ratings in float32"):
        model.fit(toys[0], toys[1] * 1e12)


def _hyper_parameters(cls, draw):
    """Random valid small settings for the parameters ``cls`` has."""
    accepted = cls().get_params()
    candidates = {
        "n_components": st.integers(1, 4),
        "max_iter": st.integers(1, 3),
        "early_stopping": st.booleans(),
        "learning_rate": st.floats(1e-4, 1.0),
        "alpha": st.sampled_from([0.0, 0.01, 1.0]),
        "decoder": st.sampled_from(["auto", "biased", "baseline", "dot"]),
        "attention": st.sampled_from([None, "local", "global"]),
        "attention_norm": st.sampled_from(["softmax", "ratio", "eq9"]),
        "final_iter": st.integers(0, 2),
        "input_dropout": st.sampled_from([0.0, 0.5]),
        "noise_precision": st.sampled_from([None, 0.5, 5.0]),
        "side": st.sampled_from(["user", "item"]),
        "n_conv_layers": st.just(None),  # as deep as n_components allows
    }
    return {name: draw(strategy) for name, strategy in candidates.items() if name in accepted}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), exponent=st.integers(-200, 160), seed=st.integers(0, 3))
def test_every_fit_on_any_scale_raises_clearly_or_predicts_inside_the_rating_range(data, exponent, seed):
    cls = data.draw(st.sampled_from(ESTIMATORS), label="estimator")
    params = _hyper_parameters(cls, data.draw)
    X, y, _ = make_ratings(10, 8, n_ratings=45, random_state=seed)
    y = y * 10.0**exponent
    model = fast_instance(cls, **params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
    except (ValueError, DivergenceError) as exc:
        assert str(exc), "errors name the problem"
        peak = np.max(np.abs(y))
        if isinstance(exc, ValueError) and not isinstance(exc, DivergenceError):
            assert not RATING_MAGNITUDES[0] <= peak <= RATING_MAGNITUDES[1] or "decoder='dot'" in str(exc)
        return
    predictions = model.predict(X)
    assert np.all(np.isfinite(predictions))
    assert np.all((predictions >= y.min()) & (predictions <= y.max()))


def test_two_one_thread_fits_with_one_seed_are_identical():
    X, y, _ = make_ratings(200, 150, n_ratings=4000, random_state=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first, second = (CrossFeedbackVAERegressor(max_iter=3, random_state=0, device="cpu").fit(X, y)
                         for _ in range(2))
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    np.testing.assert_array_equal(first.user_embeddings_, second.user_embeddings_)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=_name)
def test_sample_weights_of_one_change_nothing_and_zero_removes_the_rating(cls, toys):
    X, y = toys[:2]
    plain = fast_instance(cls).fit(X, y).predict(X)
    np.testing.assert_array_equal(fast_instance(cls).fit(X, y, sample_weight=np.ones(len(y))).predict(X), plain)
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    weights[::4] = 0.0
    kept = weights > 0
    with_zeros = fast_instance(cls).fit(X, y, sample_weight=weights)
    without = fast_instance(cls).fit(X[kept], y[kept], sample_weight=weights[kept])
    np.testing.assert_array_equal(with_zeros.predict(X), without.predict(X))
    assert with_zeros.n_users_ == without.n_users_


@pytest.mark.parametrize("weights, message", [
    (lambda n: -np.ones(n), "Negative values in data passed to `sample_weight`"),
    (lambda n: np.ones(n + 1), r"sample_weight.shape == \(\d+,\), expected \(\d+,\)"),
    (lambda n: np.zeros(n), "Sample weights must contain at least one non-zero number"),
    (lambda n: np.full(n, np.nan), "Input sample_weight contains NaN"),
], ids=["negative", "shape", "all zero", "nan"])
def test_bad_sample_weights_are_named(weights, message, toys):
    X, y = toys[:2]
    with pytest.raises(ValueError, match=message):
        fast_instance(BiasedMFRegressor).fit(X, y, sample_weight=weights(len(y)))


def test_the_caller_s_sample_weights_are_not_modified(toys):
    X, y = toys[:2]
    weights = np.linspace(0.0, 2.0, len(y))
    before = weights.copy()
    fast_instance(CrossFeedbackVAERegressor).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weights, before)


def test_a_weight_counts_the_rating_that_many_times_in_the_likelihood():
    from skcrossvae._data import RatingTable
    from skcrossvae.baselines._conjugate import side_matrices

    users, items, values = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0])
    weighted = RatingTable(users, items, values, 2, 2, np.array([1.0, 2.0, 1.0]))
    # The same rating twice: scipy sums repeated entries of a sparse matrix.
    repeated = RatingTable(np.r_[users, 0], np.r_[items, 1], np.r_[values, 2.0], 2, 2)
    for side in (0, 1):
        for got, want in zip(side_matrices(weighted, weighted.values)[side],
                             side_matrices(repeated, repeated.values)[side]):
            np.testing.assert_array_equal(got.toarray(), want.toarray())


def test_a_heavy_weight_pulls_the_fit_towards_its_rating(toys):
    X, y = toys[:2]
    weights = np.ones(len(y))
    weights[0] = 50.0
    model = VariationalBayesMFRegressor(n_components=2, max_iter=50, random_state=0)
    plain = model.fit(X, y).predict(X[:1])[0]
    heavy = model.fit(X, y, sample_weight=weights).predict(X[:1])[0]
    assert abs(heavy - y[0]) < 0.5 * abs(plain - y[0])


def _with_validation_part(X, y, share=0.2):
    """X and y split into a training part and a validation part of pairs the training part knows."""
    rng = np.random.RandomState(0)
    held = rng.rand(len(y)) < share
    users, items = set(X[~held, 0]), set(X[~held, 1])
    held &= np.array([u in users and i in items for u, i in X])
    return X[~held], y[~held], X[held], y[held]


@pytest.mark.parametrize("cls", all_estimators(), ids=_name)
def test_early_stopping_watches_x_val_and_never_trains_on_it(cls, toys):
    X, y, X_val, y_val = _with_validation_part(toys[2], toys[3])
    model = fast_instance(cls, early_stopping=True, max_iter=4).fit(X, y, X_val=X_val, y_val=y_val)
    assert model.ratings_.nnz == len(y)  # only X is the model's data
    assert model.rating_range_ == (y.min(), y.max())
    # the validation scores are those of X_val: the restored best iteration scores it exactly
    rmse = np.sqrt(np.mean((model.predict(X_val) - y_val) ** 2))
    assert np.isclose(model.best_validation_score_, rmse)
    assert len(model.validation_scores_) >= 1
    if hasattr(model, "final_iter_"):
        assert model.final_iter_ == 0  # the final iterations would train on X_val


def test_x_val_pairs_the_fit_cannot_score_are_left_out_with_a_warning(toys):
    X, y, X_val, y_val = _with_validation_part(toys[2], toys[3])
    stranger = np.array([[10**6, X[0, 1]]])
    unknown_first = fast_instance(CrossFeedbackVAERegressor, early_stopping=True)
    with pytest.warns(UnknownIdsWarning, match=f"1 of the {len(y_val) + 1} pairs of X_val"):
        unknown_first.fit(X, y, X_val=np.vstack([stranger, X_val]), y_val=np.r_[5.0, y_val])
    plain = fast_instance(CrossFeedbackVAERegressor, early_stopping=True).fit(X, y, X_val=X_val, y_val=y_val)
    assert unknown_first.best_validation_score_ == plain.best_validation_score_
    with pytest.raises(ValueError, match="none of the 1 pairs of X_val"):
        fast_instance(CrossFeedbackVAERegressor).fit(X, y, X_val=stranger, y_val=[5.0])


@pytest.mark.parametrize("params, fit_params, message", [
    ({}, dict(X_val="given"), "X_val and y_val go together; got only X_val"),
    ({}, dict(y_val=[3.0]), "got only y_val"),
    (dict(early_stopping=False), dict(X_val="given", y_val="given"), "set early_stopping=True"),
    ({}, dict(X_val=np.array([[1, 2, 3]]), y_val=[3.0]), "3 features"),
    ({}, dict(X_val="given", y_val=[3.0]), "X_val has 2 rows but y_val has 1 ratings"),
    ({}, dict(X_val="given", y_val=[3.0, np.nan]), r"ratings y_val contain NaN or inf at rows \[1\]"),
])
def test_bad_validation_data_is_named(toys, params, fit_params, message):
    X, y, X_val, y_val = _with_validation_part(toys[2], toys[3])
    fit_params = {name: {"X_val": X_val[:2], "y_val": y_val[:2]}[name] if isinstance(value, str) else value
                  for name, value in fit_params.items()}
    with pytest.raises(ValueError, match=message):
        fast_instance(CrossFeedbackVAERegressor, **params).fit(X, y, **fit_params)


def test_x_val_rated_in_x_too_is_named(toys):
    X, y, X_val, y_val = _with_validation_part(toys[2], toys[3])
    with pytest.warns(UserWarning, match="3 of the .* pairs of X_val are rated in X too"):
        fast_instance(CrossFeedbackVAERegressor).fit(X, y, X_val=np.vstack([X[:3], X_val]),
                                                     y_val=np.r_[y[:3], y_val])


def test_x_val_follows_x_s_columns_and_leaves_nothing_behind(toys):
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = _with_validation_part(toys[2], toys[3])
    frame = pd.DataFrame(X, columns=["user", "item"])
    model = fast_instance(CrossFeedbackVAERegressor, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a frame with X's columns is X_val's natural form
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame, y, X_val=pd.DataFrame(X_val, columns=["user", "item"]), y_val=y_val)
    with pytest.warns(UserWarning, match="^X_val: X does not have valid feature names"):
        model.fit(frame, y, X_val=X_val, y_val=y_val)
    with pytest.raises(ValueError, match="^X_val: .*feature names"):
        model.fit(frame, y, X_val=pd.DataFrame(X_val, columns=["item", "user"]), y_val=y_val)
    # the fit's own information is gone after it: clones and pickles carry parameters and fitted state
    assert not hasattr(model, "_validation_given")
    # a warm start watches the X_val it is given
    model.set_params(warm_start=True).fit(frame, y, X_val=pd.DataFrame(X_val, columns=["user", "item"]),
                                          y_val=y_val)
    rmse = np.sqrt(np.mean((model.predict(pd.DataFrame(X_val, columns=["user", "item"])) - y_val) ** 2))
    assert np.isclose(model.best_validation_score_, rmse)
