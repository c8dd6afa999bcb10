"""skcrossvae: cross-feedback VAE Bayesian matrix factorization as scikit-learn estimators.

The main estimator is :class:`CrossFeedbackVAERegressor`; baselines live in
:mod:`skcrossvae.baselines`, data loaders in :mod:`skcrossvae.datasets`, ranking metrics and
scorers in :mod:`skcrossvae.metrics`.
"""

from ._crossvae import PAPER_PARAMS, CrossFeedbackVAERegressor
from ._persistence import load
from .exceptions import DivergenceError

__version__ = "0.1.0.dev0"

__all__ = ["PAPER_PARAMS", "CrossFeedbackVAERegressor", "DivergenceError", "load", "__version__"]
