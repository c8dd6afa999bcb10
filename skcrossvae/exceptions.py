"""Exceptions and warnings raised by skcrossvae."""


class DivergenceError(FloatingPointError):
    """A fit produced a non-finite loss: the optimisation diverged.

    Raised instead of returning a model whose predictions are NaN or inf; lower the learning
    rate (or change the setting named in the message) and fit again.
    """
