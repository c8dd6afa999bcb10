"""VariationalBayesMFRegressor: Bayesian matrix factorisation by closed-form variational inference."""

import numpy as np

from .._base import shared_parameter_docs
from .._data import grown
from .._training import record_history, run_iterations
from ._common import BASE_ATTRIBUTE_DOCS
from ._conjugate import (
    ConjugateMFRegressor,
    gaussian_conditionals,
    row_grams,
    second_moments,
    side_matrices,
    unwhiten,
)

# The posteriors start at N(m, I) with small random means m: the identity is the scale of a prior
# on standardised ratings, and a smaller start (0.01 I) makes the first empirical-Bayes prior so
# narrow that every factor shrinks to zero and the fit stalls there.
_INIT_STD = 0.1


def _fit_prior(means, covariances):
    """The Gaussian prior that maximises the ELBO given the rows' posteriors (empirical Bayes):
    the mean and the covariance of the posteriors' mixture."""
    mean = means.mean(axis=0)
    covariance = second_moments(means, covariances).mean(axis=0) - np.outer(mean, mean)
    return mean, (covariance + covariance.T) / 2


def _kl_to_prior(means, covariances, log_det_covariances, prior_mean, prior_covariance):
    """Sum over rows of ``KL(N(means_i, covariances_i) || N(prior_mean, prior_covariance))``."""
    k = means.shape[1]
    precision = np.linalg.inv(prior_covariance)
    centred = means - prior_mean
    trace = np.einsum("kl,ilk->", precision, covariances)
    quadratic = np.einsum("ik,kl,il->", centred, precision, centred)
    log_det_prior = np.linalg.slogdet(prior_covariance)[1]
    return 0.5 * (trace + quadratic - len(means) * (k - log_det_prior) - log_det_covariances.sum())


class _VariationalPosterior:
    """Gaussian posteriors of every user's and item's factors, improved one sweep at a time.

    Each sweep is coordinate ascent on the ELBO: the users' prior (empirical Bayes), every user's
    posterior, the items' prior, every item's posterior, then the noise precision; each step
    maximises the ELBO over its block exactly, so the ELBO never decreases.
    """

    def __init__(self, train, targets, n_components, noise_precision, rng):
        self.fixed_noise = noise_precision
        self.noise_precision = 1.0 if noise_precision is None else noise_precision
        # With sample weights, a rating of weight w counts as w ratings in the likelihood.
        self.weighted_square_sum = float(np.sum(targets**2 if train.weights is None else train.weights * targets**2))
        self.total_weight = train.total_weight
        self.sides = side_matrices(train, targets)
        self.means = [rng.standard_normal((n, n_components)) * _INIT_STD for n in (train.n_users, train.n_items)]
        self.covariances = [np.tile(np.eye(n_components), (n, 1, 1)) for n in (train.n_users, train.n_items)]
        self.log_det_covariances = [np.zeros(n) for n in (train.n_users, train.n_items)]
        self.priors = [None, None]  # each side's (mean, covariance), fitted at the start of its update

    def _update_side(self, side):
        """Fit the side's prior, then update every row's posterior; returns the sums the update
        read (``row_grams`` of the other side's second moments and ``weighted @ other means``)."""
        other = 1 - side
        self.priors[side] = prior_mean, prior_covariance = _fit_prior(self.means[side], self.covariances[side])
        indicator, weighted = self.sides[side]
        gram = row_grams(indicator, second_moments(self.means[other], self.covariances[other]))
        weighted_sums = weighted @ self.means[other]
        lower, whitened_mean = gaussian_conditionals(gram, weighted_sums, prior_mean,
                                                     np.linalg.inv(prior_covariance), self.noise_precision)
        self.means[side] = unwhiten(lower, whitened_mean)
        inverse_lower = np.linalg.inv(lower)
        self.covariances[side] = np.swapaxes(inverse_lower, 1, 2) @ inverse_lower
        self.log_det_covariances[side] = -2.0 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=1)
        return gram, weighted_sums

    def _expected_squared_error(self, side, gram, weighted_sums):
        """``sum w E_q[(t - u . v)^2]`` over the training ratings, from one side's rows and the sums
        over the other side that :meth:`_update_side` returned for it."""
        moments = second_moments(self.means[side], self.covariances[side])
        cross = np.einsum("ik,ik->", self.means[side], weighted_sums)
        return self.weighted_square_sum - 2.0 * cross + np.einsum("ikl,ikl->", moments, gram)

    def sweep(self):
        """One sweep; returns the negative ELBO per rating (standardised ratings)."""
        self._update_side(0)
        # The items are updated last, against the final users: their sums give the squared error.
        squared_error = self._expected_squared_error(1, *self._update_side(1))
        n_ratings = self.total_weight
        if self.fixed_noise is None:
            self.noise_precision = n_ratings / squared_error
        expected_log_likelihood = 0.5 * (n_ratings * (np.log(self.noise_precision) - np.log(2 * np.pi))
                                         - self.noise_precision * squared_error)
        kl = sum(_kl_to_prior(self.means[side], self.covariances[side], self.log_det_covariances[side],
                              *self.priors[side]) for side in (0, 1))
        return (kl - expected_log_likelihood) / n_ratings

    def get_state(self):
        return ([m.copy() for m in self.means], [c.copy() for c in self.covariances],
                [d.copy() for d in self.log_det_covariances], list(self.priors), self.noise_precision)

    def set_state(self, state):
        self.means, self.covariances, self.log_det_covariances, self.priors, self.noise_precision = state


