"""BayesianMFRegressor: Bayesian probabilistic matrix factorisation by Gibbs sampling (BPMF)."""

import time
from numbers import Integral

import numpy as np
from scipy import stats
from sklearn.utils._param_validation import Interval

from .._training import record_history, run_iterations
from .._data import grown, weighted_root_mean_square
from ._common import BASE_ATTRIBUTE_DOCS
from ._conjugate import (
    ConjugateMFRegressor,
    gaussian_conditionals,
    row_grams,
    second_moments,
    side_matrices,
    unwhiten,
)

# Normal-Wishart hyper-prior of Salakhutdinov and Mnih (2008): mu_0 = 0, beta_0 = 2,
# W_0 = I and nu_0 = K (set from n_components).
_PRIOR_BETA = 2.0
# Gamma(shape, rate) prior of the noise precision when it is sampled: weak, so the data decide.
_NOISE_PRIOR = (1.0, 1.0)
# Scale of the random start of the factors; the sampler forgets it during burn-in.
_INIT_STD = 0.1


def _sample_hyperparameters(factors, rng):
    """Draw (mean, precision) of the factors' Gaussian prior from its Normal-Wishart posterior."""
    n_rows, k = factors.shape
    average = factors.mean(axis=0)
    centred = factors - average
    scatter = centred.T @ centred
    # mu_0 = 0 and W_0 = I: Eq. 14 of Salakhutdinov and Mnih (2008).
    inverse_scale = np.eye(k) + scatter + (_PRIOR_BETA * n_rows / (_PRIOR_BETA + n_rows)) * np.outer(average, average)
    scale = np.linalg.inv(inverse_scale)
    precision = stats.wishart.rvs(df=k + n_rows, scale=(scale + scale.T) / 2, random_state=rng)
    precision = np.atleast_2d(precision)
    beta = _PRIOR_BETA + n_rows
    mean = n_rows * average / beta
    lower = np.linalg.cholesky(beta * precision)
    return mean + np.linalg.solve(lower.T, rng.standard_normal(k)), precision


class _GibbsSampler:
    """The state of the BPMF chain on standardised ratings, advanced one sweep at a time."""

    def __init__(self, train, targets, n_components, noise_precision, rng):
        self.rng, self.fixed_noise = rng, noise_precision
        self.noise_precision = 1.0 if noise_precision is None else noise_precision
        self.users, self.items, self.targets, self.weights = train.users, train.items, targets, train.weights
        self.sides = side_matrices(train, targets)
        self.user_factors = rng.standard_normal((train.n_users, n_components)) * _INIT_STD
        self.item_factors = rng.standard_normal((train.n_items, n_components)) * _INIT_STD
        self.priors = [None, None]  # each side's (mean, precision) drawn in the last sweep

    def _resample(self, factors, other, side):
        indicator, weighted = self.sides[side]
        gram = row_grams(indicator, second_moments(other))
        prior_mean, prior_precision = self.priors[side] = _sample_hyperparameters(factors, self.rng)
        lower, whitened_mean = gaussian_conditionals(gram, weighted @ other, prior_mean, prior_precision,
                                                     self.noise_precision)
        return unwhiten(lower, whitened_mean + self.rng.standard_normal(whitened_mean.shape))

    def predict(self, users, items):
        """Standardised predictions of the current sample."""
        return np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])

    def sweep(self):
        """One Gibbs sweep; returns the standardised training predictions of the new sample."""
        self.user_factors = self._resample(self.user_factors, self.item_factors, 0)
        self.item_factors = self._resample(self.item_factors, self.user_factors, 1)
        predictions = self.predict(self.users, self.items)
        if self.fixed_noise is None:
            shape, rate = _NOISE_PRIOR
            squared = (self.targets - predictions) ** 2
            # A rating of weight w counts as w ratings in the likelihood.
            residual = np.sum(squared if self.weights is None else self.weights * squared)
            count = len(self.targets) if self.weights is None else self.weights.sum()
            self.noise_precision = self.rng.gamma(shape + count / 2, 1.0 / (rate + residual / 2))
        return predictions


