"""drop_duplicate_ratings: the one rule every loader applies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcrossvae.datasets import drop_duplicate_ratings


def test_keeps_last_in_file_order_and_original_order():
    X = np.array([[1, 1], [2, 1], [1, 1], [3, 3], [2, 1]])
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    X_unique, y_unique, timestamps, n_dropped = drop_duplicate_ratings(X, y)
    assert X_unique.tolist() == [[1, 1], [3, 3], [2, 1]]
    assert y_unique.tolist() == [3.0, 4.0, 5.0]
    assert timestamps is None and n_dropped == 2


def test_most_recent_wins_and_ties_keep_file_order():
    X = np.array([[1, 1], [1, 1], [1, 1], [2, 2]])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    _, y_unique, t_unique, n_dropped = drop_duplicate_ratings(X, y, timestamps=[9, 9, 1, 5])
    assert y_unique.tolist() == [2.0, 4.0]
    assert t_unique.tolist() == [9, 5] and n_dropped == 2


def test_string_ids_and_pandas_inputs():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"user": ["a", "b", "a"], "item": ["x", "x", "x"]}, index=[10, 11, 12])
    y = pd.Series([1.0, 2.0, 3.0], index=[10, 11, 12], name="rating")
    X_unique, y_unique, _, n_dropped = drop_duplicate_ratings(X, y)
    assert isinstance(X_unique, pd.DataFrame) and isinstance(y_unique, pd.Series)
    assert X_unique.index.tolist() == [11, 12] and y_unique.tolist() == [2.0, 3.0]
    assert n_dropped == 1


@pytest.mark.parametrize(
    "X, y, timestamps, message",
    [
        (np.zeros((3, 3)), np.zeros(3), None, r"shape \(n_ratings, 2\)"),
        (np.zeros(3), np.zeros(3), None, r"shape \(n_ratings, 2\)"),
        (np.zeros((3, 2)), np.zeros(2), None, "y has 2 entries"),
        (np.zeros((3, 2)), np.zeros(3), [1, 2], "timestamps must have shape"),
    ],
)
def test_invalid_inputs(X, y, timestamps, message):
    with pytest.raises(ValueError, match=message):
        drop_duplicate_ratings(X, y, timestamps)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 3)), min_size=0, max_size=40
    )
)
def test_matches_a_reference_implementation(rows):
    X = np.array([[user, item] for user, item, _ in rows], dtype=np.int64).reshape(-1, 2)
    timestamps = np.array([time for _, _, time in rows], dtype=np.int64)
    y = np.arange(len(rows), dtype=np.float64)  # the row number identifies the kept row
    X_unique, y_unique, t_unique, n_dropped = drop_duplicate_ratings(X, y, timestamps)

    winner = {}
    for row, (user, item, time) in enumerate(rows):
        best = winner.get((user, item))
        if best is None or time >= rows[best][2]:
            winner[(user, item)] = row
    expected_rows = sorted(winner.values())
    assert y_unique.astype(int).tolist() == expected_rows
    assert X_unique.tolist() == [list(rows[row][:2]) for row in expected_rows]
    assert t_unique.tolist() == [rows[row][2] for row in expected_rows]
    assert n_dropped == len(rows) - len(expected_rows)
