"""The hyper-parameter search ranges of the paper's baselines (Table 2) as GridSearchCV grids."""

from itertools import product

from ._autorec import AutoRecRegressor
from ._convncf import ConvNCFRegressor
from ._liang import MultDAERegressor, MultVAERegressor
from ._ncf import NCFRegressor

#: The paper's name of each baseline and the estimator implementing it (U-Rec and I-Rec are
#: :class:`AutoRecRegressor` with ``side='user'`` and ``side='item'``; the grid sets it).
PAPER_BASELINES = {
    "ncf": NCFRegressor,
    "cnn-cf": ConvNCFRegressor,
    "u-rec": AutoRecRegressor,
    "i-rec": AutoRecRegressor,
    "dae-cf": MultDAERegressor,
    "vae-cf": MultVAERegressor,
}

# Table 2 and Section 4.3
_L2_PENALTIES = [0.0, 0.01, 0.1, 1.0]
_KL_WEIGHTS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
_MAX_HIDDEN_LAYERS = 2
_SMALL_DIMS = [5, 10, 25, 50, 100]
_SMALL_WIDTHS = (10, 25, 50, 100)
_LIANG_DIMS = [10, 25, 50, 100, 200]
_LIANG_WIDTHS = (50, 100, 200, 400)
_CNN_DIMS = (8, 16, 32, 64, 128)
_MAX_CONV_LAYERS = 6


def _hidden_layer_options(widths):
    """0 to 2 hidden layers, all of one width (as :func:`~skcrossvae.model_selection.paper_param_grid`)."""
    return [()] + [(width,) * n for n, width in product(range(1, _MAX_HIDDEN_LAYERS + 1), widths)]


def paper_baseline_grid(name):
    """The paper's hyper-parameter grid for one of its baselines (Table 2).

    Parameters
    ----------
    name : {'ncf', 'cnn-cf', 'u-rec', 'i-rec', 'dae-cf', 'vae-cf'}
        The baseline, as the paper names it; ``PAPER_BASELINES[name]`` is its estimator.

    Returns
    -------
    list of dict
        A ``param_grid`` for :class:`~sklearn.model_selection.GridSearchCV` over the parameters of
        ``PAPER_BASELINES[name]``.

    Notes
    -----
    ``n_components`` is Table 2's K, ``hidden_layer_sizes`` its hidden layers (0 to 2 layers,
    all of one width from the "# neurons" column) and ``alpha`` its L2 penalty, searched
    among {0, 0.01, 0.1, 1}. For CNN-CF the layers are convolutions: each one halves the K×K
    map (the "# neurons" column lists the map sizes), so a K allows at most log2(K) layers
    and the grid has one dict per K. VAE-CF has no L2 penalty; its KL weight ``beta`` is
    searched among {1e-5, 1e-4, ..., 1} instead. What the paper leaves open (learning rate,
    batch size, ConvNCF's channels, the dropout rates) stays at the estimators' defaults.

    Examples
    --------
    >>> from sklearn.model_selection import ParameterGrid
    >>> from skcrossvae.baselines import PAPER_BASELINES, paper_baseline_grid
    >>> grid = paper_baseline_grid("i-rec")
    >>> len(ParameterGrid(grid))
    180
    >>> estimator = PAPER_BASELINES["i-rec"]().set_params(**ParameterGrid(grid)[0])
    >>> estimator.side
    'item'
    """
    if name in ("ncf", "u-rec", "i-rec"):
        grid = {
            "n_components": list(_SMALL_DIMS),
            "hidden_layer_sizes": _hidden_layer_options(_SMALL_WIDTHS),
            "alpha": list(_L2_PENALTIES),
        }
        if name != "ncf":
            grid["side"] = ["user" if name == "u-rec" else "item"]
        return [grid]
    if name == "cnn-cf":
        return [
            {
                "n_components": [dim],
                "n_conv_layers": list(range(1, min(dim.bit_length() - 1, _MAX_CONV_LAYERS) + 1)),
                "alpha": list(_L2_PENALTIES),
            }
            for dim in _CNN_DIMS
        ]
    if name in ("dae-cf", "vae-cf"):
        grid = {
            "n_components": list(_LIANG_DIMS),
            "hidden_layer_sizes": _hidden_layer_options(_LIANG_WIDTHS),
        }
        grid.update({"alpha": list(_L2_PENALTIES)} if name == "dae-cf" else {"beta": list(_KL_WEIGHTS)})
        return [grid]
    raise ValueError(f"name must be one of {sorted(PAPER_BASELINES)}; got {name!r}.")
