"""Row autoencoders (AutoRec, Mult-DAE, Mult-VAE): fold-in is the encoder pass."""

import warnings

import numpy as np
import pytest

from skcrossvae.baselines import AutoRecRegressor, MultVAERegressor


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


@pytest.mark.parametrize("model", [AutoRecRegressor(side="user", max_iter=5, random_state=0),
                                   AutoRecRegressor(side="item", max_iter=5, random_state=0),
                                   MultVAERegressor(max_iter=5, random_state=0)])
def test_folding_in_fitted_rows_reproduces_their_decoder_outputs(low_rank_toy, model):
    X, y = low_rank_toy
    fitted = _fit(model, X, y)
    codes = fitted.row_codes_.copy()
    column = 0 if fitted.side == "user" else 1
    chosen = np.isin(X[:, column], [2, 7])
    fitted.fold_in(X[chosen], y[chosen])
    np.testing.assert_allclose(fitted.row_codes_, codes, atol=1e-5)


def test_pairs_with_columns_added_by_fold_in_get_the_fallback(low_rank_toy):
    X, y = low_rank_toy
    held = X[:, 0] >= 32
    model = _fit(AutoRecRegressor(side="user", max_iter=20, random_state=0), X[~held], y[~held])
    fallback = np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2))
    model.fold_in(X[held], y[held])
    assert np.sqrt(np.mean((model.predict(X[held]) - y[held]) ** 2)) < fallback
    model.fold_in([[32, 99], [50, 99]], [3.0, 4.0])  # a new item: no output unit for it
    expected = model.global_mean_ + model.user_fallback_[32] + model.item_fallback_[-1]
    assert model.predict([[32, 99]])[0] == pytest.approx(np.clip(expected, *model.rating_range_))
    items, _ = model.recommend(32, n=2, items=[99, 2, 7])
    assert 99 not in items[0]  # rated
