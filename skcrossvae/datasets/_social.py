"""Rating data sets from trust-aware recommendation research: FilmTrust, CiaoDVD, Tang's
Epinions and Ciao."""

import numpy as np
import scipy.io

from ._home import DataIntegrityError, _find_data_file
from ._ratings import _clean_ratings, _DatasetInfo, _package, _read_numeric_columns

_FILMTRUST = _DatasetInfo(
    title="FilmTrust",
    description=(
        "35,497 ratings (0.5 to 4.0 in steps of 0.5) from 1,508 users on 2,071 films, "
        "crawled from the FilmTrust web site in 2011 by G. Guo, J. Zhang and "
        "N. Yorke-Smith. The original file holds 3 duplicated (user, item) pairs and no "
        "timestamps. A trust network (trust.txt) comes with it and is not loaded here."
    ),
    source=(
        "ratings.txt as distributed with LibRec (github.com/guoguibing/librec, "
        "librec/demo/Datasets/FilmTrust/)"
    ),
    terms=(
        "no formal licence; research use, citing G. Guo, J. Zhang and N. Yorke-Smith, "
        "'A Novel Bayesian Similarity Measure for Recommender Systems', IJCAI 2013."
    ),
    rating_scale=(0.5, 4.0),
    how_to_obtain=(
        "FilmTrust is distributed with LibRec (github.com/guoguibing/librec); place its "
        "ratings.txt at filmtrust/ratings.txt under the data home."
    ),
)

_CIAODVD = _DatasetInfo(
    title="CiaoDVD",
    description=(
        "72,665 ratings (1 to 5 stars) from 17,615 users on 16,121 DVDs, crawled from "
        "dvd.ciao.co.uk in December 2013 by G. Guo et al. Each rating has a date "
        "(2000 to 2013), read as the unix time of midnight UTC. The original file holds "
        "320 duplicated (user, item) pairs. The trust network and review ratings are not "
        "loaded here."
    ),
    source="movie-ratings.txt of the CiaoDVD release by Guibing Guo (LibRec data sets)",
    terms=(
        "no formal licence; research use, citing G. Guo, J. Zhang, D. Thalmann and "
        "N. Yorke-Smith, 'ETAF: An Extended Trust Antecedents Framework for Trust "
        "Prediction', ASONAM 2014."
    ),
    rating_scale=(1.0, 5.0),
    how_to_obtain=(
        "No stable official download address is known; place the release's "
        "movie-ratings.txt at ciaodvd/movie-ratings.txt under the data home."
    ),
)

_TANG_TERMS = (
    "no formal licence; research use, citing J. Tang, H. Gao and H. Liu, 'mTrust: "
    "Discerning multi-faceted trust in a connected world', WSDM 2012, and J. Tang, H. Gao, "
    "H. Liu and A. Das Sarma, 'eTrust: Understanding trust evolution in an online world', "
    "KDD 2012."
)

_EPINIONS = _DatasetInfo(
    title="Epinions (Tang et al.)",
    description=(
        "922,267 ratings (1 to 5 stars) from 22,164 users on 296,277 products of "
        "epinions.com, as released by Jiliang Tang in epinions.zip (rating.mat; columns "
        "user, product, category, rating). No timestamps; the original holds 9,826 "
        "duplicated (user, item) pairs. The trust network is not loaded here."
    ),
    source="epinions.zip (rating.mat) from Jiliang Tang's trust data set page",
    terms=_TANG_TERMS,
    rating_scale=(1.0, 5.0),
    how_to_obtain=(
        "No stable official download address is known; place Tang's epinions.zip, or its "
        "extracted epinions/ folder, in epinions_tang/ under the data home."
    ),
)

_CIAO = _DatasetInfo(
    title="Ciao (Tang et al.)",
    description=(
        "284,086 rows (1 to 5 stars) from 7,375 users on 105,114 products of ciao.co.uk, as "
        "released by Jiliang Tang in ciao.zip (rating.mat; columns user, product, category, "
        "rating, helpfulness). No timestamps; the original holds 34 zero ratings (not "
        "ratings: dropped) and 1,436 duplicated (user, item) pairs. The trust network is "
        "not loaded here."
    ),
    source="ciao.zip (rating.mat) from Jiliang Tang's trust data set page",
    terms=_TANG_TERMS,
    rating_scale=(1.0, 5.0),
    how_to_obtain=(
        "No stable official download address is known; place Tang's ciao.zip, or its "
        "extracted ciao/ folder, in ciao_tang/ under the data home."
    ),
)


