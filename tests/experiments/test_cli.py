"""Tests of the command line ``python -m skcrossvae`` (skcrossvae.experiments.cli)."""

import json

import pytest
from sklearn.model_selection import train_test_split

from skcrossvae.experiments import _compare
from skcrossvae.experiments._compare import DEFAULT_MODELS
from skcrossvae.experiments.cli import build_parser, main

QUICK = '{"max_iter": 2}'


def test_ablation_command(fake_movielens, tmp_path, capsys):
    output = tmp_path / "ablation.json"
    assert main(["ablation", "--data-home", "home", "--seeds", "0", "--extra-params", QUICK,
                 "--output", str(output), "--n-jobs", "2"]) == 0
    assert fake_movielens[0]["data_home"] == "home" and fake_movielens[0]["split"] == "u1"
    document = json.loads(output.read_text())
    assert document["seeds"] == [0] and document["extra_params"] == dict(max_iter=2)
    assert "full model" in capsys.readouterr().out


def test_convergence_command(fake_movielens, tmp_path, capsys):
    output, plot = tmp_path / "convergence.json", tmp_path / "convergence.png"
    pytest.importorskip("matplotlib")
    assert main(["convergence", "--seeds", "0", "--iterations", "2", "--output", str(output),
                 "--plot", str(plot)]) == 0
    assert json.loads(output.read_text())["iterations"] == 2
    assert plot.stat().st_size > 0
    assert f"plot written to {plot}" in capsys.readouterr().out


def test_compare_command(fake_movielens, toy_ratings, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(_compare.DATASETS, "filmtrust",
                        lambda home, seed: train_test_split(*toy_ratings, test_size=0.1, random_state=seed))
    output = tmp_path / "compare.json"
    assert main(["compare", "--seeds", "0", "--datasets", "ml-100k-u2", "filmtrust",
                 "--models", "CrossFeedbackVAERegressor", "BayesianMFRegressor",
                 "--extra-params", QUICK, "--output", str(output)]) == 0
    document = json.loads(output.read_text())
    assert list(document["results"]) == ["ml-100k-u2", "filmtrust"]
    assert document["extra_params"] == dict(CrossFeedbackVAERegressor=dict(max_iter=2),
                                            BayesianMFRegressor={})
    assert [call["split"] for call in fake_movielens] == ["u2"]
    assert "CrossFeedbackVAERegressor has the lowest" in capsys.readouterr().out


def test_results_command(fake_movielens, tmp_path):
    output = tmp_path / "results.json"
    assert main(["results", "--only", "BayesianMFRegressor", "--output", str(output)]) == 0
    assert [row["seed"] for row in json.loads(output.read_text())["rows"]] == [None, 0]


def test_defaults():
    parser = build_parser()
    for command in ("ablation", "convergence", "compare", "results"):
        assert parser.parse_args([command]).n_jobs == 1
    for command in ("ablation", "convergence", "compare"):
        args = parser.parse_args([command])
        assert args.seeds == [0, 1, 2]
        assert args.data_home is None  # the loaders then read $SKCROSSVAE_DATA
        assert args.output is None and args.extra_params is None
    assert parser.parse_args(["results"]).seeds == [0]
    assert parser.parse_args(["convergence"]).iterations == 60
    assert parser.parse_args(["convergence"]).plot is None
    args = parser.parse_args(["compare"])
    assert args.models == list(DEFAULT_MODELS) and args.datasets is None


@pytest.mark.parametrize("argv, message", [
    (["ablation", "--extra-params", "{max_iter: 2}"], "not valid JSON"),
    (["ablation", "--extra-params", "[2]"], "expected a JSON object"),
    (["compare", "--models", "NoSuchRegressor"], "invalid choice"),
    (["results", "--only", "NoSuchRegressor"], "invalid choice"),
    (["compare", "--datasets", "ml-1m"], "invalid choice"),
])
def test_bad_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
