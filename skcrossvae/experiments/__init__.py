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
"""
