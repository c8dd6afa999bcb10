"""GridSearchCV over a Pipeline whose first step selects the id columns of a wider table,
scored by RMSE and the ranking metrics and cross-validated with RatingKFold."""

import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skcrossvae.baselines import BiasedMFRegressor
from skcrossvae.datasets import make_ratings
from skcrossvae.metrics import ranking_scorer
from skcrossvae.model_selection import RatingKFold

# A table with more columns than the ids, sorted by user as rating files often are.
X, y, _ = make_ratings(300, 200, n_ratings=8000, discrete=True, random_state=0)
table = pd.DataFrame({"user": X[:, 0], "item": X[:, 1], "rating": y,
                      "timestamp": np.random.default_rng(0).integers(0, 10**9, len(y))})
features, ratings = table.drop(columns="rating"), table["rating"]

pipeline = Pipeline([
    ("ids", ColumnTransformer([("ids", "passthrough", ["user", "item"])], remainder="drop")),
    ("model", BiasedMFRegressor(max_iter=20, random_state=0, device="cpu")),
])
search = GridSearchCV(
    pipeline,
    {"model__n_components": [2, 8], "model__alpha": [0.01, 0.1]},
    scoring={
        "rmse": "neg_root_mean_squared_error",
        "ndcg@10": ranking_scorer("ndcg", k=10),
        "catalog recall@10": ranking_scorer("recall", k=10, protocol="catalog"),
    },
    refit="ndcg@10",
    # every test user and item keeps training ratings; columns= names the id columns
    cv=RatingKFold(3, random_state=0, columns=["user", "item"]),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=20 keeps the page quick
    search.fit(features, ratings)

results = pd.DataFrame(search.cv_results_)
columns = ["param_model__n_components", "param_model__alpha", "mean_test_rmse",
           "mean_test_ndcg@10", "mean_test_catalog recall@10"]
results["mean_test_rmse"] *= -1
print(results.sort_values("rank_test_ndcg@10")[columns].to_string(
    index=False, float_format="{:.4f}".format))
print(f"selected by NDCG@10: {search.best_params_}")
