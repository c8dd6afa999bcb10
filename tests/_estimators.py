"""The package's estimators, found automatically, and test-sized instances of them."""

import inspect

import skcrossvae
from skcrossvae import baselines
from skcrossvae._base import BaseRatingEstimator

# Test-sized settings per parameter name; each estimator takes those it has.
_FAST = dict(
    max_iter=2, batch_size=16, n_components=3, encoder_layer_sizes=(4, 3), final_iter=1,
    hidden_layer_sizes=(4,), random_state=0, device="cpu", n_samples=3, burn_in=1,
)


def all_estimators(include_baselines=True):
    """Every public estimator class of the package, found by walking the public namespaces.

    ``tests/test_behaviour.py`` takes the top-level ones only: the baselines' suite in
    ``tests/baselines/`` runs the same checks over them with baseline-specific variants.
    """
    namespaces = [skcrossvae] + ([baselines] if include_baselines else [])
    found = {}
    for namespace in namespaces:
        for name in namespace.__all__:
            obj = getattr(namespace, name)
            if inspect.isclass(obj) and issubclass(obj, BaseRatingEstimator):
                found[name] = obj
    return [found[name] for name in sorted(found)]


def fast_instance(cls, **overrides):
    """An instance with test-sized settings for the parameters the class has."""
    accepted = inspect.signature(cls).parameters
    settings = {key: value for key, value in _FAST.items() if key in accepted}
    settings.update(overrides)
    return cls(**settings)
