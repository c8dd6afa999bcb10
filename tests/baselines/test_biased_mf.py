"""BiasedMFRegressor: fold-in as a ridge regression against the fitted item factors."""

import warnings

import numpy as np

from skcrossvae.baselines import BiasedMFRegressor


def test_fold_in_minimises_the_training_objective_of_a_new_user(low_rank_toy):
    X, y = low_rank_toy
    held = X[:, 0] >= 32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BiasedMFRegressor(n_components=3, alpha=0.01, learning_rate=1e-2, max_iter=200,
                                  early_stopping=False, random_state=0).fit(X[~held], y[~held])
    fallback = np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2))
    model.fold_in(X[held], y[held])
    assert np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2)) < 0.2 * fallback
    # The objective of user 35's row (the item side fixed) is smallest at the folded-in solution.
    rows = X[:, 0] == 35
    code = list(model.user_ids_).index(35)
    item_factors, item_biases = model._tables("item")
    targets = (y[rows] - model.global_mean_) / model.rating_std_

    def objective(solution):
        errors = targets - item_biases[X[rows, 1]] - item_factors[X[rows, 1]] @ solution[:-1] - solution[-1]
        return np.sum(errors**2) + model.alpha * rows.sum() * np.sum(solution**2)

    factors, biases = model._tables("user")
    solution = np.append(factors[code], biases[code])
    for step in np.random.RandomState(0).randn(20, 4) * 1e-3:
        assert objective(solution + step) > objective(solution)
