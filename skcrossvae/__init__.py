"""skcrossvae: cross-feedback VAE Bayesian matrix factorization as scikit-learn estimators."""

__version__ = "0.1.0.dev0"
