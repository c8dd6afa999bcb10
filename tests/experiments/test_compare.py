"""Tests of ``python -m skcrossvae compare`` (skcrossvae.experiments._compare)."""

import json

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from skcrossvae.experiments import _compare
from skcrossvae.experiments._compare import DATASETS, DEFAULT_MODELS, run_compare

QUICK = dict(CrossFeedbackVAERegressor=dict(max_iter=2), BayesianMFRegressor=dict(max_iter=2),
             BiasedMFRegressor=dict(max_iter=2))


@pytest.fixture
def toy_loaders(toy_ratings):
    """Two toy data sets split 90 / 10 by seed; records the (data set, seed) of each load."""
    loads = []

    def loader(name):
        def load(data_home, seed):
            loads.append((name, seed))
            return train_test_split(*toy_ratings, test_size=0.1, random_state=seed)
        return load

    return dict(first=loader("first"), second=loader("second")), loads


def test_dataset_names():
    assert list(DATASETS) == [f"ml-100k-u{k}" for k in range(1, 6)] + ["filmtrust", "ciaodvd"]


def test_random_splits_hold_out_a_seeded_tenth(toy_ratings, monkeypatch):
    X, y = toy_ratings
    asked = []

    def loader(**kwargs):
        asked.append(kwargs)
        return X, y

    monkeypatch.setattr(_compare, "load_filmtrust", loader)
    load = _compare._random_split(_compare.load_filmtrust)
    _, X_test, _, _ = load("home", 3)
    expected = train_test_split(X, y, test_size=0.1, random_state=3)
    np.testing.assert_array_equal(X_test, expected[1])
    assert asked == [dict(data_home="home", return_X_y=True, download_if_missing=False)]


def test_official_splits_load_movielens(fake_movielens, toy_split):
    X_train = DATASETS["ml-100k-u4"]("home", 0)[0]
    np.testing.assert_array_equal(X_train, toy_split.X_train)
    assert fake_movielens == [dict(variant="100k", data_home="home", split="u4", return_X_y=True,
                                   download_if_missing=False)]


def test_compare_prints_the_table_and_writes_every_run(toy_loaders, tmp_path, capsys):
    loaders, loads = toy_loaders
    output = tmp_path / "compare.json"
    result = run_compare(seeds=(0, 1), params=QUICK, output=output, loaders=loaders)
    out = capsys.readouterr().out.splitlines()
    assert loads == [("first", 0), ("first", 1), ("second", 0), ("second", 1)]
    document = json.loads(output.read_text())
    assert document["command"] == "compare" and document["models"] == list(DEFAULT_MODELS)
    assert document["extra_params"] == QUICK
    assert list(document["results"]) == ["first", "second"]
    for by_model in document["results"].values():
        assert list(by_model) == list(DEFAULT_MODELS)
        for scores in by_model.values():
            assert [run["seed"] for run in scores["runs"]] == [0, 1]
            assert set(scores["rmse"]) == {"mean", "std"}
    assert document["lowest_rmse"] == result["lowest_rmse"]
    assert set(result["lowest_rmse"]) <= {"first", "second"}
    header = next(i for i, line in enumerate(out) if line.startswith("test RMSE"))
    assert all(model in out[header] for model in DEFAULT_MODELS)
    assert out[header + 1].startswith("first") and out[header + 1].count("±") == 3
    assert out[header + 2].startswith("second")
    assert out[-1].startswith("CrossFeedbackVAERegressor has the lowest mean test RMSE on")
    assert out[-1].endswith(", ".join(result["lowest_rmse"]) or "none")


def test_compare_runs_the_chosen_datasets_and_models(toy_loaders, capsys):
    loaders, loads = toy_loaders
    result = run_compare(seeds=(0,), datasets=["second"], models=["BayesianMFRegressor"],
                         params=QUICK, loaders=loaders)
    assert list(result["results"]) == ["second"] and loads == [("second", 0)]
    assert list(result["results"]["second"]) == ["BayesianMFRegressor"]
    assert "lowest mean test RMSE" not in capsys.readouterr().out


@pytest.mark.parametrize("option", [dict(datasets=["third"]), dict(models=["NoSuchRegressor"])])
def test_unknown_names_fail_before_any_fit(toy_loaders, option):
    loaders, loads = toy_loaders
    with pytest.raises(ValueError, match="unknown data sets or models"):
        run_compare(seeds=(0,), loaders=loaders, **option)
    assert loads == []