class VariationalBayesMFRegressor(ConjugateMFRegressor):
    __doc__ = f"""Bayesian matrix factorisation by closed-form variational inference (VB-MF).

    The conjugate variational Bayes that the paper's encoders replace (Section 2.2): the model of
    :class:`BayesianMFRegressor` (ratings Gaussian around ``u_i . v_j``, Gaussian priors on the
    factors), with the posterior approximated by independent Gaussians ``q(u_i) q(v_j)``, each
    with a full ``K × K`` covariance, found by coordinate ascent on the ELBO. The prior's mean
    and covariance and the noise precision are set to the values that maximise the ELBO
    (empirical Bayes) at every sweep. Deterministic given the start, and no sampling: every
    sweep updates every user's and item's posterior in closed form.

    Parameters
    ----------
    n_components : int, default=10
        Number of latent factors K.

    max_iter : int, default=500
        Maximum number of sweeps (one update of every user's and item's posterior each).

    noise_precision : float or None, default=None
        Precision of the rating noise on the standardised scale, ``(rating - global_mean_) /
        rating_std_``. None sets it at every sweep to the value that maximises the ELBO, one
        over the expected squared error per rating.
    {shared_parameter_docs(early_stopping=False)}
    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}
    user_factors_, item_factors_ : ndarray of shape (n_users, K), (n_items, K)
        Posterior means of the factors, in the standardised model.
    user_covariances_, item_covariances_ : ndarray of shape (n_users, K, K), (n_items, K, K)
        Posterior covariances of the factors.
    user_prior_mean_, item_prior_mean_ : ndarray of shape (K,)
    user_prior_covariance_, item_prior_covariance_ : ndarray of shape (K, K)
        The empirical-Bayes priors of the last sweep.
    noise_variance_ : float
        The rating noise variance of the last sweep, in squared rating units.

    See Also
    --------
    BayesianMFRegressor : The same model with Bayesian inference by Gibbs sampling.
    skcrossvae.CrossFeedbackVAERegressor : Amortised variational inference by encoders.

    Notes
    -----
    ``loss_curve_`` holds the negative ELBO per rating (standardised ratings, constants included)
    after each sweep. Every step of a sweep maximises the ELBO exactly over its block (the users'
    prior, the users' posteriors, the items' prior, the items' posteriors, the noise precision),
    so the curve never rises; early stopping is off by default because the fit is then
    stopped by convergence, and held-out ratings are information the posterior lacks.

    A row's posterior precision is ``Lambda + tau * sum_j E[v_j v_j^T]`` over the rows it rated,
    with the mean ``precision^-1 (tau * sum_j t_ij E[v_j] + Lambda mu)``: the update of Lim and
    Teh (2007) with a full covariance per row and a learned prior mean and full covariance, the
    point-estimate counterpart of Bayesian MF's Normal-Wishart hyper-prior. A prediction is
    ``global_mean_ + rating_std_ × E[u_i] . E[v_j]``, clipped to ``rating_range_``;
    ``predict(X, return_std=True)`` adds the posterior variance of ``u_i . v_j`` (independent
    Gaussians) to ``noise_variance_``.

    References
    ----------
    Lim, Y. J. and Teh, Y. W. (2007). Variational Bayesian approach to movie rating prediction.
    In Proceedings of KDD Cup and Workshop 2007.

    Nakajima, S. and Sugiyama, M. (2011). Theoretical analysis of Bayesian matrix factorization.
    Journal of Machine Learning Research, 12, 2583-2648.

    Examples
    --------
    >>> from skcrossvae.baselines import VariationalBayesMFRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = VariationalBayesMFRegressor(n_components=3, random_state=0).fit(X, y)
    >>> bool(all(a >= b for a, b in zip(model.loss_curve_, model.loss_curve_[1:])))
    True
    """

    def __init__(
        self,
        n_components=10,
        max_iter=500,
        noise_precision=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        handle_unknown="mean",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.max_iter = max_iter
        self.noise_precision = noise_precision
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.verbose = verbose

    def _fit_ratings(self, train, valid, rng, incremental):
        targets = (train.values - self.global_mean_) / self.rating_std_
        posterior = _VariationalPosterior(train, targets, self.n_components, self.noise_precision, rng)

        def validation_rmse():
            self._store(posterior)
            return self._rmse(valid)

        history = run_iterations(
            self, posterior.sweep, validation_rmse, posterior.get_state, posterior.set_state,
            max_iter=self.max_iter, early_stopping=valid is not None,
        )
        record_history(self, history)
        self._store(posterior)

    def _store(self, posterior):
        self.user_factors_, self.item_factors_ = posterior.means
        self.user_covariances_, self.item_covariances_ = posterior.covariances
        (self.user_prior_mean_, self.user_prior_covariance_), (self.item_prior_mean_, self.item_prior_covariance_) = (
            posterior.priors
        )
        self.noise_variance_ = float(self.rating_std_**2 / posterior.noise_precision)

    def _predict_codes(self, users, items, return_std=False):
        mean_u, mean_v = self.user_factors_[users], self.item_factors_[items]
        products = np.einsum("ik,ik->i", mean_u, mean_v)
        predictions = np.clip(self.global_mean_ + self.rating_std_ * products, *self.rating_range_)
        if not return_std:
            return predictions
        cov_u, cov_v = self.user_covariances_[users], self.item_covariances_[items]
        # Var(u . v) for independent Gaussians u and v.
        variance = (np.einsum("ik,ikl,il->i", mean_u, cov_v, mean_u) + np.einsum("ik,ikl,il->i", mean_v, cov_u, mean_v)
                    + np.einsum("ikl,ilk->i", cov_u, cov_v))
        return predictions, np.sqrt(self.rating_std_**2 * variance + self.noise_variance_)

    def _score_items(self, users, items):
        return self.global_mean_ + self.rating_std_ * (self.user_factors_[users] @ self.item_factors_[items].T)

    def _factors(self, side):
        return getattr(self, f"{side}_factors_")

    def _fold_in_rows(self, ratings, users, items):
        """Each folded-in row's posterior is the update of a sweep: the row's Gaussian
        conditional given the other side's posteriors, the fitted prior and noise precision,
        over its ratings of the other side's ids of ``fit`` (so the order of calls does not
        matter). A user of ``fit`` folded in again gets the next coordinate-ascent step."""
        noise_precision = self.rating_std_**2 / self.noise_variance_
        for side, other_side, codes, size, used, indicator, weighted in self._fold_in_sides(ratings, users, items):
            other_means = getattr(self, f"{other_side}_factors_")[used]
            other_covariances = getattr(self, f"{other_side}_covariances_")[used]
            gram = row_grams(indicator, second_moments(other_means, other_covariances))
            prior_precision = np.linalg.inv(getattr(self, f"{side}_prior_covariance_"))
            lower, whitened = gaussian_conditionals(gram, weighted @ other_means, getattr(self, f"{side}_prior_mean_"),
                                                    prior_precision, noise_precision)
            inverse_lower = np.linalg.inv(lower)
            for name, posterior in (("factors_", unwhiten(lower, whitened)),
                                    ("covariances_", np.swapaxes(inverse_lower, 1, 2) @ inverse_lower)):
                setattr(self, f"{side}_{name}", grown(getattr(self, f"{side}_{name}"), size, codes, posterior))
