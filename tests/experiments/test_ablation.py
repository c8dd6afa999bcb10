"""Tests of ``python -m skcrossvae ablation`` (skcrossvae.experiments._ablation)."""

import json

import pytest

from skcrossvae import CrossFeedbackVAERegressor
from skcrossvae.experiments import _ablation
from skcrossvae.experiments._ablation import COMPONENTS, LEVERS, run_ablation

SCORES = ("rmse", "ndcg20", "fit_seconds", "n_iter")


def test_rows_are_the_papers_components_and_existing_parameters():
    assert [label for label, _ in COMPONENTS] == [
        "no data input", "no cross-feedback", "no attention", "full model"]
    assert LEVERS[0][0] == "paper's model"
    known = CrossFeedbackVAERegressor().get_params()
    for _, overrides in COMPONENTS + LEVERS:
        assert set(overrides) <= set(known)


def test_ablation_prints_both_tables_and_writes_every_run(toy_split, tmp_path, capsys):
    output = tmp_path / "ablation.json"
    results = run_ablation(seeds=(0, 1), extra_params=dict(max_iter=2, final_iter=1), output=output,
                           split=toy_split)
    out = capsys.readouterr().out
    document = json.loads(output.read_text())
    assert document["command"] == "ablation" and document["dataset"] == "toy"
    assert document["seeds"] == [0, 1] and document["extra_params"] == dict(max_iter=2, final_iter=1)
    assert [row["label"] for row in document["components"]] == [label for label, _ in COMPONENTS]
    assert [row["label"] for row in document["levers"]] == ["defaults"] + [label for label, _ in LEVERS]
    for row in document["components"] + document["levers"]:
        assert [run["seed"] for run in row["runs"]] == [0, 1]
        # Two validated iterations, and the final one on every rating.
        assert all(run["n_iter"] == 3 for run in row["runs"])
        for key in SCORES:
            assert set(row[key]) == {"mean", "std"}
    assert document["components"][0]["overrides"] == COMPONENTS[0][1]
    assert results["components"][3]["rmse"]["mean"] == pytest.approx(
        document["components"][3]["rmse"]["mean"])
    for title in ("components", "levers"):
        assert f"\n{title}\n" in out
    for label, _ in COMPONENTS + LEVERS:
        assert any(line.startswith(label) and "±" in line for line in out.splitlines())
    assert "test RMSE" in out and "NDCG@20" in out and "iterations" in out


def test_rows_with_the_parameters_of_an_earlier_row_reuse_its_fits(toy_split, monkeypatch, capsys):
    monkeypatch.setattr(_ablation, "LEVERS", [("as full", dict(attention="auto")), ("attention off", {})])
    fits = []
    original = _ablation.score_configurations

    def counting(configurations, *args, **kwargs):
        fits.extend(label for label, *_ in configurations)
        return original(configurations, *args, **kwargs)

    monkeypatch.setattr(_ablation, "score_configurations", counting)
    results = run_ablation(seeds=(0,), extra_params=dict(max_iter=2), split=toy_split)
    assert fits == [label for label, _ in COMPONENTS]
    levers = {row["label"]: row for row in results["levers"]}
    assert levers["as full"]["same_as"] == "full model"
    assert levers["attention off"]["same_as"] == "no attention"
    assert levers["attention off"]["runs"] == results["components"][2]["runs"]
    assert "same parameters as 'no attention'" in capsys.readouterr().out


def test_a_misspelt_parameter_fails_before_any_fit(toy_split, capsys):
    with pytest.raises(TypeError, match="no_such_parameter"):
        run_ablation(seeds=(0,), extra_params=dict(no_such_parameter=1), split=toy_split)
    assert capsys.readouterr().out == ""
