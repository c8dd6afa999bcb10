"""What only VariationalBayesMFRegressor does: coordinate ascent on the ELBO in closed form.

The shared behaviour suite (prediction, recommendation, unknown ids, pickling, save/load, seeds,
bad input) runs over it from ``test_baselines_behaviour.py``; here are the mathematics: the ELBO
never falls, the posteriors are the exact conditionals, and the ELBO's parts match independent
computations.
"""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skcrossvae._data import RatingTable
from skcrossvae.baselines import VariationalBayesMFRegressor
from skcrossvae.baselines._conjugate import row_grams
from skcrossvae.baselines._vbmf import _kl_to_prior, _VariationalPosterior
from skcrossvae.datasets import make_ratings
from skcrossvae.testing import rating_tables


def _toy(n_users, n_items, n_ratings, seed):
    X, y, *_ = make_ratings(n_users, n_items, n_ratings=n_ratings, rank=2, noise=0.5, random_state=seed)
    return X, y


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached on purpose in short fits
        return VariationalBayesMFRegressor(random_state=0, **params).fit(X, y)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=rating_tables(string_ids=False), k=st.integers(1, 4), fixed_noise=st.booleans())
def test_the_elbo_never_falls(table, k, fixed_noise):
    X, y = table
    model = _fit(X, y, n_components=k, max_iter=30, tol=0.0, noise_precision=2.0 if fixed_noise else None)
    curve = np.array(model.loss_curve_)
    assert np.all(np.isfinite(curve))
    # Each sweep maximises the ELBO exactly over each block: the negative ELBO can only fall.
    assert np.all(np.diff(curve) <= 1e-9 * np.abs(curve[1:]).max())