class BayesianMFRegressor(ConjugateMFRegressor):
    __doc__ = f"""Bayesian probabilistic matrix factorisation by Gibbs sampling (Salakhutdinov and Mnih 2008).

    The conjugate Bayesian matrix factorisation that the cross-feedback VAE sets out to
    improve on. Ratings are Gaussian around ``u_i . v_j``; user and item factors have Gaussian
    priors whose means and precisions have Normal-Wishart hyper-priors. Gibbs sampling draws
    the hyper-parameters, then every user's factors, then every item's, from their conditional
    posteriors; predictions average ``u_i . v_j`` over the samples drawn after burn-in.

    Parameters
    ----------
    n_components : int, default=10
        Number of latent factors K.

    burn_in : int, default=20
        Gibbs sweeps run first and discarded (not counted in ``max_iter``).

    max_iter : int, default=500
        Maximum number of sweeps after burn-in; each one adds a sample to the average.

    noise_precision : float or None, default=None
        Precision of the rating noise on the standardised scale, ``(rating - global_mean_) /
        rating_std_``. None samples it too, from its Gamma posterior under a weak Gamma(1, 1)
        prior. Salakhutdinov and Mnih fix it at 2 on the 1-5 scale (about 2.5 standardised
        on MovieLens).

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the ratings (or watch ``fit``'s ``X_val``) and stop
        when the validation RMSE of the running average stops improving. Off by default: more samples never make a sampler
        overfit, they only refine the Monte Carlo average, and held-out ratings are information
        the posterior lacks. Without early stopping, sampling stops when the training RMSE of the
        running average has not improved by ``tol`` for ``n_iter_no_change`` sweeps, or at
        ``max_iter``.

    validation_fraction : float, default=0.1
        Share of the training ratings held out when ``early_stopping`` is True.

    n_iter_no_change : int, default=10
        Patience of the stopping rule, in sweeps.

    tol : float, default=1e-3
        Smallest improvement of the running average's RMSE that counts for the stopping rule.
        Coarser than the other estimators' 1e-4: the chain keeps drifting slowly, so the
        training RMSE of the average improves by ever smaller steps long after the
        predictions have stopped changing in any way that matters.

    handle_unknown : {{'mean', 'error'}}, default='mean'
        What ``predict`` and ``recommend`` do with ids unseen during ``fit``. ``'mean'`` predicts
        the global mean plus the damped mean deviation of the known side (the global mean alone
        when both are unknown) and never raises; ``'error'`` raises a ``ValueError`` naming the
        unknown ids.

    random_state : int, RandomState instance or None, default=None
        Seeds the validation split and the sampler. The global numpy seed is never touched.

    verbose : int, default=0
        1 shows a progress bar of the sweeps (tqdm); 2 and more print one line per sweep instead.

    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}
    user_samples_, item_samples_ : ndarray of shape (n_users, n_samples, K), (n_items, n_samples, K)
        The factor samples averaged by ``predict`` (float32), in the standardised model.
    user_prior_means_, user_prior_precisions_, item_prior_means_, item_prior_precisions_ : ndarray
        The Gaussian priors drawn with each sample, and ``sample_noise_variances_`` its noise
        variance (standardised): what ``fold_in`` conditions on.
    noise_variance_ : float
        Posterior mean of the rating noise variance, in squared rating units.

    See Also
    --------
    BiasedMFRegressor : Point estimates of a similar model by minibatch optimisation.

    Notes
    -----
    The sampler works on standardised ratings with the hyper-prior of Salakhutdinov and Mnih:
    ``mu_0 = 0``, ``beta_0 = 2``, ``W_0 = I``, ``nu_0 = K``. Each half-sweep is vectorised: the
    users' sums of outer products of their rated items' factors are one sparse × dense product,
    and the users' conditional Gaussians are drawn with batched Cholesky factorisations; no
    Python loop visits users or ratings.

    Sampling needs ``max_iter × (n_users_ + n_items_) × K`` floats to keep the samples. A
    prediction is ``global_mean_ + rating_std_ × mean_s(u_s . v_s)``, clipped to
    ``rating_range_``; ``predict(X, return_std=True)`` also returns the standard deviation of
    ``rating_std_ × u_s . v_s`` over the samples combined with ``noise_variance_``.

    References
    ----------
    Salakhutdinov, R. and Mnih, A. (2008). Bayesian probabilistic matrix factorization using
    Markov chain Monte Carlo. In Proceedings of ICML 2008, 880-887.

    Examples
    --------
    >>> from skcrossvae.baselines import BayesianMFRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = BayesianMFRegressor(burn_in=5, max_iter=20, random_state=0).fit(X, y)
    >>> y_pred, y_std = model.predict(X[:3], return_std=True)
    >>> y_pred.shape, y_std.shape
    ((3,), (3,))
    """

    _parameter_constraints: dict = {
        **ConjugateMFRegressor._parameter_constraints,
        "burn_in": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=10,
        burn_in=20,
        max_iter=500,
        noise_precision=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-3,
        handle_unknown="mean",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.burn_in = burn_in
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
        name = type(self).__name__
        targets = (train.values - self.global_mean_) / self.rating_std_
        sampler = _GibbsSampler(train, targets, self.n_components, self.noise_precision, rng)
        started = time.perf_counter()
        for sweep in range(1, self.burn_in + 1):
            predictions = sampler.sweep()
            if self.verbose >= 2:
                fit = weighted_root_mean_square(predictions - targets, train.weights) * self.rating_std_
                print(f"[{name}] burn-in sweep {sweep}/{self.burn_in}: training RMSE {fit:.4f}, "
                      f"elapsed {time.perf_counter() - started:.1f}s", flush=True)

        user_samples, item_samples, noise_variances, priors = [], [], [], []
        # Running sums of the standardised predictions: the average is the model's prediction.
        sums = {"train": np.zeros(len(train)), "valid": np.zeros(0 if valid is None else len(valid))}

        def averaged(part, table):
            average = self.global_mean_ + self.rating_std_ * sums[part] / len(user_samples)
            return weighted_root_mean_square(np.clip(average, *self.rating_range_) - table.values, table.weights)

        def add_sample():
            sums["train"] += sampler.sweep()
            user_samples.append(sampler.user_factors.astype(np.float32))
            item_samples.append(sampler.item_factors.astype(np.float32))
            noise_variances.append(1.0 / sampler.noise_precision)
            priors.append(list(sampler.priors))
            if valid is not None:
                sums["valid"] += sampler.predict(valid.users, valid.items)
            return averaged("train", train)

        def keep_first(n_samples):
            del user_samples[n_samples:], item_samples[n_samples:], noise_variances[n_samples:], priors[n_samples:]

        history = run_iterations(
            self, add_sample, lambda: averaged("valid", valid), lambda: len(user_samples), keep_first,
            max_iter=self.max_iter, early_stopping=valid is not None,
        )
        record_history(self, history)
        self._store_samples(user_samples, item_samples, noise_variances, priors)

    def _store_samples(self, user_samples, item_samples, noise_variances, priors):
        self.user_samples_ = np.stack(user_samples, axis=1)
        self.item_samples_ = np.stack(item_samples, axis=1)
        self.sample_noise_variances_ = np.array(noise_variances)
        self.noise_variance_ = float(np.mean(noise_variances)) * self.rating_std_**2
        for position, side in enumerate(("user", "item")):
            setattr(self, f"{side}_prior_means_", np.stack([prior[position][0] for prior in priors]))
            setattr(self, f"{side}_prior_precisions_", np.stack([prior[position][1] for prior in priors]))

    def _fold_in_rows(self, ratings, users, items):
        """For every stored sample, a folded-in row's factors are the mean of its Gibbs
        conditional given that sample (the other side's factors of ``fit``, the prior and the
        noise precision drawn with them), over its ratings of the other side's ids of ``fit``:
        the mean rather than a draw, so that a fold-in is deterministic."""
        for side, other_side, codes, size, used, indicator, weighted in self._fold_in_sides(ratings, users, items):
            other_samples = getattr(self, f"{other_side}_samples_")[used].astype(np.float64)
            samples = np.empty((len(codes), *other_samples.shape[1:]), dtype=np.float32)
            for s, (mean, precision, noise) in enumerate(zip(
                    getattr(self, f"{side}_prior_means_"), getattr(self, f"{side}_prior_precisions_"),
                    self.sample_noise_variances_)):
                other = other_samples[:, s]
                lower, whitened = gaussian_conditionals(row_grams(indicator, second_moments(other)),
                                                        weighted @ other, mean, precision, 1.0 / noise)
                samples[:, s] = unwhiten(lower, whitened)
            setattr(self, f"{side}_samples_", grown(getattr(self, f"{side}_samples_"), size, codes, samples))

    def _sample_products(self, users, items):
        """``u_s . v_s`` of every pair (rows) and sample (columns), standardised."""
        return np.einsum("isk,isk->is", self.user_samples_[users], self.item_samples_[items], dtype=np.float64)

    def _predict_codes(self, users, items, return_std=False):
        products = self._sample_products(users, items)
        predictions = np.clip(self.global_mean_ + self.rating_std_ * products.mean(axis=1), *self.rating_range_)
        if not return_std:
            return predictions
        variance = self.rating_std_**2 * products.var(axis=1) + self.noise_variance_
        return predictions, np.sqrt(variance)

    def _score_items(self, users, items):
        # Averaging u_s . v_s over samples is one product of the samples laid side by side.
        n_samples, k = self.user_samples_.shape[1:]
        user_block = self.user_samples_[users].reshape(len(users), n_samples * k).astype(np.float64)
        item_block = self.item_samples_[items].reshape(len(items), n_samples * k).astype(np.float64)
        return self.global_mean_ + self.rating_std_ * (user_block @ item_block.T) / n_samples

    def _factors(self, side):
        # The posterior mean of each row's factors (the samples' average).
        return getattr(self, f"{side}_samples_").mean(axis=1, dtype=np.float64)
