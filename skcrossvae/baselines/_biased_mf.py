"""BiasedMFRegressor: matrix factorisation with user and item biases (Koren et al. 2009)."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp

from sklearn.utils._param_validation import Interval

from .._base import shared_parameter_docs
from ._conjugate import row_grams, second_moments
from ._common import (
    BASE_ATTRIBUTE_DOCS,
    TORCH_ATTRIBUTE_DOCS,
    TORCH_PARAMETER_DOCS,
    PairBaseline,
)

# Initial factor scale on the standardised rating scale: small enough that the biases are
# learned first, large enough that the factors leave the saddle point at zero.
_INIT_STD = 0.1


class BiasedMFRegressor(PairBaseline):
    __doc__ = f"""Matrix factorisation with user and item biases (Koren, Bell and Volinsky 2009).

    A rating is predicted as ``mu + b_u + b_i + p_u . q_i``. Training minimises the squared
    error with an L2 penalty on the biases and factors each rating uses, by minibatch Adam over
    shuffled ratings (the "SVD" model of the Netflix prize, trained as usual with SGD).

    Parameters
    ----------
    n_components : int, default=50
        Number of latent factors K.

    alpha : float, default=0.1
        L2 penalty. The objective per rating is the squared error on the standardised scale,
        ``(rating - global_mean_) / rating_std_``, plus ``alpha`` times the squared norms of
        the rating's user and item factors and biases.

    batch_size : int, default=256
        Ratings per Adam step.

    learning_rate : float, default=3e-3
        Adam's step size.

    max_iter : int, default=100
        Maximum number of epochs (passes over the training ratings).
    {shared_parameter_docs()}{TORCH_PARAMETER_DOCS}
    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}{TORCH_ATTRIBUTE_DOCS}
    See Also
    --------
    BayesianMFRegressor : The same model with Bayesian inference by Gibbs sampling.

    Notes
    -----
    The model works on the standardised scale, so ``alpha`` means the same on every rating
    scale. Predictions ``global_mean_ + rating_std_ * (b_u + b_i + p_u . q_i)`` are clipped to
    ``rating_range_``.

    References
    ----------
    Koren, Y., Bell, R. and Volinsky, C. (2009). Matrix factorization techniques for
    recommender systems. Computer, 42(8), 30-37.

    Examples
    --------
    >>> from skcrossvae.baselines import BiasedMFRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = BiasedMFRegressor(max_iter=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **PairBaseline._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=50,
        alpha=0.1,
        batch_size=256,
        learning_rate=3e-3,
        max_iter=100,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        handle_unknown="mean",
        random_state=None,
        verbose=0,
        device="auto",
        warm_start=False,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.warm_start = warm_start

    def _factors(self, side):
        return self._tables(side)[0]

    def _tables(self, side):
        """The (factors, biases) of one side as float64 numpy arrays."""
        return tuple(t.detach().cpu().double().numpy() for t in getattr(self.module_, f"{side}_tables"))

    def _fold_in_rows(self, ratings, users, items):
        """Each folded-in row's factors and bias minimise the training objective with the other
        side fixed: ridge regression on the row's ratings of the other side's ids of ``fit``,
        with the penalty ``alpha`` times the number of those ratings (each rating pays for the
        row's norm). A row with no such rating gets zeros."""
        from .._torch._baseline_modules import with_rows

        fitted_tables = {side: self._tables(side) for side in ("user", "item")}
        for side, codes, rows, others, values in self._fold_in_reads(ratings, users, items):
            other_side = "item" if side == "user" else "user"
            size = self.n_users_ if side == "user" else self.n_items_
            # Only the other side's rows that are rated enter: their design [factors, 1].
            used, columns = np.unique(others, return_inverse=True)
            entries = (rows, columns)
            indicator = sp.csr_matrix((np.ones(len(columns)), entries), shape=(len(codes), len(used)))
            other_factors, other_biases = fitted_tables[other_side]
            residuals = (values - self.global_mean_) / self.rating_std_ - other_biases[others]
            design = np.hstack([other_factors[used], np.ones((len(used), 1))])
            k = design.shape[1]
            counts = np.asarray(indicator.sum(axis=1)).ravel()
            grams = row_grams(indicator, second_moments(design)) + self.alpha * counts[:, None, None] * np.eye(k)
            right = sp.csr_matrix((residuals, entries), shape=indicator.shape) @ design
            solution = np.zeros((len(codes), k))  # a row with no rating to read stays at 0
            regular = (counts > 0) & (self.alpha > 0)  # positive definite
            solution[regular] = np.linalg.solve(grams[regular], right[regular, :, None])[:, :, 0]
            unpenalised = (counts > 0) & ~regular  # alpha=0: the least-norm solution
            solution[unpenalised] = (np.linalg.pinv(grams[unpenalised]) @ right[unpenalised, :, None])[:, :, 0]
            self.module_ = with_rows(self.module_, side, size, codes, solution[:, :-1], solution[:, -1])

    def _make_module(self, generator, device):
        from .._torch._baseline_modules import BiasedMF

        return BiasedMF(self.n_users_, self.n_items_, self.n_components, _INIT_STD, generator, device)