def load_filmtrust(*, data_home=None, download_if_missing=True, return_X_y=False, as_frame=False):
    """Load the FilmTrust ratings (Guo, Zhang and Yorke-Smith, 2013).

    Reads ``filmtrust/ratings.txt`` (space-separated ``user item rating``) under the data
    home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the data sets; see :func:`get_data_home`.
    download_if_missing : bool, default=True
        When the file is absent, download ``ratings.txt`` from the author's LibRec
        repository (a fixed commit), checked against its sha256.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default=False
        Return X as a DataFrame (columns ``'user'``, ``'item'``) and y as a Series
        ``'rating'``; requires pandas.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (int64 (n, 2) user and item ids), ``target`` (float64 ratings),
        ``timestamps`` (None: the file has none), ``frame``, ``feature_names``,
        ``target_names``, ``rating_scale``, ``n_duplicates_dropped``,
        ``n_zero_ratings_dropped``, ``filename`` and ``DESCR``.
    (X, y) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    DataNotFoundError
        When the file is absent and could not be downloaded.

    Notes
    -----
    The 3 duplicated (user, item) pairs of the original file are resolved by the shared
    rule: the last rating in file order is kept (see :func:`drop_duplicate_ratings`),
    leaving 35,494 ratings.
    """
    candidate = _find_data_file(
        ["filmtrust/ratings.txt"],
        data_home=data_home,
        download_if_missing=download_if_missing,
        dataset_name=_FILMTRUST.title,
        how_to_obtain=_FILMTRUST.how_to_obtain,
        source_key="filmtrust",
    )
    table = _read_numeric_columns(candidate.path, delimiter=None, usecols=(0, 1, 2))
    clean = _clean_ratings(table[:, :2], table[:, 2], source=candidate.path)
    return _package(
        clean,
        info=_FILMTRUST,
        filenames=[candidate.path],
        return_X_y=return_X_y,
        as_frame=as_frame,
        id_dtype=np.int64,
    )


def load_ciaodvd(*, data_home=None, download_if_missing=True, return_X_y=False, as_frame=False):
    """Load the CiaoDVD movie ratings (Guo et al., 2014).

    Reads ``ciaodvd/movie-ratings.txt`` (comma-separated ``userID, movieID, genreID,
    reviewID, movieRating, date``) under the data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the data sets; see :func:`get_data_home`.
    download_if_missing : bool, default=True
        Accepted for a uniform interface; it has no effect, because no stable official
        download address is known for CiaoDVD. A missing file raises
        :class:`DataNotFoundError`.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default=False
        Return X as a DataFrame (columns ``'user'``, ``'item'``) and y as a Series
        ``'rating'``; requires pandas.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (int64 (n, 2) user and movie ids), ``target`` (float64 ratings),
        ``timestamps`` (int64 unix seconds of each rating's date, midnight UTC),
        ``frame``, ``feature_names``, ``target_names``, ``rating_scale``,
        ``n_duplicates_dropped``, ``n_zero_ratings_dropped``, ``filename`` and ``DESCR``.
    (X, y) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    DataNotFoundError
        When the file is absent.

    Notes
    -----
    The 320 duplicated (user, movie) pairs are resolved by the shared rule: the most
    recent rating by date is kept, and among ratings of the same date the last in file
    order (see :func:`drop_duplicate_ratings`).
    """
    candidate = _find_data_file(
        ["ciaodvd/movie-ratings.txt"],
        data_home=data_home,
        download_if_missing=download_if_missing,
        dataset_name=_CIAODVD.title,
        how_to_obtain=_CIAODVD.how_to_obtain,
    )
    try:
        table = np.loadtxt(candidate.path, delimiter=",", usecols=(0, 1, 4, 5), dtype=str, ndmin=2)
        timestamps = table[:, 3].astype("datetime64[D]").astype("datetime64[s]").astype(np.int64)
    except ValueError as exc:
        raise DataIntegrityError(f"{candidate.path} could not be read as rating data: {exc}") from None
    clean = _clean_ratings(table[:, :2], table[:, 2], timestamps=timestamps, source=candidate.path)
    return _package(
        clean,
        info=_CIAODVD,
        filenames=[candidate.path],
        return_X_y=return_X_y,
        as_frame=as_frame,
        id_dtype=np.int64,
    )