def test_item_posteriors_are_the_exact_conditionals():
    X, y = _toy(15, 10, 60, seed=3)
    model = _fit(X, y, n_components=3, max_iter=7, noise_precision=2.5)
    targets = (y - model.global_mean_) / model.rating_std_
    users = np.searchsorted(model.user_ids_, X[:, 0])
    items = np.searchsorted(model.item_ids_, X[:, 1])
    # The items were updated last, against the final user posteriors and the item prior of that step.
    prior_precision = np.linalg.inv(model.item_prior_covariance_)
    for item in range(model.n_items_):
        precision, rhs = prior_precision.copy(), prior_precision @ model.item_prior_mean_
        for user, target in zip(users[items == item], targets[items == item]):
            mean_u = model.user_factors_[user]
            precision += 2.5 * (np.outer(mean_u, mean_u) + model.user_covariances_[user])
            rhs += 2.5 * target * mean_u
        covariance = np.linalg.inv(precision)
        np.testing.assert_allclose(model.item_covariances_[item], covariance, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(model.item_factors_[item], covariance @ rhs, rtol=1e-8, atol=1e-12)


def test_the_prior_is_the_posteriors_mixture_moments():
    X, y = _toy(20, 12, 120, seed=4)
    model = _fit(X, y, n_components=3, max_iter=1)
    # After one sweep, the user prior was fitted to the users' starting posteriors; the item
    # prior to the items' starting posteriors: N(m, I) with the seeded random means m.
    start = np.random.RandomState(0)  # without early stopping the seed draws the start only
    user_means = start.standard_normal((model.n_users_, 3)) * 0.1
    item_means = start.standard_normal((model.n_items_, 3)) * 0.1
    for means, mean, covariance in ((user_means, model.user_prior_mean_, model.user_prior_covariance_),
                                    (item_means, model.item_prior_mean_, model.item_prior_covariance_)):
        np.testing.assert_allclose(mean, means.mean(axis=0))
        np.testing.assert_allclose(covariance, np.eye(3) + np.cov(means.T, bias=True), atol=1e-12)


def test_kl_matches_torch_distributions():
    rng = np.random.RandomState(0)
    means = rng.randn(4, 3)
    factors = rng.randn(4, 3, 3)
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.1 * np.eye(3)
    prior_factor = rng.randn(3, 3)
    prior_mean, prior_covariance = rng.randn(3), prior_factor @ prior_factor.T + np.eye(3)
    ours = _kl_to_prior(means, covariances, np.linalg.slogdet(covariances)[1], prior_mean, prior_covariance)
    q = torch.distributions.MultivariateNormal(torch.tensor(means), torch.tensor(covariances))
    p = torch.distributions.MultivariateNormal(torch.tensor(prior_mean), torch.tensor(prior_covariance))
    assert ours == pytest.approx(torch.distributions.kl_divergence(q, p).sum().item(), rel=1e-10)


def test_expected_squared_error_matches_the_per_rating_sum():
    X, y = _toy(9, 7, 38, seed=5)
    rng = np.random.RandomState(1)
    users, items = X[:, 0], X[:, 1]
    table = RatingTable(users, items, y, 9, 7)
    posterior = _VariationalPosterior(table, y - y.mean(), 2, None, rng)
    for side, n in ((0, 9), (1, 7)):
        factors = rng.randn(n, 2, 2)
        posterior.means[side] = rng.randn(n, 2)
        posterior.covariances[side] = factors @ np.swapaxes(factors, 1, 2)
    means, covariances = posterior.means, posterior.covariances
    # What the item update returns: sums over each item's users.
    indicator, weighted = posterior.sides[1]
    user_moments = means[0][:, :, None] * means[0][:, None, :] + covariances[0]
    item_side_sums = row_grams(indicator, user_moments), weighted @ means[0]
    expected = 0.0
    for user, item, target in zip(users, items, y - y.mean()):
        second_u = np.outer(means[0][user], means[0][user]) + covariances[0][user]
        second_v = np.outer(means[1][item], means[1][item]) + covariances[1][item]
        expected += target**2 - 2 * target * means[0][user] @ means[1][item] + np.trace(second_u @ second_v)
    assert posterior._expected_squared_error(1, *item_side_sums) == pytest.approx(expected, rel=1e-10)


def test_learned_noise_is_the_expected_squared_error():
    X, y = _toy(20, 15, 150, seed=6)
    model = _fit(X, y, n_components=2, max_iter=40)
    fixed = _fit(X, y, n_components=2, max_iter=40, noise_precision=4.0)
    assert fixed.noise_variance_ == pytest.approx(model.rating_std_**2 / 4.0)
    # The learned variance is at least the squared error of the posterior means (the posterior
    # spread only adds to it).
    residual = np.mean((model.global_mean_ + model.rating_std_ * np.einsum(
        "ik,ik->i", model.user_factors_[X[:, 0]], model.item_factors_[X[:, 1]]) - y) ** 2)
    assert model.noise_variance_ > residual


def test_predictive_std_adds_the_posterior_spread_to_the_noise():
    X, y = _toy(20, 15, 150, seed=7)
    model = _fit(X, y, n_components=2, max_iter=40)
    pairs = np.vstack([X[:5], [[-1, -2]]])
    predictions, std = model.predict(pairs, return_std=True)
    np.testing.assert_array_equal(predictions, model.predict(pairs))
    assert np.all(std[:5] > np.sqrt(model.noise_variance_))
    assert std[5] == pytest.approx(model.rating_std_)
    # Monte Carlo check of Var(u . v) for the first pair.
    rng = np.random.RandomState(0)
    user, item = X[0]
    u = rng.multivariate_normal(model.user_factors_[user], model.user_covariances_[user], size=200_000)
    v = rng.multivariate_normal(model.item_factors_[item], model.item_covariances_[item], size=200_000)
    sampled = model.rating_std_**2 * np.var(np.einsum("ik,ik->i", u, v)) + model.noise_variance_
    assert std[0] ** 2 == pytest.approx(sampled, rel=0.02)


def test_learns_low_rank_structure():
    X, y, _, truth = make_ratings(40, 30, density=0.5, rank=2, noise=0.3, random_state=8, return_truth=True)
    held = np.random.RandomState(8).rand(len(y)) < 0.2
    model = _fit(X[~held], y[~held], n_components=2)
    assert model.n_iter_ < model.max_iter  # converged by the stopping rule
    # Held-out R^2: 0.80 measured; the global mean scores 0 and the noiseless truth 0.84.
    assert model.score(X[held], y[held]) > 0.75


def test_fold_in_is_the_coordinate_ascent_update_of_new_users(low_rank_toy):
    X, y = low_rank_toy
    held = X[:, 0] >= 32
    model = VariationalBayesMFRegressor(n_components=3, random_state=0).fit(X[~held], y[~held])
    fallback = np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2))
    model.fold_in(X[held], y[held])
    assert np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2)) < 0.2 * fallback
    # At convergence a fitted user's posterior is a fixed point of the update.
    converged = VariationalBayesMFRegressor(n_components=3, random_state=0, tol=1e-9).fit(X, y)
    means = converged.user_factors_.copy()
    converged.fold_in(X[X[:, 0] == 3], y[X[:, 0] == 3])
    np.testing.assert_allclose(converged.user_factors_, means, atol=1e-4)
