"""MultDAERegressor and MultVAERegressor: the paper's DAE-CF and VAE-CF (Liang et al. 2018)."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._base import check_layer_sizes, shared_parameter_docs
from ._common import (
    BASE_ATTRIBUTE_DOCS,
    ROW_INPUT_NOTES,
    TORCH_ATTRIBUTE_DOCS,
    TORCH_PARAMETER_DOCS,
    RowAutoencoderBaseline,
)

_STRUCTURE_DOCS = """
    n_components : int, default={n_components}
        Dimension of the user code (the latent dimension of Liang et al.).

    hidden_layer_sizes : tuple of int, default={hidden_layer_sizes}
        Widths of the hidden layers between the input and the code; the decoder mirrors them
        (Liang et al. use (600,) before a 200-dimensional code).

    dropout : float, default=0.5
        Share of each user's input ratings dropped during training (Liang et al.'s input
        dropout; the kept ones are rescaled).
"""

_ROW_ATTRIBUTE_DOCS = """    row_codes_ : ndarray of shape (n_users, width)
        Each user's last decoder layer (the input of the output layer), computed from all the
        ratings given to ``fit``.
"""

_MODEL_NOTES = """
    The multinomial likelihood over clicks is replaced by the squared error on the observed
    ratings, as in the paper; the rest follows Liang et al.: tanh activations and input dropout
    after the input scaling below.
""" + ROW_INPUT_NOTES + """
    The network predicts the standardised rating; predictions ``global_mean_ + rating_std_ *
    output`` are clipped to ``rating_range_``.
"""


class _LiangAutoencoder(RowAutoencoderBaseline):
    """User autoencoders of Liang et al. with the squared error on the standardised scale."""

    _parameter_constraints: dict = {
        **RowAutoencoderBaseline._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    _variational = False

    def _make_module(self, generator, device):
        from .._torch._baseline_modules import RowAutoencoder

        hidden = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        return RowAutoencoder(self.fit_sizes_[1], hidden, self.n_components, activation="tanh",
                              variational=self._variational, input_dropout=self.dropout,
                              generator=generator, device=device)

    def _link(self, outputs):
        return outputs  # the standardised rating


class MultDAERegressor(_LiangAutoencoder):
    __doc__ = f"""Denoising autoencoder for collaborative filtering (Mult-DAE; Liang et al. 2018).

    The paper's DAE-CF baseline: each user's ratings, with a random share dropped, are encoded
    to a code and decoded to all items; the loss is the squared error on the observed ratings
    plus weight decay. Training is minibatch Adam over shuffled users.

    Parameters
    ----------{_STRUCTURE_DOCS.format(n_components=200, hidden_layer_sizes="()")}
    alpha : float, default=10.0
        Weight decay: the objective is the sum over training ratings of the squared error on
        the standardised scale plus ``alpha`` times the sum of the squared weights, divided by
        the number of training ratings.

    batch_size : int, default=32
        Users per Adam step.

    learning_rate : float, default=1e-3
        Adam's step size.

    max_iter : int, default=200
        Maximum number of epochs (passes over the users).
    {shared_parameter_docs()}{TORCH_PARAMETER_DOCS}
    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}{TORCH_ATTRIBUTE_DOCS}{_ROW_ATTRIBUTE_DOCS}
    See Also
    --------
    MultVAERegressor : The variational counterpart.
    AutoRecRegressor : Autoencoders without input noise, on users or items.

    Notes
    -----{_MODEL_NOTES}
    References
    ----------
    Liang, D., Krishnan, R. G., Hoffman, M. D. and Jebara, T. (2018). Variational autoencoders
    for collaborative filtering. In Proceedings of WWW 2018, 689-698.

    Examples
    --------
    >>> from skcrossvae.baselines import MultDAERegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = MultDAERegressor(n_components=20, max_iter=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_LiangAutoencoder._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=200,
        hidden_layer_sizes=(),
        dropout=0.5,
        alpha=10.0,
        batch_size=32,
        learning_rate=1e-3,
        max_iter=200,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
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

    def _regulariser(self, module, batch, kl, n_ratings):
        return self.alpha * module.squared_weights() / n_ratings


class MultVAERegressor(_LiangAutoencoder):
    __doc__ = f"""Variational autoencoder for collaborative filtering (Mult-VAE; Liang et al. 2018).

    The paper's VAE-CF baseline: each user's ratings, with a random share dropped, are encoded
    to a Gaussian posterior over a code; a sample of it is decoded to all items. The loss is
    the squared error on the observed ratings plus ``beta`` times the KL divergence of the
    posterior from N(0, I), with ``beta`` annealed from 0. Training is minibatch Adam over
    shuffled users.

    Parameters
    ----------{_STRUCTURE_DOCS.format(n_components=200, hidden_layer_sizes="()")}
    beta : float, default=0.1
        Weight of the KL term against the sum of squared errors on the standardised scale
        (its largest value after annealing; Liang et al. cap it at 0.2).

    anneal_steps : int, default=2000
        Number of Adam steps over which the KL weight grows linearly from 0 to ``beta``; 0
        uses ``beta`` from the start. With ``warm_start`` the count continues.

    batch_size : int, default=32
        Users per Adam step.

    learning_rate : float, default=1e-3
        Adam's step size.

    max_iter : int, default=200
        Maximum number of epochs (passes over the users).
    {shared_parameter_docs()}{TORCH_PARAMETER_DOCS}
    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}{TORCH_ATTRIBUTE_DOCS}{_ROW_ATTRIBUTE_DOCS}    n_updates_ : int
        Adam steps taken so far (they set the annealed KL weight).

    See Also
    --------
    MultDAERegressor : The denoising counterpart.

    Notes
    -----{_MODEL_NOTES}
    As in Liang et al. the VAE has no weight decay, and predictions decode the posterior mean.

    References
    ----------
    Liang, D., Krishnan, R. G., Hoffman, M. D. and Jebara, T. (2018). Variational autoencoders
    for collaborative filtering. In Proceedings of WWW 2018, 689-698.

    Examples
    --------
    >>> from skcrossvae.baselines import MultVAERegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = MultVAERegressor(n_components=10, hidden_layer_sizes=(20,), max_iter=5,
    ...                          random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_LiangAutoencoder._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "anneal_steps": [Interval(Integral, 0, None, closed="left")],
    }

    _variational = True

    def __init__(
        self,
        n_components=200,
        hidden_layer_sizes=(),
        dropout=0.5,
        beta=0.1,
        anneal_steps=2000,
        batch_size=32,
        learning_rate=1e-3,
        max_iter=200,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.beta = beta
        self.anneal_steps = anneal_steps
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

    def _training_objective(self, train, rng, generator, device):
        if not (self.warm_start and hasattr(self, "n_updates_")):
            self.n_updates_ = 0
        return super()._training_objective(train, rng, generator, device)

    def _regulariser(self, module, batch, kl, n_ratings):
        self.n_updates_ += 1  # called once per Adam step
        progress = min(1.0, self.n_updates_ / self.anneal_steps) if self.anneal_steps else 1.0
        return self.beta * progress * kl.sum() / len(batch.targets)
