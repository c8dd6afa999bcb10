"""Tests of ``python -m skcrossvae reproduce`` (skcrossvae.experiments._reproduce and _report)."""

import contextlib
import csv
import io
import json

import numpy as np
import pytest
from sklearn.model_selection import ParameterGrid

from skcrossvae.baselines import BiasedMFRegressor
from skcrossvae.datasets import DataNotFoundError
from skcrossvae.experiments._reproduce import (
    BUDGETS,
    MODELS,
    PaperSplit,
    Records,
    convergence_curve,
    failure_text,
    rule_scope,
    run_reproduce,
    run_wall_seconds,
    sample_grid,
    search_and_test,
)
from skcrossvae.experiments.cli import main
from skcrossvae.model_selection import paper_param_grid

pytest.importorskip("matplotlib")

SMOKE = BUDGETS["smoke"]


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """The smoke budget run once into a fresh folder, two fits at a time: (folder, printed output)."""
    folder = tmp_path_factory.mktemp("reproduce")
    out = io.StringIO()  # module-scoped fixtures cannot use capsys
    with contextlib.redirect_stdout(out):
        assert main(["reproduce", "--budget", "smoke", "--output", str(folder), "--n-jobs", "2"]) == 0
    return folder, out.getvalue()


@pytest.mark.slow
def test_smoke_budget_writes_every_table_figure_and_verdict(smoke_report):
    folder, printed = smoke_report
    assert "fits to run" in printed and "minutes" in printed  # the estimate comes before the fits
    report = (folder / "report.md").read_text()
    for heading in ("## Verdicts", "## Table 3", "## Fig. 2", "## Fig. 3", "## Table 4", "## Fig. 4",
                    "## Cost", "Substitute data", "Protocol"):
        assert heading in report
    for figure in ("fig2_critical_difference.png", "fig3_sparsity.png", "fig4_convergence.png"):
        assert (folder / figure).stat().st_size > 1000
        assert f"]({figure})" in report
    with open(folder / "table3.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["dataset"], row["model"], row["seed"]) for row in rows} == {
        (name, model, str(seed)) for name in SMOKE.datasets for model in MODELS for seed in SMOKE.seeds}
    finished = [row for row in rows if not row["error"]]
    assert len(finished) >= 0.9 * len(rows)
    assert all(np.isfinite(float(row["test_rmse"])) for row in finished)
    results = json.loads((folder / "results.json").read_text())
    assert len(results["verdicts"]) == 9
    assert {v["verdict"] for v in results["verdicts"].values()} <= {
        "holds", "does not hold here", "cannot be tested here"}
    # every ablation row and every convergence variant was run, for every seed
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert sum(r["part"] == "ablation" for r in records) == 2 * 8 * len(SMOKE.seeds)
    assert sum(r["part"] == "convergence" for r in records) == 5 * len(SMOKE.seeds)
    curves = [r["curve"] for r in records if r["part"] == "convergence" and "curve" in r]
    assert curves and all(len(curve) == SMOKE.iterations for curve in curves)
    # the cost: one run, its wall time, and every part's fitting seconds (a search's candidates too)
    cost = results["cost"]
    assert cost["runs"] == 1 and cost["wall_seconds"] > 0 and cost["n_jobs"] == ["2"]
    assert all(row["fits"] > 0 and row["fit_seconds"] > 0 for row in cost["parts"].values())
    searches = [r for r in records if r["part"] == "table3" and "validation" in r]
    assert all(r["candidate_seconds"] > 0 for r in searches)


@pytest.mark.slow
def test_rerun_resumes_without_refitting(smoke_report, capsys):
    folder, _ = smoke_report
    before = (folder / "records.jsonl").read_text()
    run_reproduce(budget="smoke", output=folder)
    assert "about 0 fits to run" in capsys.readouterr().out
    assert (folder / "records.jsonl").read_text() == before


@pytest.mark.slow
def test_the_estimate_of_a_resumed_run_uses_the_recorded_fits(smoke_report, tmp_path, capsys):
    folder, _ = smoke_report
    lines = (folder / "records.jsonl").read_text().splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["part"] not in ("sparsity", "convergence")]
    (tmp_path / "records.jsonl").write_text("".join(kept))
    run_reproduce(budget="smoke", output=tmp_path, dry_run=True)
    printed = capsys.readouterr().out
    pending = len(lines) - len(kept)  # our model's units, costed from its recorded final fits
    assert f"{pending} of {pending} units costed from recorded fits" in printed


@pytest.mark.slow
def test_another_budget_in_the_same_folder_is_refused(smoke_report):
    folder, _ = smoke_report
    with pytest.raises(ValueError, match="'smoke' budget; resume with --budget smoke"):
        run_reproduce(budget="standard", output=folder)


def test_wall_time_spans_each_run_from_its_start_to_its_last_unit(tmp_path):
    definition = Records(tmp_path, SMOKE).definition
    lines = [json.dumps(dict(key=key, part=key.split("/")[0], budget="smoke", budget_definition=definition,
                             measured=f"2026-01-01 {at}"))
             for key, at in [("run/1", "10:00:00"), ("table3/a/m/0", "10:05:00"), ("table3/a/m/1", "10:20:00"),
                             ("run/2", "12:00:00"), ("sparsity/a/m/0/0.1", "12:30:00"),
                             ("run/3", "13:00:00")]]  # the third run was stopped before its first unit
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n")
    assert run_wall_seconds(Records(tmp_path, SMOKE)) == (2, (20 + 30) * 60)


