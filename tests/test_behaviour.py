"""The package's behaviour checks (:mod:`skcrossvae.testing`) over every estimator (new ones are
found automatically), and the settings of an estimator that change what the checks see."""

from skcrossvae.baselines import AutoRecRegressor
from skcrossvae.testing import parametrize_with_rating_checks

from _estimators import all_estimators, fast_instance

INSTANCES = [fast_instance(cls) for cls in all_estimators()] + [fast_instance(AutoRecRegressor, side="user")]


@parametrize_with_rating_checks(INSTANCES)
def test_rating_estimator(estimator, check):
    check(estimator)
