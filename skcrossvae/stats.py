"""Comparing several models over several data sets: Friedman test and Nemenyi critical difference.

This is the procedure of Demšar (2006) used in Section 4.4 of the paper (Fig. 2): rank the
models on each data set, test with Friedman whether their average ranks differ, and draw a
critical-difference diagram where models whose average ranks differ by less than the Nemenyi
critical difference are joined by a bar.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import stats as scipy_stats
from sklearn.utils import check_array

__all__ = [
    "FriedmanResult",
    "friedman_test",
    "nemenyi_critical_difference",
    "plot_critical_difference",
]


@dataclass(frozen=True, eq=False)
class FriedmanResult:
    """Outcome of :func:`friedman_test`.

    Attributes
    ----------
    statistic : float
        Friedman's chi-square statistic (corrected for ties).
    pvalue : float
        Its p-value under the chi-square distribution with ``n_models - 1`` degrees of freedom.
    iman_davenport_statistic : float
        The less conservative F statistic of Iman and Davenport (1980).
    iman_davenport_pvalue : float
        Its p-value under F(``n_models - 1``, ``(n_models - 1) (n_datasets - 1)``).
    average_ranks : ndarray of shape (n_models,)
        Mean rank of each model over the data sets; 1 is the best.
    ranks : ndarray of shape (n_datasets, n_models)
        Rank of each model on each data set (ties share the average rank).
    model_names : tuple of str
        Name of each model, in column order.
    critical_difference : float
        Nemenyi critical difference at level ``alpha``.
    alpha : float
        Significance level.
    n_datasets, n_models : int
        Size of the score table.
    """

    statistic: float
    pvalue: float
    iman_davenport_statistic: float
    iman_davenport_pvalue: float
    average_ranks: np.ndarray
    ranks: np.ndarray
    model_names: tuple
    critical_difference: float
    alpha: float
    n_datasets: int
    n_models: int


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1); got {alpha!r}.")
    return float(alpha)


def nemenyi_critical_difference(n_models, n_datasets, alpha=0.1):
    """Nemenyi critical difference between average ranks.

    Two models whose average ranks over ``n_datasets`` data sets differ by at least
    ``CD = q_alpha * sqrt(k (k + 1) / (6 N))`` perform significantly differently.

    Parameters
    ----------
    n_models : int
        Number of models compared, k >= 2.
    n_datasets : int
        Number of data sets, N >= 1.
    alpha : float, default=0.1
        Significance level (the paper uses 0.1).

    Returns
    -------
    float
        The critical difference.

    Notes
    -----
    ``q_alpha`` is the studentized range quantile with infinite degrees of freedom divided by
    ``sqrt(2)``, ``scipy.stats.studentized_range.ppf(1 - alpha, k, inf) / sqrt(2)``, which
    reproduces Table 5 of Demšar (2006).

    References
    ----------
    .. [1] J. Demšar, "Statistical Comparisons of Classifiers over Multiple Data Sets",
       Journal of Machine Learning Research 7, 1-30, 2006.

    Examples
    --------
    Demšar's example: 4 classifiers over 14 data sets at alpha = 0.05.

    >>> from skcrossvae.stats import nemenyi_critical_difference
    >>> round(nemenyi_critical_difference(4, 14, alpha=0.05), 2)
    1.25
    """
    for name, value, minimum in (("n_models", n_models, 2), ("n_datasets", n_datasets, 1)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    alpha = _check_alpha(alpha)
    q_alpha = scipy_stats.studentized_range.ppf(1 - alpha, n_models, np.inf) / np.sqrt(2)
    return float(q_alpha * np.sqrt(n_models * (n_models + 1) / (6.0 * n_datasets)))


def friedman_test(scores, *, lower_is_better=False, alpha=0.1, model_names=None):
    """Friedman test of equal performance of several models over several data sets.

    Parameters
    ----------
    scores : array-like or pandas DataFrame of shape (n_datasets, n_models)
        One row per data set, one column per model (for a DataFrame, the column labels
        name the models). At least 2 data sets and 2 models, all scores finite.
    lower_is_better : bool, default=False
        True for errors such as RMSE (the lowest score gets rank 1), False for NDCG or
        Recall (the highest score gets rank 1).
    alpha : float, default=0.1
        Significance level of the Nemenyi critical difference (the paper uses 0.1).
    model_names : sequence of str, optional
        Names of the models; default: the DataFrame's columns, else ``model_0``, ``model_1``...

    Returns
    -------
    FriedmanResult
        Statistics, p-values, average ranks and the critical difference.

    Notes
    -----
    The models are ranked on each data set (ties share the average rank) and
    ``chi2_F = 12 N / (k (k + 1)) * (sum_j R_j^2 - k (k + 1)^2 / 4)`` for k models with
    average ranks R_j over N data sets, divided by the tie correction
    ``1 - sum t (t^2 - 1) / (N k (k^2 - 1))`` (t: sizes of tied groups) as in
    ``scipy.stats.friedmanchisquare``; without ties this is Demšar's formula. When every data
    set ties all the models the statistic is 0 and the p-value 1. The Iman-Davenport
    statistic is ``F_F = (N - 1) chi2_F / (N (k - 1) - chi2_F)``, infinite (p-value 0) when
    all data sets rank the models identically.

    References
    ----------
    .. [1] J. Demšar, "Statistical Comparisons of Classifiers over Multiple Data Sets",
       Journal of Machine Learning Research 7, 1-30, 2006.
    .. [2] R. L. Iman and J. M. Davenport, "Approximations of the critical region of the
       Friedman statistic", Communications in Statistics 9(6), 571-595, 1980.

    Examples
    --------
    RMSE of three models on four data sets:

    >>> from skcrossvae.stats import friedman_test
    >>> rmse = [[0.84, 0.87, 0.88], [0.80, 0.83, 0.84], [0.80, 0.82, 0.81], [1.07, 1.10, 1.12]]
    >>> result = friedman_test(rmse, lower_is_better=True, model_names=["ours", "ncf", "mf"])
    >>> result.average_ranks
    array([1.  , 2.25, 2.75])
    >>> round(result.statistic, 3), round(result.pvalue, 3)
    (6.5, 0.039)
    """
    if hasattr(scores, "columns"):
        names = tuple(str(column) for column in scores.columns)
        scores = scores.to_numpy()
    else:
        names = None
    table = check_array(
        scores, dtype=np.float64, ensure_min_samples=2, ensure_min_features=2, input_name="scores"
    )
    n_datasets, n_models = table.shape
    alpha = _check_alpha(alpha)
    if model_names is not None:
        names = tuple(str(name) for name in model_names)
        if len(names) != n_models:
            raise ValueError(
                f"model_names has {len(names)} names but scores has {n_models} model columns."
            )
    elif names is None:
        names = tuple(f"model_{j}" for j in range(n_models))

    ranks = scipy_stats.rankdata(table if lower_is_better else -table, axis=1)
    average_ranks = ranks.mean(axis=0)
    tie_correction = np.mean([scipy_stats.tiecorrect(row) for row in ranks])
    if tie_correction == 0:  # every data set ties all models: no evidence of a difference
        statistic = 0.0
    else:
        statistic = (
            12.0 * n_datasets / (n_models * (n_models + 1))
            * (np.sum(average_ranks**2) - n_models * (n_models + 1) ** 2 / 4.0)
            / tie_correction
        )
    statistic = float(max(statistic, 0.0))  # rounding can leave -1e-15
    pvalue = float(scipy_stats.chi2.sf(statistic, n_models - 1))

    denominator = n_datasets * (n_models - 1) - statistic
    if denominator <= 0:  # identical rankings on every data set
        f_statistic, f_pvalue = np.inf, 0.0
    else:
        f_statistic = (n_datasets - 1) * statistic / denominator
        f_pvalue = scipy_stats.f.sf(f_statistic, n_models - 1, (n_models - 1) * (n_datasets - 1))

    return FriedmanResult(
        statistic=statistic,
        pvalue=pvalue,
        iman_davenport_statistic=float(f_statistic),
        iman_davenport_pvalue=float(f_pvalue),
        average_ranks=average_ranks,
        ranks=ranks,
        model_names=names,
        critical_difference=nemenyi_critical_difference(n_models, n_datasets, alpha),
        alpha=alpha,
        n_datasets=n_datasets,
        n_models=n_models,
    )


def _nonsignificant_groups(sorted_ranks, cd):
    """Maximal runs ``(first, last)`` of sorted ranks spanning less than ``cd``, size >= 2."""
    groups = []
    last_covered = 0
    for first in range(len(sorted_ranks)):
        last = int(np.searchsorted(sorted_ranks, sorted_ranks[first] + cd, side="left")) - 1
        # a run ending where the previous one ended is contained in it
        if last > first and last > last_covered:
            groups.append((first, last))
            last_covered = last
    return groups


def _ranks_and_labels(avg_ranks, labels):
    """Average ranks as an array and their labels, from a mapping, a Series or an array."""
    if hasattr(avg_ranks, "index") and hasattr(avg_ranks, "to_numpy"):  # pandas Series
        default_labels, values = list(avg_ranks.index), avg_ranks.to_numpy()
    elif hasattr(avg_ranks, "keys"):
        default_labels, values = list(avg_ranks.keys()), list(avg_ranks.values())
    else:
        values = avg_ranks
        default_labels = None
    values = check_array(values, ensure_2d=False, dtype=np.float64, input_name="avg_ranks")
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"avg_ranks must hold at least 2 ranks; got shape {values.shape}.")
    if labels is None:
        labels = default_labels or [f"model_{j}" for j in range(len(values))]
    labels = [str(label) for label in labels]
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels given for {len(values)} average ranks.")
    return values, labels


def plot_critical_difference(avg_ranks, cd, ax=None, *, labels=None, rank_format="{:.2f}"):
    """Draw a critical-difference diagram like Fig. 2 of the paper (Demšar 2006).

    Models are placed on a rank axis, the best (lowest average rank) on the left; a thick
    bar joins each maximal group of models whose average ranks differ by less than the
    critical difference, i.e. that are not significantly different.

    Parameters
    ----------
    avg_ranks : array-like, dict or pandas Series of shape (n_models,)
        Average rank of each model, e.g. ``FriedmanResult.average_ranks``. A dict or a
        Series also gives the model names.
    cd : float
        Critical difference, e.g. ``FriedmanResult.critical_difference``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made by default.
    labels : sequence of str, optional
        Model names, e.g. ``FriedmanResult.model_names``; overrides the dict or Series keys.
    rank_format : str, default='{:.2f}'
        Format of the average rank printed beside each name.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Notes
    -----
    Needs matplotlib (``pip install skcrossvae[plot]``), imported only when called.

    Examples
    --------
    >>> from skcrossvae.stats import friedman_test, plot_critical_difference
    >>> result = friedman_test([[1, 2, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]], lower_is_better=True)
    >>> ax = plot_critical_difference(  # doctest: +SKIP
    ...     result.average_ranks, result.critical_difference, labels=result.model_names)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_critical_difference needs matplotlib; install it with "
            "`pip install skcrossvae[plot]` (or `pip install matplotlib`)."
        ) from exc
    values, labels = _ranks_and_labels(avg_ranks, labels)
    if isinstance(cd, bool) or not isinstance(cd, Real) or not np.isfinite(cd) or cd < 0:
        raise ValueError(f"cd must be a finite number >= 0; got {cd!r}.")

    order = np.argsort(values, kind="stable")
    sorted_ranks = values[order]
    n_models = len(values)
    lowest, highest = 1, max(n_models, int(np.ceil(sorted_ranks[-1])))
    groups = _nonsignificant_groups(sorted_ranks, cd)
    n_left = (n_models + 1) // 2

    # vertical layout (downwards): axis at 0, group bars, then one row per model label
    group_step, row_step = 0.12, 0.3
    first_row = 0.3 + group_step * len(groups)
    n_rows = max(n_left, n_models - n_left)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 1.2 + 0.3 * n_rows + 0.1 * len(groups)))
        fig.subplots_adjust(left=0.22, right=0.78, top=0.95, bottom=0.02)
    line = {"color": "black", "linewidth": 1}

    ax.plot([lowest, highest], [0, 0], **line)
    for tick in np.arange(lowest, highest + 0.5, 0.5):
        size = 0.1 if float(tick).is_integer() else 0.05
        ax.plot([tick, tick], [0, size], **line)
        if float(tick).is_integer():
            ax.text(tick, 0.15, str(int(tick)), ha="center", va="bottom")

    # the CD scale above the axis, starting at rank 1
    ax.plot([lowest, lowest + cd], [0.55, 0.55], **line)
    for end in (lowest, lowest + cd):
        ax.plot([end, end], [0.5, 0.6], **line)
    ax.text(lowest + cd / 2, 0.62, "CD", ha="center", va="bottom")

    for position, model in enumerate(order):
        rank = values[model]
        rank_text = rank_format.format(rank)
        if position < n_left:  # better half: labels on the left, best on the top row
            depth = first_row + row_step * position
            edge, text, align = lowest - 0.25, f"{labels[model]} ({rank_text})", "right"
        else:  # worse half: labels on the right, worst on the top row
            depth = first_row + row_step * (n_models - 1 - position)
            edge, text, align = highest + 0.25, f"({rank_text}) {labels[model]}", "left"
        ax.plot([rank, rank, edge], [0, -depth, -depth], **line)
        ax.text(edge + (-0.05 if align == "right" else 0.05), -depth, text, ha=align,
                va="center")

    for level, (first, last) in enumerate(groups):
        depth = 0.2 + group_step * level
        ax.plot([sorted_ranks[first] - 0.03, sorted_ranks[last] + 0.03], [-depth, -depth],
                color="black", linewidth=4, solid_capstyle="butt")

    ax.set_xlim(lowest - 0.3, max(highest, lowest + cd) + 0.3)  # room for a long CD scale
    ax.set_ylim(-(first_row + row_step * n_rows), 0.9)
    ax.set_axis_off()
    return ax
