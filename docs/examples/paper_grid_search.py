"""GridSearchCV of the paper's model over the paper's small grid, scored by RMSE and NDCG@20, on
a 70/15/15 split.

The search validates on the paper's fixed validation part (a PredefinedSplit), refits nothing
(the paper selects on validation RMSE and reports test scores of the selected model), then fits
the selected parameters on the training part and scores the test part.
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV

from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.datasets import make_ratings
from skcrossvae.metrics import ndcg_at_k, ranking_scorer, rmse
from skcrossvae.model_selection import paper_param_grid, predefined_split, train_val_test_split

X, y, _ = make_ratings(150, 100, n_ratings=4000, rank=3, noise=0.3, discrete=True, random_state=0)
X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(X, y, random_state=0)
X_search, y_search, cv = predefined_split(X_train, y_train, X_val, y_val)

# Test-sized training so the page builds in about a minute; drop these for a real search.
quick = CrossFeedbackVAERegressor(max_iter=15, early_stopping=False, batch_size=50, random_state=0,
                                  device="cpu")
search = GridSearchCV(
    quick,
    paper_param_grid("small"),
    scoring={"rmse": "neg_root_mean_squared_error", "ndcg@20": ranking_scorer("ndcg", k=20)},
    refit=False,
    cv=cv,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # max_iter=15 stops before convergence on purpose
    search.fit(X_search, y_search)

results = pd.DataFrame(search.cv_results_)
columns = ["param_encoder_layer_sizes", "param_beta", "mean_test_rmse", "mean_test_ndcg@20"]
table = results.sort_values("rank_test_rmse")[columns].head(6)
table["mean_test_rmse"] *= -1
print(f"{len(results)} candidates; best 6 by validation RMSE:")
print(table.to_string(index=False, float_format="{:.4f}".format))

best = results.loc[results["rank_test_rmse"].idxmin(), "params"]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = quick.set_params(**best).fit(X_train, y_train)
predictions = model.predict(X_test)
print(f"\nselected {best}")
print(f"test RMSE {rmse(y_test, predictions):.4f}, "
      f"test NDCG@20 {ndcg_at_k(X_test[:, 0], y_test, predictions, k=20):.4f}, "
      f"global-mean RMSE {rmse(y_test, np.full(len(y_test), y_train.mean())):.4f}")