def load_epinions(*, data_home=None, download_if_missing=True, return_X_y=False, as_frame=False):
    """Load the Epinions ratings released by Tang et al. (2012).

    Reads ``epinions_tang/epinions/rating.mat`` under the data home, or, when that is
    absent, the member ``epinions/rating.mat`` of ``epinions_tang/epinions.zip``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the data sets; see :func:`get_data_home`.
    download_if_missing : bool, default=True
        Accepted for a uniform interface; it has no effect, because no stable official
        download address is known for this release. A missing file raises
        :class:`DataNotFoundError`.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default=False
        Return X as a DataFrame (columns ``'user'``, ``'item'``) and y as a Series
        ``'rating'``; requires pandas.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (int64 (n, 2) user and product ids), ``target`` (float64 ratings),
        ``timestamps`` (None: this release has none), ``frame``, ``feature_names``,
        ``target_names``, ``rating_scale``, ``n_duplicates_dropped``,
        ``n_zero_ratings_dropped``, ``filename`` and ``DESCR``.
    (X, y) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    DataNotFoundError
        When neither file is present.

    Notes
    -----
    The 9,826 duplicated (user, product) pairs are resolved by the shared rule: the last
    rating in file order is kept (see :func:`drop_duplicate_ratings`), leaving 912,441
    ratings.
    """
    return _load_tang(
        _EPINIONS,
        [
            "epinions_tang/epinions/rating.mat",
            ("epinions_tang/epinions.zip", "epinions/rating.mat"),
        ],
        data_home=data_home,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


def load_ciao(*, data_home=None, download_if_missing=True, return_X_y=False, as_frame=False):
    """Load the Ciao ratings released by Tang et al. (2012).

    Reads ``ciao_tang/ciao/rating.mat`` under the data home, or, when that is absent, the
    member ``ciao/rating.mat`` of ``ciao_tang/ciao.zip``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the data sets; see :func:`get_data_home`.
    download_if_missing : bool, default=True
        Accepted for a uniform interface; it has no effect, because no stable official
        download address is known for this release. A missing file raises
        :class:`DataNotFoundError`.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default=False
        Return X as a DataFrame (columns ``'user'``, ``'item'``) and y as a Series
        ``'rating'``; requires pandas.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (int64 (n, 2) user and product ids), ``target`` (float64 ratings),
        ``timestamps`` (None: this release has none), ``frame``, ``feature_names``,
        ``target_names``, ``rating_scale``, ``n_duplicates_dropped``,
        ``n_zero_ratings_dropped``, ``filename`` and ``DESCR``.
    (X, y) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    DataNotFoundError
        When neither file is present.

    Notes
    -----
    The release holds 34 rows with rating 0, outside the 1 to 5 scale; they are dropped
    as "not a rating" before duplicates are resolved. The remaining 1,433 duplicated
    (user, product) pairs are resolved by the shared rule: the last rating in file order
    is kept (see :func:`drop_duplicate_ratings`), leaving 282,619 ratings.
    """
    return _load_tang(
        _CIAO,
        ["ciao_tang/ciao/rating.mat", ("ciao_tang/ciao.zip", "ciao/rating.mat")],
        data_home=data_home,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


# Columns of Tang's rating.mat: user, product, category, rating[, helpfulness].
_TANG_USER, _TANG_ITEM, _TANG_RATING = 0, 1, 3


def _load_tang(info, relative_paths, *, data_home, download_if_missing, return_X_y, as_frame):
    candidate = _find_data_file(
        relative_paths,
        data_home=data_home,
        download_if_missing=download_if_missing,
        dataset_name=info.title,
        how_to_obtain=info.how_to_obtain,
    )
    try:
        with candidate.open() as file:
            rating = np.asarray(scipy.io.loadmat(file)["rating"], dtype=np.float64)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise DataIntegrityError(f"{candidate.describe()} could not be read as Tang's rating.mat: {exc}") from None
    clean = _clean_ratings(rating[:, [_TANG_USER, _TANG_ITEM]], rating[:, _TANG_RATING],
                           source=candidate.describe())
    return _package(
        clean,
        info=info,
        filenames=[candidate.describe()],
        return_X_y=return_X_y,
        as_frame=as_frame,
        id_dtype=np.int64,
    )
