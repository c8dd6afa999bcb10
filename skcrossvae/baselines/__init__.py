"""Baselines: the paper's six comparison models and three classic matrix factorisations.

Every estimator shares :class:`CrossFeedbackVAERegressor`'s interface (fit on (user, item) pairs
and ratings, ``predict``, ``score``, ``recommend``, the unknown-id policy, early stopping,
``random_state``, ``save`` and :func:`skcrossvae.load`) and trains on the squared error.

The paper's baselines (Section 4.3):

- :class:`NCFRegressor`: NCF (NeuMF, He et al. 2017);
- :class:`ConvNCFRegressor`: CNN-CF (ConvNCF, He et al. 2018);
- :class:`AutoRecRegressor`: U-Rec (``side='user'``) and I-Rec (``side='item'``) (Sedhain et al. 2015);
- :class:`MultDAERegressor`, :class:`MultVAERegressor`: DAE-CF and VAE-CF (Liang et al. 2018);

with their Table 2 search ranges from :func:`paper_baseline_grid`. Classic models:

- :class:`BiasedMFRegressor`: matrix factorisation with biases (Koren et al. 2009);
- :class:`BayesianMFRegressor`: Bayesian PMF by Gibbs sampling (Salakhutdinov and Mnih 2008);
- :class:`VariationalBayesMFRegressor`: the same model by closed-form variational Bayes (Lim and
  Teh 2007), the conjugate variational inference the paper's encoders replace (its Section 2.2).
"""

from ._autorec import AutoRecRegressor
from ._biased_mf import BiasedMFRegressor
from ._bpmf import BayesianMFRegressor
from ._convncf import ConvNCFRegressor
from ._grids import PAPER_BASELINES, paper_baseline_grid
from ._liang import MultDAERegressor, MultVAERegressor
from ._ncf import NCFRegressor
from ._vbmf import VariationalBayesMFRegressor

__all__ = [
    "PAPER_BASELINES",
    "AutoRecRegressor",
    "BayesianMFRegressor",
    "BiasedMFRegressor",
    "ConvNCFRegressor",
    "MultDAERegressor",
    "MultVAERegressor",
    "NCFRegressor",
    "VariationalBayesMFRegressor",
    "paper_baseline_grid",
]
