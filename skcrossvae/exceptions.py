"""Exceptions and warnings raised by skcrossvae."""

__all__ = ["DivergenceError", "UnknownIdsWarning"]


class DivergenceError(FloatingPointError):
    """A fit produced a non-finite loss: the optimisation diverged.

    Raised instead of returning a model whose predictions are NaN or inf; lower the learning
    rate (or change the setting named in the message) and fit again.
    """


class UnknownIdsWarning(UserWarning):
    """Most of the pairs being scored have a user or an item the estimator did not see in fit.

    Issued by the scorers of :mod:`skcrossvae.metrics` (see
    :func:`skcrossvae.metrics.check_known_ids`) when more than half of the scored pairs have
    an unknown user or item. Those pairs get fallback predictions (a mean), so the score then
    mostly measures the fallback rather than the model. It typically comes from a split that
    puts whole users in the test part, such as ``KFold`` without shuffling on a table sorted
    by user; :class:`skcrossvae.model_selection.RatingKFold` keeps every test user and item
    in training.
    """
