"""The ablation study (the paper's Table 4) on ML-100K u1, and the same for this package's levers."""

from .._crossvae import PAPER_PARAMS, CrossFeedbackVAERegressor
from ._common import (
    Table,
    format_mean_std,
    movielens_split,
    score_configurations,
    seeded,
    summarise,
    write_json,
)

#: The paper's components (Section 4.5): (row label, parameters that remove the component from
#: the paper's full model, which has the attention the defaults leave out).
COMPONENTS = [
    ("no data input", dict(inputs="embeddings", attention="auto")),
    ("no cross-feedback", dict(inputs="ratings", attention=None)),
    ("no attention", dict(attention=None)),
    ("full model", dict(attention="auto")),
]

#: This package's additions to the paper's model: the first row is the paper's model
#: (:data:`~skcrossvae.PAPER_PARAMS`), each other row changes one of them from the defaults.
LEVERS = [
    ("paper's model", dict(PAPER_PARAMS)),
    ("with the paper's attention", dict(attention="auto")),
    ("with the paper's decoder", dict(decoder="dot")),
    ("with baseline predictors", dict(decoder="baseline")),
    ("without input dropout", dict(input_dropout=0.0)),
    ("without weight averaging", dict(weight_averaging=0.0)),
    ("without final iterations", dict(final_iter=0)),
    ("learning rate 3e-3, patience 10", dict(learning_rate=3e-3, n_iter_no_change=10)),
]


def _parameter_key(params):
    """All parameters of the estimator built from ``params``: rows with equal keys fit the same."""
    return repr(sorted(CrossFeedbackVAERegressor(**params).get_params().items()))


def run_ablation(data_home=None, seeds=(0, 1, 2), extra_params=None, output=None, split=None,
                 n_jobs=None):
    """Fit each ablation row on ``u1.base``, score ``u1.test``, print both tables and save them.

    The first table removes the paper's components from the default model (:data:`COMPONENTS`),
    the second switches off one of this package's levers at a time (:data:`LEVERS`), beside the
    defaults. A row whose parameters equal an earlier row's (say a lever already off by default)
    reuses that row's fits instead of refitting.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``ml-100k/`` (``None``: ``$SKCROSSVAE_DATA``).
    seeds : sequence of int, default=(0, 1, 2)
        ``random_state`` of the fits; the tables show mean ± std over them.
    extra_params : dict, optional
        Parameters set on every row, after the row's own (for a faster setting, say).
    output : str or path-like, optional
        Write both tables, with every run, to this JSON file.
    split : Split, optional
        Data to use instead of ML-100K u1 (the tests pass a small synthetic split).
    n_jobs : int, default=None
        Fits run at the same time, over rows and seeds alike (see
        :func:`~skcrossvae.experiments._common.score_configurations`).

    Returns
    -------
    dict
        ``components`` and ``levers``: one dict per row with ``label``, ``overrides``,
        ``same_as`` (the earlier row it reuses, or None), ``runs`` and the mean ± std of
        ``rmse``, ``ndcg20``, ``fit_seconds`` and ``n_iter``.
    """
    extra = dict(extra_params or {})
    tables = dict(components=COMPONENTS, levers=[("defaults", {})] + list(LEVERS))
    # Build every row's estimator first, so a misspelt parameter fails before hours of fitting.
    keys = {(title, label): _parameter_key({**overrides, **extra})
            for title, rows in tables.items() for label, overrides in rows}
    split = split if split is not None else movielens_split(data_home, "u1")
    print(f"data: {split.name}; seeds {list(seeds)}; extra parameters {extra or 'none'}", flush=True)
    first = {}  # parameter key -> (label, parameters) of the first row with it: the one fitted
    for title, rows in tables.items():
        for label, overrides in rows:
            first.setdefault(keys[title, label], (label, {**overrides, **extra}))
    fitted = score_configurations(
        [(label, seeded(CrossFeedbackVAERegressor, params), split, None)
         for label, params in first.values()], seeds, n_jobs)
    runs_of = dict(zip(first, fitted))
    results = {}
    for title, rows in tables.items():
        print(f"\n{title}", flush=True)
        table = Table([("row", 26), ("test RMSE", 17), ("NDCG@20", 17), ("fit s", 15),
                       ("iterations", 14)])
        results[title] = []
        for label, overrides in rows:
            key = keys[title, label]
            same_as = first[key][0] if first[key][0] != label else None
            row = dict(label=label, overrides=overrides, same_as=same_as, runs=runs_of[key],
                       **summarise(runs_of[key]))
            results[title].append(row)
            table.row(label, format_mean_std(row["rmse"]), format_mean_std(row["ndcg20"]),
                      format_mean_std(row["fit_seconds"], 1), format_mean_std(row["n_iter"], 1),
                      note=f"same parameters as '{same_as}'" if same_as else "")
    if output:
        write_json(output, dict(command="ablation", dataset=split.name, seeds=list(seeds),
                                extra_params=extra, **results))
    return results
