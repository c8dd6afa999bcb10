"""Tests of skcrossvae.stats: Friedman test, Nemenyi critical difference and the CD diagram."""

import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import friedmanchisquare

from skcrossvae.stats import (
    FriedmanResult,
    friedman_test,
    nemenyi_critical_difference,
    plot_critical_difference,
)
from skcrossvae.stats import _nonsignificant_groups

# Table 5 of Demšar (2006): q_alpha for k = 2..10 models
DEMSAR_Q = {
    0.05: (1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164),
    0.10: (1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920),
}


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


# ---------------------------------------------------------------- Friedman test


@settings(deadline=None)
@given(
    st.integers(2, 10).flatmap(
        lambda n_datasets: st.integers(3, 6).flatmap(
            lambda n_models: st.lists(
                st.lists(st.integers(0, 4), min_size=n_models, max_size=n_models),
                min_size=n_datasets,
                max_size=n_datasets,
            )
        )
    ),
    st.booleans(),
)
def test_friedman_statistic_agrees_with_scipy(table, lower_is_better):
    table = np.array(table, dtype=float)  # small integers: plenty of ties
    result = friedman_test(table, lower_is_better=lower_is_better)
    if all(len(set(row)) == 1 for row in table):  # scipy divides 0 by 0 here
        assert (result.statistic, result.pvalue) == (0.0, 1.0)
        return
    expected = friedmanchisquare(*table.T)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert result.pvalue == pytest.approx(expected.pvalue, abs=1e-9)


def test_average_ranks_follow_the_direction_of_the_metric():
    # RMSE of three models on four data sets; ties share the average rank
    rmse = [[0.84, 0.87, 0.88], [0.80, 0.83, 0.84], [0.80, 0.82, 0.82], [1.07, 1.10, 1.12]]
    lower = friedman_test(rmse, lower_is_better=True)
    np.testing.assert_allclose(lower.average_ranks, [1.0, 2.125, 2.875])
    np.testing.assert_allclose(lower.ranks[2], [1.0, 2.5, 2.5])
    higher = friedman_test(rmse, lower_is_better=False)
    np.testing.assert_allclose(higher.average_ranks, 4 - lower.average_ranks)
    # reversing every ranking does not change the statistic
    assert higher.statistic == pytest.approx(lower.statistic)


def test_hand_computed_friedman_and_iman_davenport():
    # N = 4 data sets, k = 3 models, no ties: average ranks 1, 2.25, 2.75
    scores = [[3, 2, 1], [3, 2, 1], [3, 1, 2], [3, 2, 1]]
    result = friedman_test(scores)
    np.testing.assert_allclose(result.average_ranks, [1.0, 2.25, 2.75])
    chi2 = 12 * 4 / (3 * 4) * (1 + 2.25**2 + 2.75**2 - 3 * 4**2 / 4)
    assert result.statistic == pytest.approx(chi2) == pytest.approx(6.5)
    assert result.iman_davenport_statistic == pytest.approx(3 * chi2 / (4 * 2 - chi2))
    assert 0 < result.iman_davenport_pvalue < 1
    assert (result.n_datasets, result.n_models, result.alpha) == (4, 3, 0.1)


