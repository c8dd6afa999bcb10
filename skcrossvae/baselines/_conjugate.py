"""What the conjugate matrix factorisations share.

Gibbs sampling (:class:`BayesianMFRegressor`) and variational Bayes
(:class:`VariationalBayesMFRegressor`) visit the same Gaussian conditional of each row's factors:
its precision is the prior's plus the noise precision times the sum of the second moments of the
other side's rated rows. Both compute those sums with one sparse product and the conditionals with
batched Cholesky factorisations; no Python loop visits users or ratings.
"""

import numpy as np


def side_matrices(train, targets):
    """The (observed indicator, target-weighted) CSR matrices of the user side and of the item side.

    Row ``i`` of a side's matrices holds the other side's rated rows: ones, and the targets.
    """
    indicator = train.to_csr(np.ones(len(train)))
    weighted = train.to_csr(targets)
    return (indicator, weighted), (indicator.T.tocsr(), weighted.T.tocsr())


def row_grams(indicator, second_moments):
    """Every row's sum of the ``(K, K)`` second moments of the other side's rows it rated."""
    n_other, k, _ = second_moments.shape
    return (indicator @ second_moments.reshape(n_other, k * k)).reshape(-1, k, k)


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
