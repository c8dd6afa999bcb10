"""NCFRegressor: neural collaborative filtering (NeuMF, He et al. 2017) on explicit ratings."""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from .._base import check_layer_sizes, shared_parameter_docs
from ._common import (
    BASE_ATTRIBUTE_DOCS,
    TORCH_ATTRIBUTE_DOCS,
    TORCH_PARAMETER_DOCS,
    PairBaseline,
)

# He et al. draw the embeddings from N(0, 0.01^2); on the standardised scale a larger start
# lets the GMF product contribute from the first epochs.
_INIT_STD = 0.1


class NCFRegressor(PairBaseline):
    __doc__ = f"""Neural collaborative filtering (NeuMF; He et al. 2017) trained on explicit ratings.

    The paper's NCF baseline. Users and items have two embeddings each: the element-wise
    product of one pair (generalised matrix factorisation, GMF) and an MLP tower with ReLU over
    the concatenation of the other pair are concatenated and mapped linearly to the rating.
    Training minimises the squared error (instead of NCF's log loss on implicit feedback) by
    minibatch Adam over shuffled ratings.

    Parameters
    ----------
    n_components : int, default=10
        Dimension K of each embedding (the predictive factors of the GMF part).

    hidden_layer_sizes : tuple of int, default=(25,)
        Widths of the MLP tower's hidden layers; ``()`` maps the concatenated embeddings straight
        to the output layer.

    alpha : float, default=0.003
        L2 penalty. The objective of a batch is the mean over its ratings of the squared error on
        the standardised scale, ``(rating - global_mean_) / rating_std_``, plus ``alpha`` times
        the squared norms of the rating's user and item embeddings, plus ``alpha`` times the
        squared weights of the tower and the output layer (once per batch, as in the NCF code).

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
    ConvNCFRegressor : Convolutions over the outer product of the embeddings instead.

    Notes
    -----
    NeuMF is trained from scratch (He et al. pre-train the GMF and MLP parts separately). The
    network predicts the standardised rating; predictions ``global_mean_ + rating_std_ * output``
    are clipped to ``rating_range_``.

    References
    ----------
    He, X., Liao, L., Zhang, H., Nie, L., Hu, X. and Chua, T.-S. (2017). Neural collaborative
    filtering. In Proceedings of WWW 2017, 173-182.

    Examples
    --------
    >>> from skcrossvae.baselines import NCFRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = NCFRegressor(max_iter=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **PairBaseline._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
    }

    def __init__(
        self,
        n_components=10,
        hidden_layer_sizes=(25,),
        alpha=0.003,
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
        from .._torch._baseline_modules import NeuMF

        hidden = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        return NeuMF(self.n_users_, self.n_items_, self.n_components, hidden, _INIT_STD, generator, device)
