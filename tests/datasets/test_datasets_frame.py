"""ratings_from_frame: (X, y) for the estimators from a table of ratings with named columns."""

import numpy as np
import pandas as pd
import pytest

from skcrossvae.datasets import ratings_from_frame


def movie_frame():
    return pd.DataFrame(
        {
            "timestamp": [30, 10, 20],
            "userId": [7, 7, 9],
            "movieId": ["m1", "m2", "m1"],
            "stars": [4, 2, 5],
        },
        index=[100, 101, 102],
    )


def test_dataframe_gives_the_id_frame_and_the_rating_series():
    frame = movie_frame()
    X, y = ratings_from_frame(frame, user="userId", item="movieId", rating="stars")
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert list(X.columns) == ["userId", "movieId"]
    assert X.dtypes.tolist() == [frame["userId"].dtype, frame["movieId"].dtype]
    assert X.index.equals(frame.index) and y.index.equals(frame.index)
    assert X["userId"].tolist() == [7, 7, 9] and X["movieId"].tolist() == ["m1", "m2", "m1"]
    assert y.tolist() == [4, 2, 5] and y.dtype == np.int64
    # the default names
    renamed = frame.rename(columns={"userId": "user", "movieId": "item", "stars": "rating"})
    X_default, y_default = ratings_from_frame(renamed)
    assert X_default.to_numpy().tolist() == X.to_numpy().tolist()
    assert y_default.tolist() == y.tolist()


def test_mapping_of_columns_and_structured_array_give_numpy_arrays():
    X, y = ratings_from_frame({"user": np.array([1, 2]), "item": [10, 20], "rating": [4.5, 3.0]})
    assert X.dtype == np.int64 and X.tolist() == [[1, 10], [2, 20]]
    assert isinstance(y, np.ndarray) and y.tolist() == [4.5, 3.0]
    # integer user ids beside string item ids stay integers (an object array)
    X, _ = ratings_from_frame({"user": [1, 2], "item": ["a", "b"], "rating": [1, 2]})
    assert X.dtype == object and X[:, 0].tolist() == [1, 2] and type(X[0, 0]) is not str
    X, _ = ratings_from_frame({"user": ["u1", "u22"], "item": ["a", "b"], "rating": [1, 2]})
    assert X.dtype.kind == "U" and X.tolist() == [["u1", "a"], ["u22", "b"]]
    records = np.array([(1, 10, 5.0), (2, 20, 1.0)],
                       dtype=[("u", "i4"), ("i", "i8"), ("r", "f8")])
    X, y = ratings_from_frame(records, user="u", item="i", rating="r")
    assert X.dtype == np.int64 and X.tolist() == [[1, 10], [2, 20]] and y.tolist() == [5.0, 1.0]
    # an object column of numbers becomes float64
    _, y = ratings_from_frame({"user": [1], "item": [2], "rating": np.array([4], dtype=object)})
    assert y.dtype == np.float64


def test_the_result_fits_an_estimator_pipeline():
    from skcrossvae.model_selection import RatingKFold

    frame = pd.DataFrame({"user": np.repeat(np.arange(4), 4), "item": np.tile(np.arange(4), 4),
                          "rating": np.arange(16) % 5 + 1.0})
    X, y = ratings_from_frame(frame)
    for train, test in RatingKFold(2, random_state=0).split(X, y):
        assert set(X.iloc[test]["user"]) <= set(X.iloc[train]["user"])


def test_missing_columns_are_named_with_the_columns_there_are():
    frame = movie_frame()
    with pytest.raises(KeyError) as error:
        ratings_from_frame(frame)
    message = error.value.args[0]
    assert "no column user='user' and no column item='item' and no column rating='rating'" in message
    assert "['timestamp', 'userId', 'movieId', 'stars']" in message
    with pytest.raises(KeyError, match=r"no column rating='score'; its columns are \['user', 'item'"):
        ratings_from_frame({"user": [1], "item": [2], "rating": [3]}, rating="score")


@pytest.mark.parametrize(
    "ratings, message",
    [
        (["4", "5", "3"], r"column 'stars' must hold numbers; rows \[100, 101, 102\] hold \['4'"),
        (np.array([4, "five", 3], dtype=object), r"must hold numbers; rows \[101\] hold \['five'\]"),
        ([True, False, True], "must be numeric; it has dtype bool"),
        ([4.0, np.nan, np.inf], r"2 NaN or infinite values, at rows \[101, 102\]"),
        (pd.array([4, None, 3], dtype="Int64"), r"1 NaN or infinite values, at rows \[101\]"),
        (np.array([4, None, 3], dtype=object), r"1 missing values, at rows \[101\]"),
    ],
)
def test_non_numeric_and_missing_ratings_are_rejected_with_their_rows(ratings, message):
    frame = movie_frame()
    frame["stars"] = ratings if not isinstance(ratings, list) else np.array(ratings)
    with pytest.raises(ValueError, match=message):
        ratings_from_frame(frame, user="userId", item="movieId", rating="stars")


def test_other_malformed_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="three different columns"):
        ratings_from_frame({"user": [1], "rating": [3]}, item="user")
    with pytest.raises(ValueError, match=r"same length; got lengths \{'user': 2, 'item': 1"):
        ratings_from_frame({"user": [1, 2], "item": [1], "rating": [3, 4]})
    with pytest.raises(ValueError, match="user column 'user' must be one-dimensional"):
        ratings_from_frame({"user": [[1, 2]], "item": [1], "rating": [3]})
    with pytest.raises(ValueError, match="rows \\[1\\]"):
        ratings_from_frame({"user": [1, 2], "item": [1, 2], "rating": [3, float("nan")]})
    with pytest.raises(ValueError, match="must be numeric; it has dtype <U1, e.g. \\['4', '5'\\]"):
        ratings_from_frame({"user": [1, 2], "item": [1, 2], "rating": ["4", "5"]})
    duplicated = pd.DataFrame([[1, 2, 3, 4]], columns=["user", "user", "item", "rating"])
    with pytest.raises(ValueError, match="2 columns named 'user'"):
        ratings_from_frame(duplicated)
    with pytest.raises(TypeError, match="pandas DataFrame, a mapping .* got list"):
        ratings_from_frame([[1, 2, 3]])