def test_records_of_another_budget_definition_are_refused(tmp_path):
    import dataclasses

    Records(tmp_path, SMOKE).add("table3/a/m/0", part="table3")
    with pytest.raises(ValueError, match="another definition of the 'smoke' budget"):
        Records(tmp_path, dataclasses.replace(SMOKE, candidates=3))


def test_dry_run_prints_the_estimate_and_fits_nothing(tmp_path, capsys):
    assert main(["reproduce", "--budget", "smoke", "--output", str(tmp_path), "--dry-run"]) == 0
    assert "fits to run" in capsys.readouterr().out
    assert not (tmp_path / "records.jsonl").exists() and not (tmp_path / "report.md").exists()


def test_an_interrupted_last_record_is_redone(tmp_path, capsys):
    records = Records(tmp_path, SMOKE)
    records.add("table3/a/m/0", part="table3")
    with open(records.path, "a") as handle:
        handle.write('{"key": "table3/a/m/1", "bud')  # the run was killed mid-write
    reread = Records(tmp_path, SMOKE)
    assert "table3/a/m/0" in reread and "table3/a/m/1" not in reread
    assert "incomplete last record skipped" in capsys.readouterr().err
    reread.add("table3/a/m/1", part="table3")  # the rerun unit's record starts a line of its own
    assert set(Records(tmp_path, SMOKE).items) == {"table3/a/m/0", "table3/a/m/1"}


def test_rule_scope_follows_the_paper_s_sparsity_rule():
    dense = np.array([(user, item) for user in range(20) for item in range(20)])
    sparse = np.column_stack([np.arange(50), np.arange(50)])
    assert rule_scope(dense) == "local" and rule_scope(sparse) == "global"
    assert rule_scope(np.column_stack([np.zeros(30, int), np.arange(30)])) == "mixed"


def test_missing_data_sets_are_named(tmp_path):
    with pytest.raises(DataNotFoundError, match="ml-100k, filmtrust, ciaodvd"):
        run_reproduce(data_home=tmp_path, budget="standard", output=tmp_path / "out")


def test_unknown_budget_is_refused(tmp_path):
    with pytest.raises(ValueError, match="budget must be one of"):
        run_reproduce(budget="huge", output=tmp_path)


def test_sample_grid_is_a_seeded_uniform_subset():
    grid = paper_param_grid("full")
    points = [tuple(sorted(p.items())) for p in ParameterGrid(grid)]
    sample = sample_grid(grid, 5, random_state=3)
    chosen = [tuple(sorted(p.items())) for p in ParameterGrid(sample)]
    assert len(chosen) == 5 and set(chosen) <= set(points)
    assert sample == sample_grid(grid, 5, random_state=3)
    assert sample != sample_grid(grid, 5, random_state=4)
    assert sample_grid(grid, None, 0) == grid
    small = ParameterGrid(sample_grid(grid, None, 0, max_components=10))
    assert {p["n_components"] for p in small} == {10} and len(small) < len(points)


def test_a_search_where_every_candidate_fails_is_recorded_not_raised():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randint(0, 10, 200), rng.randint(0, 10, 200)])
    y = rng.randint(1, 6, 200).astype(float)
    split = PaperSplit("toy", X[:140], X[140:170], X[170:], y[:140], y[140:170], y[170:])
    record = search_and_test(BiasedMFRegressor(), [{"n_components": [0]}], split, 0, SMOKE, None)
    assert record["n_failed"] == record["n_candidates"] == 1
    assert "failed" in record["error"] and "test" not in record
    assert "Cause: " in record["error"]  # the candidates' own error, not only scikit-learn's summary


def test_failure_text_keeps_the_first_line_and_the_cause():
    summary = ValueError("All the 2 fits failed.\nTraceback (most recent call last):\n  ...\n"
                         "DivergenceError: diverged at iteration 3\n")
    assert failure_text(summary) == "ValueError: All the 2 fits failed. Cause: DivergenceError: diverged at iteration 3"
    assert failure_text(KeyError("x")) == "KeyError: 'x'"
    assert failure_text(RuntimeError()) == "RuntimeError"


def test_the_report_names_each_failed_search_with_its_seeds_and_cause(tmp_path):
    from skcrossvae.experiments._report import _failure_lines

    records = Records(tmp_path, SMOKE)
    for seed in (0, 2):
        records.add(f"ablation/toy/base/Eq. 9/{seed}", part="ablation", dataset="toy", base="base",
                    variant="Eq. 9", seed=seed, error="ValueError: boom")
    records.add("table3/toy/m/0", part="table3", dataset="toy", model="m", seed=0, test={})
    lines = _failure_lines(records)
    assert "- ablation, toy, base, Eq. 9; seeds 0, 2: ValueError: boom" in lines
    assert not any("table3" in line for line in lines)


def test_a_convergence_curve_runs_every_iteration_even_when_the_loss_plateaus():
    rng = np.random.RandomState(0)
    pairs = rng.permutation(15 * 15)[:200]
    X = np.column_stack([pairs // 15, pairs % 15])
    y = rng.randint(1, 6, 200).astype(float)
    split = PaperSplit("toy", X[:140], X[140:170], X[170:], y[:140], y[140:170], y[170:])
    # tol=100: no iteration counts as an improvement, so the rule alone would stop after one
    params = dict(n_components=2, encoder_layer_sizes=(4,), tol=100.0, n_iter_no_change=1, random_state=0)
    curve = convergence_curve(params, split, 4)
    assert len(curve) == 4 and np.all(np.isfinite(curve))
