"""The convergence analysis (the paper's Section 4.6 and Fig. 4) on ML-100K u1."""

import numpy as np

from .._crossvae import CrossFeedbackVAERegressor
from ._common import (
    Table,
    format_mean_std,
    mean_std,
    movielens_split,
    score_configurations,
    seeded,
    summarise,
    write_json,
)

_DEFAULTS = CrossFeedbackVAERegressor()
_HIDDEN, _K_PRIME = _DEFAULTS.encoder_layer_sizes[0], _DEFAULTS.encoder_layer_sizes[-1]

#: The paper's variants A-E: (name, description, parameters), with the default widths and the
#: paper's attention rule ('auto') for E. L = 0 (no layer after the concatenation) in all five, as
#: the paper sets it for B, D and E, so that A-B and C-D differ only in the cross feedback.
VARIANTS = [
    ("A", "no cross feedback, L' = 0",
     dict(inputs="ratings", attention=None, encoder_layer_sizes=(_K_PRIME,), fusion_layer_sizes=())),
    ("B", "cross feedback, L' = 0",
     dict(attention=None, encoder_layer_sizes=(_K_PRIME,), fusion_layer_sizes=())),
    ("C", f"no cross feedback, L' = 1 (width {_HIDDEN})",
     dict(inputs="ratings", attention=None, encoder_layer_sizes=(_HIDDEN, _K_PRIME), fusion_layer_sizes=())),
    ("D", f"cross feedback, L' = 1 (width {_HIDDEN})",
     dict(attention=None, encoder_layer_sizes=(_HIDDEN, _K_PRIME), fusion_layer_sizes=())),
    ("E", f"cross feedback and attention, L' = 1 (width {_HIDDEN})",
     dict(attention="auto", encoder_layer_sizes=(_HIDDEN, _K_PRIME), fusion_layer_sizes=())),
]

#: Iterations at which the table shows the held-out RMSE.
CHECKPOINTS = (5, 10, 20)

#: A mean curve has converged once it is within this of its best value.
TOLERANCE = 0.005

_FIXED = ("max_iter", "early_stopping", "n_iter_no_change", "final_iter")


def iterations_to_converge(curve, tolerance=TOLERANCE):
    """First iteration (1-based) at which ``curve`` is within ``tolerance`` of its minimum."""
    curve = np.asarray(curve, dtype=float)
    return int(np.argmax(curve <= curve.min() + tolerance)) + 1


def _validation_curve(estimator):
    if estimator.validation_scores_ is None:
        raise ValueError(
            "the fit recorded no validation RMSE: no part of the training data could be held out "
            "without leaving a user or item with no training rating."
        )
    return dict(validation_scores=list(estimator.validation_scores_))


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "--plot needs matplotlib; install it with `pip install skcrossvae[plot]` "
            "(or `pip install matplotlib`)."
        ) from exc
    return Figure


def plot_curves(variants, path, split_name):
    """Draw each variant's mean held-out RMSE per iteration with a ±std band, save to ``path``.

    Parameters
    ----------
    variants : list of dict
        Rows returned by :func:`run_convergence`.
    path : str or path-like
        Image file; its extension picks the format.
    split_name : str
        Name of the data, for the axis label.
    """
    figure = _figure_class()(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for variant in variants:
        mean, std = np.asarray(variant["mean_curve"]), np.asarray(variant["std_curve"])
        x = np.arange(1, len(mean) + 1)
        (line,) = axes.plot(x, mean, label=f"{variant['variant']}: {variant['description']}")
        axes.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel("iteration")
    # Two lines: on one the label ran past the figure's height and was cut.
    axes.set_ylabel(f"held-out RMSE\n(validation part of the {split_name} training set)")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=150)


