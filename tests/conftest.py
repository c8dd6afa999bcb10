"""Shared fixtures: where the real data sets live, and test-sized settings."""

import os
from pathlib import Path

import numpy as np
import pytest

_SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _real_data_home():
    """The folder holding the shared real data sets, or None.

    ``SKCROSSVAE_DATA`` wins; otherwise ``../shared/datasets`` beside the project root.
    """
    env = os.environ.get("SKCROSSVAE_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(_SHARED_DATASETS)
    for path in candidates:
        if (path / "ml-100k" / "u.data").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def real_data_home():
    """Path of the real data sets; skips the test with a clear reason when absent."""
    home = _real_data_home()
    if home is None:
        pytest.skip(
            "real data not found: set SKCROSSVAE_DATA to a folder holding ml-100k/ "
            f"(looked at $SKCROSSVAE_DATA and {_SHARED_DATASETS})"
        )
    return home


@pytest.fixture(scope="session")
def low_rank_toy():
    """Ratings of a rank-2 40 x 30 matrix with a little noise (60 % observed): structure to learn."""
    rng = np.random.RandomState(4)
    full = 3 + rng.randn(40, 2) @ rng.randn(2, 30)
    users, items = np.nonzero(rng.rand(40, 30) < 0.6)
    return np.column_stack([users, items]), full[users, items] + 0.1 * rng.randn(len(users))
