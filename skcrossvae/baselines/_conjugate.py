"""What the conjugate matrix factorisations share.

Gibbs sampling (:class:`BayesianMFRegressor`) and variational Bayes
(:class:`VariationalBayesMFRegressor`) visit the same Gaussian conditional of each row's factors:
its precision is the prior's plus the noise precision times the sum of the second moments of the
other side's rated rows. Both compute those sums with one sparse product and the conditionals with
batched Cholesky factorisations; no Python loop visits users or ratings.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval

from .._base import BaseRatingEstimator


def side_matrices(train, targets):
    """The (observed indicator, target-weighted) CSR matrices of the user side and of the item side.

    Row ``i`` of a side's matrices holds the other side's rated rows: ones (the sample weights,
    when the ratings have them), and the targets (times their weights).
    """
    weights = np.ones(len(train)) if train.weights is None else train.weights
    indicator = train.to_csr(weights)
    weighted = train.to_csr(targets if train.weights is None else weights * targets)
    return (indicator, weighted), (indicator.T.tocsr(), weighted.T.tocsr())


def second_moments(means, covariances=None):
    """``E[x x^T]`` of every row: the outer product of its mean, plus its covariance if it has one
    (a Gibbs sample is a point: no covariance)."""
    outer = means[:, :, None] * means[:, None, :]
    return outer if covariances is None else outer + covariances


def row_grams(indicator, moments):
    """Every row's sum of the ``(K, K)`` second moments of the other side's rows it rated."""
    n_other, k, _ = moments.shape
    return (indicator @ moments.reshape(n_other, k * k)).reshape(-1, k, k)


def gaussian_conditionals(gram, weighted_sums, prior_mean, prior_precision, noise_precision):
    """Cholesky factors and whitened means of every row's Gaussian conditional.

    Row ``i`` has precision ``P_i = prior_precision + noise_precision * gram_i`` and mean
    ``P_i^-1 b_i`` with ``b_i = noise_precision * weighted_sums_i + prior_precision @ prior_mean``.
    With ``P_i = L_i L_i^T`` this returns ``L_i`` and ``L_i^-1 b_i``: the mean is
    :func:`unwhiten` of the whitened mean, a draw is :func:`unwhiten` of it plus standard noise.
    """
    precisions = prior_precision + noise_precision * gram
    lower = np.linalg.cholesky(precisions)
    rhs = noise_precision * weighted_sums + prior_precision @ prior_mean
    return lower, np.linalg.solve(lower, rhs[:, :, None])[:, :, 0]


def unwhiten(lower, vectors):
    """``L_i^-T v_i`` for every row, one batched solve."""
    return np.linalg.solve(np.swapaxes(lower, 1, 2), vectors[:, :, None])[:, :, 0]


class ConjugateMFRegressor(BaseRatingEstimator):
    """What :class:`BayesianMFRegressor` and :class:`VariationalBayesMFRegressor` share beyond the
    base: the constraints of their common parameters and ``predict`` with a predictive spread."""

    _divergence_advice = "Fix noise_precision (for example at 2.5), or lower n_components"

    _parameter_constraints: dict = {
        **BaseRatingEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "noise_precision": [Interval(Real, 0, None, closed="neither"), None],
    }

    def _fold_in_sides(self, ratings, users, items):
        """Per side, what a conjugate fold-in reads: ``(side, other side, codes, size, used,
        indicator, weighted)``, ``used`` the other side's rated rows of ``fit`` and the two CSR
        matrices of :func:`side_matrices` over them (rows: ``codes``; targets standardised)."""
        for side, codes, rows, others, values in self._fold_in_reads(ratings, users, items):
            targets = (values - self.global_mean_) / self.rating_std_
            used, columns = np.unique(others, return_inverse=True)
            shape = (len(codes), len(used))
            indicator = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)
            weighted = sp.csr_matrix((targets, (rows, columns)), shape=shape)
            other_side, size = ("item", self.n_users_) if side == "user" else ("user", self.n_items_)
            yield side, other_side, codes, size, used, indicator, weighted

    def predict(self, X, return_std=False):
        """Predict ratings, optionally with the posterior predictive standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2)
            User ids in the first column, item ids in the second.
        return_std : bool, default=False
            Also return the predictive standard deviation: the posterior spread of ``u . v``
            (over the samples, or under the variational posteriors; in rating units) combined
            with ``noise_variance_``. Pairs with an unknown id get the training ratings'
            standard deviation.

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,)
            Posterior mean predictions, clipped to ``rating_range_``.
        y_std : ndarray of shape (n_pairs,)
            Only with ``return_std=True``.
        """
        return self._predict(X, return_std=return_std)
