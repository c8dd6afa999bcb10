"""BayesianMFRegressor: fold-in conditions on every stored sample."""

import numpy as np

from skcrossvae.baselines import BayesianMFRegressor


def test_fold_in_conditions_each_sample_on_the_new_users_ratings(low_rank_toy):
    X, y = low_rank_toy
    held = X[:, 0] >= 32
    model = BayesianMFRegressor(n_components=3, max_iter=60, random_state=0).fit(X[~held], y[~held])
    fallback = np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2))
    model.fold_in(X[held], y[held])
    assert np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2)) < 0.2 * fallback
    assert model.user_samples_.shape[:2] == (40, model.item_samples_.shape[1])
    # The samples differ (each conditions on its own item factors), so the spread is not 0.
    assert np.all(model.user_samples_[32:].std(axis=1) > 0)
