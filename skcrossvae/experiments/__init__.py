"""Reproduction scripts and the command line: ``python -m skcrossvae <command>``.

Commands
--------
demo
    Fit :class:`~skcrossvae.CrossFeedbackVAERegressor` and print a results table, on
    MovieLens-100K (u1 split) when ``SKCROSSVAE_DATA`` (or ``--data-home``) holds ``ml-100k/``,
    otherwise on a built-in synthetic rating set.
results
    Fit every estimator of the package with its defaults on MovieLens-100K ``u1.base``, score
    ``u1.test`` (RMSE, NDCG@20, fit seconds), print the table and optionally save it as JSON.
ablation
    The paper's ablation study (Table 4) on ML-100K u1, then one row per lever of this package
    switched off; mean ± std over seeds.
convergence
    Held-out RMSE per iteration of the paper's variants A-E (Section 4.6, Fig. 4) on ML-100K
    u1, as a table, a JSON file and optionally a plot.
compare
    Test RMSE of the main estimator against baselines on ML-100K u1-u5, FilmTrust and CiaoDVD.

The commands that fit share :func:`~skcrossvae.experiments._common.score_configurations`, which
runs every (configuration, seed) fit as a joblib task (``--n-jobs N`` at a time); every
``--output`` file is strict JSON (NaN written as null) with the time of measurement.
"""
