"""Loader tests write small stand-ins at the official paths; only real-data tests check digests."""

import pytest

from skcrossvae.datasets import _home


@pytest.fixture(autouse=True)
def stand_ins_at_official_paths(request, monkeypatch):
    """Without the real data, files at the official paths are the tests' own stand-ins: the
    published digests would refuse them. Tests of the real files keep the digests."""
    if "real_data_home" not in request.fixturenames and "published_digests" not in request.fixturenames:
        monkeypatch.setattr(_home, "KNOWN_FILE_DIGESTS", {})


@pytest.fixture
def published_digests():
    """Keep the published digests for a test that writes its own files."""
    return _home.KNOWN_FILE_DIGESTS
