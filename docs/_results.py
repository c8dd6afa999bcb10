"""Tables of the results page, rendered from the records in ``benchmarks/results/`` at build time.

``conf.py`` calls :func:`render_all`, which writes one reStructuredText file per table into
``docs/_generated/``; ``results.rst`` includes them. The page therefore shows what the records
hold, and a rerun of a benchmark updates it.
"""

import json
import shutil
from pathlib import Path

import numpy as np

from skcrossvae.experiments._report import FIGURES, METRIC_LABELS, summary_cell

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
FINAL_ITERATIONS = (0, 2, 5, 10, 20, 30)


def _table(header, rows, widths=None):
    """A ``list-table`` directive of ``rows`` (lists of strings) under ``header``."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _missing(name):
    return f"*No record yet:* ``benchmarks/results/{name}`` *is written by the command above.*\n"


def defaults_validation():
    path = RESULTS / "defaults_validation.jsonl"
    if not path.exists():
        return _missing(path.name)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    curves_by_setting = {}  # in the order of the records
    for row in rows:
        key = (row["dataset"], json.dumps(row["params"], sort_keys=True))
        curves_by_setting.setdefault(key, []).append(row["held_out_by_final_iter"])
    table = []
    for (dataset, params), curves in curves_by_setting.items():
        cells = []
        for k in FINAL_ITERATIONS:
            values = [curve[k] for curve in curves if len(curve) > k]
            cells.append(f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else "")
        label = "defaults" if params == "{}" else f"``{params}``"
        table.append([dataset, label, *cells, str(len(curves))])
    header = ["data set", "setting", *(f"{k} final" for k in FINAL_ITERATIONS), "fits"]
    return _table(header, table)


def compare_defaults():
    path = RESULTS / "compare_defaults.json"
    if not path.exists():
        return _missing(path.name)
    document = json.loads(path.read_text())
    results = document["results"]
    models = [model for model in document["models"] if any(model in by_model for by_model in results.values())]
    table = []
    for dataset, by_model in results.items():
        cells = []
        for model in models:
            summary = by_model.get(model)
            cells.append("" if summary is None else
                         f"{summary['rmse']['mean']:.4f} ± {summary['rmse']['std']:.4f}")
        seconds = by_model.get("CrossFeedbackVAERegressor", {}).get("fit_seconds", {}).get("mean")
        table.append([dataset, *cells, "" if seconds is None else f"{seconds:.0f}"])
    short = [model.replace("Regressor", "") for model in models]
    return (_table(["data set", *short, "fit s (ours)"], table)
            + f"\nMeasured {document['measured']}; the fit seconds are those of two fits sharing two cores.\n")


def speed():
    path = RESULTS / "speed.json"
    if not path.exists():
        return _missing(path.name)
    results = json.loads(path.read_text())
    rows = []
    if "u1" in results:
        u1 = results["u1"]
        ours = np.mean([run["seconds"] for run in u1["runs"]["CrossFeedbackVAERegressor"]])
        svdpp = np.mean([run["seconds"] for run in u1["runs"]["SVDpp"]])
        rmse_ours = np.mean([run["rmse"] for run in u1["runs"]["CrossFeedbackVAERegressor"]])
        rmse_svdpp = np.mean([run["rmse"] for run in u1["runs"]["SVDpp"]])
        rows.append(["default fit, MovieLens-100K u1", f"{ours:.1f} s (test RMSE {rmse_ours:.4f})",
                     f"SVD++ {svdpp:.1f} s (test RMSE {rmse_svdpp:.4f}): ratio {u1['ratio']:.2f}"])
    if "paper" in results:
        paper = results["paper"]
        rows.append(["the paper's model, u1", f"{paper['default_sizes']['seconds']:.1f} s "
                     f"(test RMSE {paper['default_sizes']['rmse']:.4f})",
                     f"full grid: {paper['grid_candidates']} candidates, "
                     f"{paper['grid_core_hours']:.0f} core-hours (from {len(paper['sample'])} sampled)"])
    if "iteration" in results and "seconds_per_iteration" in results["iteration"]:
        part = results["iteration"]
        rows.append(["one iteration, u1", f"{part['seconds_per_iteration']:.3f} s",
                     f"bandwidth bound {part['bound_seconds']:.3f} s ({part['gigabytes_per_iteration']:.2f} GB "
                     f"at {part['bandwidth_gb_per_s']:.1f} GB/s)"])
    for key, label in (("ciaodvd", "one iteration, CiaoDVD"), ("ml20m", "one iteration, MovieLens-20M shape")):
        part = results.get(key, {})
        if "seconds_per_iteration" in part:
            against = f"peak memory {part['peak_gib']:.2f} GiB"
            if "full_fit_minutes" in part:
                against += f"; a full fit of 150 iterations about {part['full_fit_minutes']:.0f} min"
            if part.get("outcome", "fitted") != "fitted":
                against += "; the model after these few iterations fails the fit's divergence check"
            rows.append([label, f"{part['seconds_per_iteration']:.1f} s", against])
        elif "error" in part:
            rows.append([label, "failed", part["error"]])
    part, label = results.get("global-attention", {}), "the paper's model, one iteration, CiaoDVD (global attention)"
    if "speedup" in part:
        package, plain = (np.mean(part["seconds_per_iteration"][name]) for name in ("package", "plain product"))
        rows.append([label, f"{package:.1f} s", f"{plain:.1f} s through the whole score matrix: {part['speedup']:.1f}x"])
    elif "error" in part:
        rows.append([label, "failed", part["error"]])
    part = results.get("epinions", {})
    if "peak_gib" in part:
        rows.append(["Epinions, max_iter=3 fit", f"{part['fit_seconds']:.0f} s", f"peak memory {part['peak_gib']:.2f} GiB"])
    elif "error" in part:
        rows.append(["Epinions, max_iter=3 fit", "failed", part["error"]])
    return _table(["measurement", "time", "against"], rows)


def fold_in():
    path = RESULTS / "fold_in.json"
    if not path.exists():
        return _missing(path.name)
    runs = json.loads(path.read_text())["runs"]
    rows = []
    for dataset in dict.fromkeys(run["dataset"] for run in runs):
        models = sorted(dict.fromkeys(run["model"] for run in runs), key=lambda name: name != "CrossFeedbackVAERegressor")
        for model in models:
            mine = [run for run in runs if run["dataset"] == dataset and run["model"] == model]
            if not mine:
                continue
            for protocol in ("fold-in", "fold-in (elbo)", "refit", "fallback"):
                if not all(protocol in run for run in mine):
                    continue
                cells = []
                for score in ("rmse", "ndcg20"):
                    values = [run[protocol][score] for run in mine]
                    spread = np.std(values, ddof=1) if len(values) > 1 else 0.0
                    cells.append(f"{np.mean(values):.4f} ± {spread:.4f}")
                rate = ""
                if protocol == "fold-in":
                    batch = np.mean([run["users_per_second"]["batch"] for run in mine])
                    single = np.mean([run["users_per_second"]["one_by_one"] for run in mine])
                    rate = f"{batch:,.0f} in one call; {single:,.0f} one call per user"
                rows.append([dataset, model.replace("Regressor", ""), protocol, *cells, rate])
    return _table(["data set", "model", "new users by", "RMSE", "NDCG@20", "users per second"], rows)


def reproduce_standard():
    folder = RESULTS / "reproduce_standard"
    path = folder / "results.json"
    if not path.exists():
        return _missing("reproduce_standard/results.json")
    document = json.loads(path.read_text())
    rows = [[claim, verdict["verdict"], verdict["evidence"]] for claim, verdict in document["verdicts"].items()]
    cost = document["cost"]
    parts = _table(["part", "units", "fits", "fitting hours (one thread per fit)"],
                   [[part, str(row["units"]), str(row["fits"]), f"{row['fit_seconds'] / 3600:.2f}"]
                    for part, row in cost["parts"].items()])
    text = (_table(["claim of the paper", "verdict", "evidence"], rows)
            + f"\nThe run took {cost['wall_seconds'] / 3600:.1f} hours of wall time over {cost['runs']} "
            f"run(s) with ``--n-jobs {', '.join(cost['n_jobs'])}``, each counted from its start to its "
            "last recorded unit; its fits:\n\n" + parts)
    text += "\n.. rubric:: Table 3: test scores, mean ± std over the seeds\n\n"
    for dataset, models in document["table3"].items():
        text += f"{dataset}:\n\n" + _table(["model", *METRIC_LABELS.values()], [
            [model, *(summary_cell(row[metric]) for metric in METRIC_LABELS)]
            for model, row in models.items()]) + "\n"
    bases = list(document["ablation"])
    variants = list(dict.fromkeys(variant for base in bases for variant in document["ablation"][base]))
    text += ("\n.. rubric:: Table 4: ablation, test RMSE, each row re-tuned\n\n"
             + _table(["variant", *bases], [
                 [variant, *(summary_cell(document["ablation"][base].get(variant, {}).get("rmse")) for base in bases)]
                 for variant in variants]))
    for name, title in FIGURES.items():
        if (folder / name).exists():
            text += (f"\n.. rubric:: {title}\n\n"
                     f".. image:: _generated/{name}\n   :alt: {title}\n   :width: 100%\n")
    return text


def render_all(target):
    """Write every table of the results page into the folder ``target``."""
    target = Path(target)
    target.mkdir(exist_ok=True)
    for name, render in (("defaults_validation", defaults_validation), ("compare_defaults", compare_defaults),
                         ("speed", speed), ("fold_in", fold_in), ("reproduce_standard", reproduce_standard)):
        (target / f"{name}.rst").write_text(render())
    for name in FIGURES:  # the included tables refer to the report's figures from here
        figure = RESULTS / "reproduce_standard" / name
        if figure.exists():
            shutil.copyfile(figure, target / name)