def test_identical_rankings_and_complete_ties_are_handled():
    same = friedman_test([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert same.statistic == pytest.approx(6.0)  # N (k - 1): the largest possible value
    assert (same.iman_davenport_statistic, same.iman_davenport_pvalue) == (np.inf, 0.0)
    tied = friedman_test([[1, 1, 1], [2, 2, 2]])
    assert (tied.statistic, tied.pvalue) == (0.0, 1.0)


def test_dataframe_columns_name_the_models():
    frame = pd.DataFrame(
        {"ours": [0.84, 0.80, 0.70], "ncf": [0.87, 0.83, 0.73]}, index=["ml-1m", "ml-10m", "pet"]
    )
    result = friedman_test(frame, lower_is_better=True)
    assert isinstance(result, FriedmanResult)
    assert result.model_names == ("ours", "ncf")
    np.testing.assert_allclose(result.average_ranks, [1.0, 2.0])
    renamed = friedman_test(frame, model_names=["a", "b"])
    assert renamed.model_names == ("a", "b")
    assert friedman_test(frame.to_numpy()).model_names == ("model_0", "model_1")


@pytest.mark.parametrize(
    "scores, kwargs, message",
    [
        ([[1, 2, 3]], {}, "minimum of 2 is required"),
        ([[1], [2]], {}, "minimum of 2 is required"),
        ([[1, np.nan], [2, 3]], {}, "NaN"),
        ([[1, 2], [2, 3]], {"alpha": 1.0}, "alpha must be a number in"),
        ([[1, 2], [2, 3]], {"model_names": ["a"]}, "model_names has 1 names but scores has 2"),
    ],
)
def test_friedman_rejects_bad_input(scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        friedman_test(scores, **kwargs)


# ---------------------------------------------------------------- Nemenyi


@pytest.mark.parametrize("alpha", sorted(DEMSAR_Q))
def test_q_alpha_reproduces_demsars_table(alpha):
    for n_models, q_alpha in zip(range(2, 11), DEMSAR_Q[alpha]):
        cd = nemenyi_critical_difference(n_models, 1, alpha)
        assert cd / np.sqrt(n_models * (n_models + 1) / 6) == pytest.approx(q_alpha, abs=1e-3)


def test_critical_difference_of_demsars_example_and_default_alpha():
    assert nemenyi_critical_difference(4, 14, alpha=0.05) == pytest.approx(1.25, abs=5e-3)
    paper_style = friedman_test(np.random.default_rng(0).random((5, 4)))
    assert paper_style.critical_difference == pytest.approx(
        nemenyi_critical_difference(4, 5, alpha=0.1)
    )
    assert paper_style.critical_difference == pytest.approx(2.291 * np.sqrt(20 / 30), abs=2e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        ((1, 5), "n_models must be an integer >= 2"),
        ((3, 0), "n_datasets must be an integer >= 1"),
        ((3, 2.5), "n_datasets must be an integer >= 1"),
        ((3, 5, 0.0), "alpha must be a number in"),
    ],
)
def test_critical_difference_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        nemenyi_critical_difference(*args)


@pytest.mark.parametrize(
    "cd, groups",
    [
        (1.0, [(0, 1), (2, 3)]),
        (2.5, [(0, 3)]),
        (2.05, [(0, 2), (1, 3)]),
        (0.5, [(2, 3)]),  # 1.5 - 1.0 is not below the CD: significantly different
        (0.1, []),
    ],
)
def test_groups_of_models_not_significantly_different(cd, groups):
    assert _nonsignificant_groups(np.array([1.0, 1.5, 3.0, 3.2]), cd) == groups


# ---------------------------------------------------------------- CD diagram


def test_cd_diagram_draws_names_ranks_and_bars(pyplot):
    result = friedman_test(
        [[0.87, 0.88, 0.85, 0.84], [0.83, 0.84, 0.82, 0.80], [0.82, 0.84, 0.81, 0.80]],
        lower_is_better=True,
        model_names=["NCF", "CNN-CF", "I-Rec", "Ours"],
    )
    ax = plot_critical_difference(
        result.average_ranks, result.critical_difference, labels=result.model_names
    )
    texts = {text.get_text() for text in ax.texts}
    assert {"Ours (1.00)", "I-Rec (2.00)", "(3.00) NCF", "(4.00) CNN-CF", "CD"} <= texts
    bars = [line for line in ax.lines if line.get_linewidth() == 4]
    sorted_ranks = np.sort(result.average_ranks)
    assert len(bars) == len(_nonsignificant_groups(sorted_ranks, result.critical_difference))


def test_cd_diagram_accepts_a_series_or_dict_and_an_axes(pyplot):
    _, ax = pyplot.subplots()
    ranks = pd.Series({"vae-cf": 1.4, "ours": 1.6, "dae-cf": 3.0})
    assert plot_critical_difference(ranks, 1.0, ax=ax) is ax
    assert "(3.00) dae-cf" in {text.get_text() for text in ax.texts}
    ax = plot_critical_difference({"a": 1.0, "b": 2.0}, 0.5, rank_format="{:.1f}")
    assert "a (1.0)" in {text.get_text() for text in ax.texts}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"avg_ranks": [1.0, 2.0], "cd": -1.0}, "cd must be a finite number >= 0"),
        ({"avg_ranks": [1.0], "cd": 1.0}, "at least 2 ranks"),
        ({"avg_ranks": [1.0, 2.0], "cd": 1.0, "labels": ["a"]}, "1 labels given for 2"),
    ],
)
def test_cd_diagram_rejects_bad_input(pyplot, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_critical_difference(**kwargs)


def test_cd_diagram_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install skcrossvae\[plot\]"):
        plot_critical_difference([1.0, 2.0], 1.0)
