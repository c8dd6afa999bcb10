"""ConvNCFRegressor: the paper's CNN-CF baseline (ConvNCF, He et al. 2018) on explicit ratings."""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from .._base import shared_parameter_docs
from ._common import (
    BASE_ATTRIBUTE_DOCS,
    TORCH_ATTRIBUTE_DOCS,
    TORCH_PARAMETER_DOCS,
    PairBaseline,
)


def _init_std(n_components):
    """Standard deviation of the initial embeddings: ``K ** -0.25``.

    The outer product squares the embedding scale. With this scale the map's trace, the dot
    product ``p_u . q_i`` of matrix factorisation, has unit variance at the start, like the
    standardised ratings, and its entries are not vanishingly small.
    """
    return n_components ** -0.25


class ConvNCFRegressor(PairBaseline):
    __doc__ = f"""Convolutional neural collaborative filtering (ConvNCF; He et al. 2018) on ratings.

    The paper's CNN-CF baseline. The outer product of a user's and an item's embeddings forms a
    K×K interaction map; convolutions with 2×2 kernels, stride 2 and ReLU halve it layer by
    layer (K×K, K/2×K/2, ...), and a linear layer maps the last map to the rating, to which a
    user bias and an item bias are added: ``b_u + b_i + CNN(p_u ⊗ q_i)``. As in the paper, the
    squared error replaces ConvNCF's BPR loss; training is minibatch Adam over shuffled
    ratings.

    Parameters
    ----------
    n_components : int, default=16
        Embedding dimension K.

    n_conv_layers : int or None, default=2
        Number of convolution layers, at most ceil(log2(K)); the last map is flattened into the
        output layer. None: as many as halve the map down to 1×1, as ConvNCF does. Two layers
        trained best on MovieLens-100K: three layers, or four (None), gave a validation and
        test RMSE 0.004 to 0.006 higher.

    n_channels : int, default=16
        Feature maps per convolution layer (ConvNCF uses 32, which nearly doubles the fit time
        for no gain here; see Notes).

    alpha : float, default=0.01
        L2 penalty. The objective of a batch is the mean over its ratings of the squared error on
        the standardised scale, ``(rating - global_mean_) / rating_std_``, plus ``alpha`` times
        the squared norms of the rating's user and item embeddings and biases, plus ``alpha``
        times the squared convolution and output weights (once per batch, as in the ConvNCF
        code; the convolutions' biases are not penalised). 0.01 is one of the paper's Table 2
        values; with the other defaults it gave a slightly lower validation RMSE on
        MovieLens-100K than 0.003 or 0.006, while with 0.02 the number of epochs (15 to 90)
        and the RMSE depended much more on the seed.

    batch_size : int, default=512
        Ratings per Adam step.

    learning_rate : float, default=2e-3
        Adam's step size (1e-3 needed about 1.5 times as many epochs for no better RMSE).

    max_iter : int, default=100
        Maximum number of epochs (passes over the training ratings).
    {shared_parameter_docs()}{TORCH_PARAMETER_DOCS}
    Attributes
    ----------{BASE_ATTRIBUTE_DOCS}{TORCH_ATTRIBUTE_DOCS}
    See Also
    --------
    NCFRegressor : An MLP over the concatenated embeddings instead.

    Notes
    -----
    ConvNCF starts from pre-trained matrix-factorisation embeddings; here the embeddings are
    trained from scratch, drawn from a normal distribution with standard deviation
    ``n_components ** -0.25``: the outer product squares that scale, so the map's trace (the
    dot product of matrix factorisation) starts with unit variance, like the standardised
    ratings. The convolutions' weights get He initialisation and their biases start at zero:
    PyTorch's default uniform biases (up to ±0.5 in the first layer) dwarf the map's small
    entries, leave whole channels dead or constant, and on some seeds the network collapsed to
    predicting the biases alone. ConvNCF has no user or item bias; here they are added to the
    output, as in biased matrix factorisation, so the network need not spend its capacity on
    the users' and items' mean deviations.

    The defaults come from fits on MovieLens-100K's u1 split with ``random_state`` 0 to 2
    (early stopping on the estimator's random 10 % of u1.base), compared on that validation
    RMSE with the u1.test RMSE alongside. With one torch thread they reach a u1.test RMSE of
    0.946, 0.949 and 0.949 for ``random_state`` 0, 1 and 2 (0.953 and 0.952 for 3 and 4) in
    30 to 50 seconds. Without the user and item biases the validation RMSE is about 0.002
    higher, and 32 channels do no better for nearly twice the fit time.

    ConvNCF's K is a power of two; here a map of odd size gets a row and a column of zeros
    before it is halved, so any K works. A 2×2 convolution with stride 2 sees disjoint patches,
    so it is computed as a dense layer over each patch's values (the same function as
    ``conv2d``, faster for such small kernels). The network predicts the standardised rating;
    predictions ``global_mean_ + rating_std_ * output`` are clipped to ``rating_range_``.

    References
    ----------
    He, X., Du, X., Wang, X., Tian, F., Tang, J. and Chua, T.-S. (2018). Outer product-based
    neural collaborative filtering. In Proceedings of IJCAI 2018, 2227-2233.

    Examples
    --------
    >>> from skcrossvae.baselines import ConvNCFRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = ConvNCFRegressor(n_components=8, max_iter=3, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **PairBaseline._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_conv_layers": [Interval(Integral, 1, None, closed="left"), None],
        "n_channels": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=16,
        n_conv_layers=2,
        n_channels=16,
        alpha=0.01,
        batch_size=512,
        learning_rate=2e-3,
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
        self.n_conv_layers = n_conv_layers
        self.n_channels = n_channels
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
        from .._torch._baseline_modules import ConvNCF

        full_depth = (self.n_components - 1).bit_length()  # ceil(log2(K)) halvings reach 1×1
        n_conv_layers = full_depth if self.n_conv_layers is None else self.n_conv_layers
        if n_conv_layers > full_depth:
            raise ValueError(
                f"n_conv_layers={n_conv_layers} halves a {self.n_components}×{self.n_components} "
                f"map past 1×1; with n_components={self.n_components} use at most {full_depth}."
            )
        return ConvNCF(self.n_users_, self.n_items_, self.n_components, n_conv_layers,
                       self.n_channels, _init_std(self.n_components), generator, device)
