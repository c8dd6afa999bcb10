"""Tests of ``python -m skcrossvae convergence`` (skcrossvae.experiments._convergence)."""

import json
import sys

import pytest

from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.experiments._convergence import VARIANTS, iterations_to_converge, run_convergence


def test_variants_follow_the_paper():
    defaults = CrossFeedbackVAERegressor()
    hidden, k_prime = defaults.encoder_layer_sizes
    variants = {name: params for name, _, params in VARIANTS}
    assert list(variants) == ["A", "B", "C", "D", "E"]
    assert [variants[name].get("inputs", defaults.inputs) for name in "ABCDE"] == [
        "ratings", "ratings+embeddings", "ratings", "ratings+embeddings", "ratings+embeddings"]
    assert [variants[name]["encoder_layer_sizes"] for name in "ABCDE"] == [
        (k_prime,), (k_prime,), (hidden, k_prime), (hidden, k_prime), (hidden, k_prime)]
    assert [variants[name]["attention"] for name in "ABCD"] == [None] * 4
    assert variants["E"]["attention"] == "auto"
    assert all(params["fusion_layer_sizes"] == () for params in variants.values())


def test_iterations_to_converge_is_the_first_within_tolerance_of_the_best():
    assert iterations_to_converge([1.0, 0.9, 0.804, 0.8, 0.81]) == 3
    assert iterations_to_converge([0.7, 0.8]) == 1


def test_convergence_records_every_iteration(toy_split, tmp_path, capsys):
    output = tmp_path / "convergence.json"
    rows = run_convergence(seeds=(0, 1), iterations=6, output=output, split=toy_split)
    out = capsys.readouterr().out
    document = json.loads(output.read_text())
    assert document["command"] == "convergence" and document["iterations"] == 6
    assert [variant["variant"] for variant in document["variants"]] == list("ABCDE")
    for variant in document["variants"]:
        assert len(variant["mean_curve"]) == len(variant["std_curve"]) == 6
        assert [len(run["validation_scores"]) for run in variant["runs"]] == [6, 6]
        assert [run["n_iter"] for run in variant["runs"]] == [6, 6]
        assert list(variant["at"]) == ["5"]
        assert 1 <= variant["iterations_to_converge"] <= 6
        assert variant["best"]["mean"] <= variant["final"]["mean"]
        assert set(variant["rmse"]) == {"mean", "std"}
    assert rows[0]["mean_curve"] == pytest.approx(document["variants"][0]["mean_curve"])
    header = next(line for line in out.splitlines() if line.startswith("variant"))
    for column in ("RMSE @5", "RMSE @10", "RMSE @20", "final", "best", "test RMSE", "iter. to"):
        assert column in header
    assert sum(line[:1] in "ABCDE" and "±" in line for line in out.splitlines()) == 5


def test_convergence_draws_the_plot(toy_split, tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "convergence.png"
    run_convergence(seeds=(0,), iterations=2, plot=plot, split=toy_split)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_fails_before_any_fit(toy_split, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install skcrossvae\\[plot\\]"):
        run_convergence(seeds=(0,), iterations=2, plot=tmp_path / "x.png", split=toy_split)
    assert capsys.readouterr().out == ""


def test_iteration_settings_cannot_come_from_extra_params(toy_split):
    with pytest.raises(ValueError, match="max_iter"):
        run_convergence(seeds=(0,), iterations=2, extra_params=dict(max_iter=5), split=toy_split)
