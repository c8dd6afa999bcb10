"""Rating data sets: loaders for public benchmarks and a synthetic generator.

Loaders read files under a data home folder (``data_home`` argument, else the
``SKCROSSVAE_DATA`` environment variable, else ``~/skcrossvae_data``) and download them
from the official address only when they are missing, downloads are allowed and an
address is known. Every loader applies the same cleaning rules: ratings of 0 are dropped,
and of a duplicated (user, item) pair only the last rating is kept (the most recent where
timestamps exist); see :func:`drop_duplicate_ratings`. :func:`ratings_from_frame` turns a
table of your own ratings into the ``(X, y)`` the estimators take.
"""

from ._amazon import load_amazon
from ._frame import ratings_from_frame
from ._home import DataIntegrityError, DataNotFoundError, get_data_home
from ._movielens import load_movielens
from ._ratings import drop_duplicate_ratings
from ._social import load_ciao, load_ciaodvd, load_epinions, load_filmtrust
from ._synthetic import make_ratings

__all__ = [
    "DataIntegrityError",
    "DataNotFoundError",
    "drop_duplicate_ratings",
    "get_data_home",
    "load_amazon",
    "load_ciao",
    "load_ciaodvd",
    "load_epinions",
    "load_filmtrust",
    "load_movielens",
    "make_ratings",
    "ratings_from_frame",
]
