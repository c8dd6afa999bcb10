"""AutoRecRegressor: the paper's U-Rec and I-Rec baselines (AutoRec, Sedhain et al. 2015)."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._base import check_layer_sizes, shared_parameter_docs
from ._common import (
    BASE_ATTRIBUTE_DOCS,
    ROW_INPUT_NOTES,
    TORCH_ATTRIBUTE_DOCS,
    TORCH_PARAMETER_DOCS,
    RowAutoencoderBaseline,
)


class AutoRecRegressor(RowAutoencoderBaseline):
    __doc__ = f"""AutoRec (Sedhain et al. 2015): an autoencoder over rating rows or columns.

    The paper's U-Rec (``side='user'``: each user's ratings are encoded and reconstructed) and
    I-Rec (``side='item'``: each item's ratings). The encoder maps the row's observed ratings
    through ReLU layers to a code; the decoder mirrors it and ends with a sigmoid scaled to the
    rating range. Only the observed entries enter the loss, the squared error plus an L2
    penalty on the weights; training is minibatch Adam over shuffled rows. The prediction for
    (user, item) is the reconstruction of the pair's entry from the row's ratings given to
    ``fit``.

    Parameters
    ----------
    side : {{'user', 'item'}}, default='item'
        'user': U-Rec (rows are users); 'item': I-Rec (rows are items), the better of the two
        on MovieLens in both Sedhain et al. and the paper.

    n_components : int, default=100
        Dimension of the code (the innermost hidden layer).

    hidden_layer_sizes : tuple of int, default=()
        Widths of the hidden layers between the input and the code; the decoder mirrors them.

    alpha : float, default=5.0
        L2 penalty: the objective is the sum over training ratings of the squared error on the
        standardised scale (error / ``rating_std_``) plus ``alpha`` times the sum of the squared
        weights, divided by the number of training ratings.

    batch_size : int, default=64
        Rows per Adam step.

    learning_rate : float, default=3e-3
        Adam's step size.

    max_iter : int, default=200
        Maximum number of epochs (passes over the rows).
    {shared_parameter_docs()}{TORCH_PARAMETER_DOCS}
    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}{TORCH_ATTRIBUTE_DOCS}
    row_codes_ : ndarray of shape (n_rows, width)
        Each row's last decoder layer (the input of the output layer), computed from all the
        ratings given to ``fit``; rows are users or items after ``side``.

    See Also
    --------
    MultDAERegressor, MultVAERegressor : User autoencoders with input dropout (Liang et al.).

    Notes
    -----{ROW_INPUT_NOTES}
    The output is ``low + (high - low) * sigmoid(z)`` with ``(low, high) =
    rating_range_``. Sedhain et al. use sigmoid hidden units and L-BFGS; the paper uses ReLU
    hidden layers, as here, and Adam replaces L-BFGS.

    References
    ----------
    Sedhain, S., Menon, A. K., Sanner, S. and Xie, L. (2015). AutoRec: Autoencoders meet
    collaborative filtering. In Proceedings of WWW 2015 Companion, 111-112.

    Examples
    --------
    >>> from skcrossvae.baselines import AutoRecRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = AutoRecRegressor(side="user", max_iter=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **RowAutoencoderBaseline._parameter_constraints,
        "side": [StrOptions({"user", "item"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        side="item",
        n_components=100,
        hidden_layer_sizes=(),
        alpha=5.0,
        batch_size=64,
        learning_rate=3e-3,
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
        self.side = side
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
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

    def _make_module(self, generator, device):
        from .._torch._baseline_modules import RowAutoencoder

        hidden = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        n_columns = self.fit_sizes_[self.side == "user"]  # the ids of fit (fold_in adds none)
        return RowAutoencoder(n_columns, hidden, self.n_components, activation="relu", variational=False,
                              input_dropout=0.0, generator=generator, device=device)

    def _link(self, outputs):
        # rating_range_ in standardised units (computed in float64, of order 1 in float32).
        low, high = ((bound - self.global_mean_) / self.rating_std_ for bound in self.rating_range_)
        return low + (high - low) * outputs.sigmoid()

    def _regulariser(self, module, batch, kl, n_ratings):
        return self.alpha * module.squared_weights() / n_ratings
