"""Tests of ``python -m skcrossvae results`` (skcrossvae.experiments._results)."""

import json

import pytest

from skcrossvae.experiments._results import run_results


def test_results_prints_one_row_per_seed_and_writes_them(toy_split, tmp_path, capsys):
    output = tmp_path / "results.json"
    rows = run_results(seeds=(0, 1), only=["BayesianMFRegressor"], output=output, split=toy_split)
    out = capsys.readouterr().out.splitlines()
    document = json.loads(output.read_text())
    assert document["dataset"] == "toy"
    assert [row["model"] for row in document["rows"]] == ["global mean"] + ["BayesianMFRegressor"] * 2
    assert document["rows"][0]["ndcg20"] is None  # NaN, written as strict JSON
    assert [row["seed"] for row in rows[1:]] == [0, 1]
    assert out[0].split() == ["model", "seed", "test", "RMSE", "NDCG@20", "fit", "s"]
    assert [line.split()[:2] for line in out[1:]] == [["BayesianMFRegressor", "0"],
                                                      ["BayesianMFRegressor", "1"]]


def test_an_unknown_estimator_name_fails_before_any_fit(toy_split, capsys):
    with pytest.raises(ValueError, match=r"unknown estimators \['NoSuchRegressor'\]"):
        run_results(only=["BayesianMFRegressor", "NoSuchRegressor"], split=toy_split)
    assert capsys.readouterr().out == ""