def run_convergence(data_home=None, seeds=(0, 1, 2), iterations=60, extra_params=None,
                    output=None, plot=None, split=None, n_jobs=None):
    """Fit variants A-E for a fixed number of iterations, recording the held-out RMSE per iteration.

    Each variant is fit on ``u1.base`` with ``max_iter=iterations``, ``early_stopping=True``,
    ``n_iter_no_change=iterations`` and ``final_iter=0``, so that no early stop happens and
    ``validation_scores_`` (RMSE on the internal validation part of ``u1.base``) covers every
    iteration. The test RMSE on ``u1.test`` is that of the state the estimator keeps, its best
    validation iteration.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``ml-100k/`` (``None``: ``$SKCROSSVAE_DATA``).
    seeds : sequence of int, default=(0, 1, 2)
        ``random_state`` of the fits; curves and table show mean ± std over them.
    iterations : int, default=60
        Iterations of every fit.
    extra_params : dict, optional
        Parameters set on every variant, after the variant's own; not ``max_iter``,
        ``early_stopping``, ``n_iter_no_change`` or ``final_iter``, which ``iterations`` fixes.
    output : str or path-like, optional
        Write the table and every curve to this JSON file.
    plot : str or path-like, optional
        Draw the mean curves with their ±std band to this image file (needs matplotlib).
    split : Split, optional
        Data to use instead of ML-100K u1 (the tests pass a small synthetic split).
    n_jobs : int, default=None
        Fits run at the same time, over variants and seeds alike (see
        :func:`~skcrossvae.experiments._common.score_configurations`).

    Returns
    -------
    list of dict
        One row per variant: ``variant``, ``description``, ``overrides``, ``mean_curve``,
        ``std_curve``, ``at`` (iteration -> mean ± std of the held-out RMSE), ``final``,
        ``best``, ``rmse`` (test) and the other scores as mean ± std, ``iterations_to_converge``
        and ``runs`` (each with its ``validation_scores``).
    """
    extra = dict(extra_params or {})
    fixed = sorted(set(extra) & set(_FIXED))
    if fixed:
        raise ValueError(f"extra parameters {fixed} are fixed by the number of iterations.")
    if plot:
        _figure_class()  # fail before the fits, not after them
    settings = dict(max_iter=iterations, early_stopping=True, n_iter_no_change=iterations, final_iter=0)
    split = split if split is not None else movielens_split(data_home, "u1")
    print(f"data: {split.name}; seeds {list(seeds)}; {iterations} iterations; "
          f"extra parameters {extra or 'none'}", flush=True)
    for name, description, _ in VARIANTS:
        print(f"  {name}: {description}", flush=True)
    checkpoints = [i for i in CHECKPOINTS if i <= iterations]
    fitted = score_configurations(
        [(f"variant {name}", seeded(CrossFeedbackVAERegressor, {**overrides, **extra, **settings}),
          split, _validation_curve) for name, _, overrides in VARIANTS], seeds, n_jobs)
    table = Table([("variant", 8)] + [(f"RMSE @{i}", 17) for i in CHECKPOINTS]
                  + [("final", 17), ("best", 17), ("test RMSE", 17), (f"iter. to ±{TOLERANCE}", 17)])
    rows = []
    for (name, description, overrides), runs in zip(VARIANTS, fitted):
        curves = np.array([run["validation_scores"] for run in runs])
        mean_curve = curves.mean(axis=0)
        row = dict(
            variant=name, description=description, overrides=overrides,
            mean_curve=mean_curve.tolist(),
            std_curve=(curves.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros_like(mean_curve)).tolist(),
            at={i: mean_std(curves[:, i - 1]) for i in checkpoints},
            final=mean_std(curves[:, -1]), best=mean_std(curves.min(axis=1)),
            iterations_to_converge=iterations_to_converge(mean_curve),
            runs=runs, **summarise(runs),
        )
        rows.append(row)
        table.row(name, *(format_mean_std(row["at"].get(i)) for i in CHECKPOINTS),
                  format_mean_std(row["final"]), format_mean_std(row["best"]),
                  format_mean_std(row["rmse"]), str(row["iterations_to_converge"]))
    print(f"(iter. to ±{TOLERANCE}: first iteration at which the mean curve is within {TOLERANCE} "
          "of its best value)", flush=True)
    if output:
        write_json(output, dict(command="convergence", dataset=split.name, seeds=list(seeds),
                                iterations=iterations, extra_params=extra, variants=rows))
    if plot:
        plot_curves(rows, plot, split.name)
        print(f"plot written to {plot}", flush=True)
    return rows
