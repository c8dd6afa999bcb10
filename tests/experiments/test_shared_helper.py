"""Tests of the helpers the experiment commands share."""

import json
import math

import numpy as np
import pytest

from skcrossvae.baselines import BayesianMFRegressor
from skcrossvae.experiments._common import (
    Table,
    fit_and_score,
    format_mean_std,
    mean_std,
    score_configurations,
    summarise,
    write_json,
)


def test_fit_and_score_returns_scores_and_leaves_the_estimator_fitted(toy_split):
    model = BayesianMFRegressor(max_iter=3, burn_in=1, random_state=0)
    scores = fit_and_score(model, toy_split)
    assert set(scores) == {"rmse", "ndcg20", "fit_seconds", "n_iter", "best_iteration"}
    assert scores["rmse"] == pytest.approx(
        math.sqrt(np.mean((model.predict(toy_split.X_test) - toy_split.y_test) ** 2)))
    assert 0 < scores["ndcg20"] <= 1 and scores["fit_seconds"] > 0 and scores["n_iter"] == 3


def _components(model):
    return dict(k=model.n_components)


def _bpmf(n_components):
    return lambda seed: BayesianMFRegressor(n_components=n_components, max_iter=2, burn_in=1,
                                            random_state=seed)


def test_score_configurations_calls_a_split_function_with_each_seed(toy_split):
    asked, progress = [], []

    def split_for(seed):
        asked.append(seed)
        return toy_split

    (runs,) = score_configurations(
        [("bpmf", _bpmf(10), split_for, _components)], [3, 4],
        progress=lambda label, data, run: progress.append((label, data.name, run["seed"])))
    assert asked == [3, 4] and progress == [("bpmf", "toy", 3), ("bpmf", "toy", 4)]
    assert [run["seed"] for run in runs] == [3, 4] and all(run["k"] == 10 for run in runs)


def test_parallel_fits_return_each_run_in_its_place(toy_split):
    def configurations():
        return [("two", _bpmf(2), toy_split, _components), ("three", _bpmf(3), toy_split, _components)]

    reported = []
    parallel = score_configurations(configurations(), [0, 1], n_jobs=2,
                                    progress=lambda label, data, run: reported.append((label, run["seed"])))
    sequential = score_configurations(configurations(), [0, 1], n_jobs=1, progress=lambda *args: None)
    assert sorted(reported) == [("three", 0), ("three", 1), ("two", 0), ("two", 1)]
    for runs, expected, k in zip(parallel, sequential, (2, 3)):
        assert [(run["seed"], run["k"]) for run in runs] == [(0, k), (1, k)]
        assert [run["rmse"] for run in runs] == pytest.approx([run["rmse"] for run in expected], rel=1e-6)
    assert parallel[0][0]["rmse"] != parallel[0][1]["rmse"]  # the seeds make different fits


def test_mean_std_uses_the_sample_deviation_and_zero_for_one_value():
    assert mean_std([1.0, 3.0]) == dict(mean=2.0, std=pytest.approx(math.sqrt(2)))
    assert mean_std([5.0]) == dict(mean=5.0, std=0.0)
    summary = summarise([dict(rmse=1.0, n_iter=2), dict(rmse=3.0, n_iter=4)], keys=("rmse", "n_iter"))
    assert summary["n_iter"]["mean"] == 3.0
    assert format_mean_std(summary["rmse"]) == "2.0000 ± 1.4142"
    assert format_mean_std(None) == "—"


def test_table_aligns_cells_and_appends_the_note(capsys):
    table = Table([("row", 6), ("value", 8)])
    table.row("a", "1.0", note="same")
    assert capsys.readouterr().out.splitlines() == ["row      value", "a          1.0  same"]


def test_write_json_is_strict_and_dated(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, dict(rows=[dict(x=float("nan"), y=np.float64(2.5), z=(1, 2))]))
    document = json.loads(path.read_text())
    assert document["rows"] == [dict(x=None, y=2.5, z=[1, 2])]
    assert "measured" in document
