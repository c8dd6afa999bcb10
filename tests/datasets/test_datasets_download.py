"""Data-home resolution, downloads, checksums and the cache, against a local HTTP server."""

import dataclasses
import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from skcrossvae.datasets import (
    DataIntegrityError,
    DataNotFoundError,
    get_data_home,
    load_ciao,
    load_epinions,
    load_filmtrust,
    load_movielens,
)
from skcrossvae.datasets import _home

# A tiny stand-in for ml-100k.zip: same layout, a few rows.
_U_DATA = "1\t10\t4\t881250949\n2\t10\t3\t891717742\n2\t20\t5\t878887116\n3\t30\t1\t880606923\n"
_U1_BASE = "1\t10\t4\t881250949\n2\t10\t3\t891717742\n2\t20\t5\t878887116\n"
_U1_TEST = "3\t30\t1\t880606923\n"
_FILMTRUST = b"1 1 2\n1 2 4\n2 1 3.5\n"

_PROXY_VARIABLES = (
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"
)


def _zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _ml100k_zip():
    return _zip_bytes(
        {
            "ml-100k/README": "tiny test archive\n",
            "ml-100k/u.data": _U_DATA,
            "ml-100k/u1.base": _U1_BASE,
            "ml-100k/u1.test": _U1_TEST,
        }
    )


def _all_files(folder):
    if not folder.exists():
        return []
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


@pytest.fixture
def file_server(monkeypatch):
    """Serve in-memory files on 127.0.0.1 (ephemeral port); record every request path."""
    for variable in _PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    files, hits = {}, []

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # bounds a stuck client connection

        def do_GET(self):
            hits.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", files=files, hits=hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _serve(monkeypatch, server, key, path, body, sha256):
    """Point the registry entry ``key`` at ``path`` on the local server."""
    server.files[path] = body
    source = dataclasses.replace(_home.REMOTE_SOURCES[key], url=server.url + path, sha256=sha256)
    monkeypatch.setitem(_home.REMOTE_SOURCES, key, source)


# --- data home resolution --------------------------------------------------------------


def test_data_home_argument_wins_over_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SKCROSSVAE_DATA", str(tmp_path / "from_env"))
    assert get_data_home(tmp_path / "given") == tmp_path / "given"


def test_environment_variable_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("SKCROSSVAE_DATA", str(tmp_path))
    assert get_data_home() == tmp_path
    (tmp_path / "filmtrust").mkdir()
    (tmp_path / "filmtrust" / "ratings.txt").write_bytes(_FILMTRUST)
    X, y = load_filmtrust(download_if_missing=False, return_X_y=True)
    assert X.tolist() == [[1, 1], [1, 2], [2, 1]]
    assert y.tolist() == [2.0, 4.0, 3.5]


@pytest.mark.parametrize("environment", [None, ""])
def test_default_data_home_is_in_the_home_folder(environment, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    if environment is None:
        monkeypatch.delenv("SKCROSSVAE_DATA", raising=False)
    else:
        monkeypatch.setenv("SKCROSSVAE_DATA", environment)
    assert get_data_home() == tmp_path / "skcrossvae_data"
    assert get_data_home("~/elsewhere") == tmp_path / "elsewhere"
    assert not (tmp_path / "skcrossvae_data").exists(), "resolving must not create folders"


# --- downloads -------------------------------------------------------------------------


def test_download_verifies_extracts_and_caches(file_server, tmp_path, monkeypatch):
    archive = _ml100k_zip()
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, _sha256(archive))
    home = tmp_path / "cache"

    bunch = load_movielens("100k", data_home=home)
    assert file_server.hits == ["/ml-100k.zip"]
    assert bunch.data.tolist() == [[1, 10], [2, 10], [2, 20], [3, 30]]
    assert bunch.target.tolist() == [4.0, 3.0, 5.0, 1.0]
    assert bunch.timestamps.dtype == np.int64
    # The archive's files are in place; no archive or temporary file is left behind.
    assert _all_files(home) == [
        "ml-100k",
        "ml-100k/.skcrossvae-digests.json",
        "ml-100k/README",
        "ml-100k/u.data",
        "ml-100k/u1.base",
        "ml-100k/u1.test",
    ]

    # Second call and the split come from the cache: the server is not asked again.
    load_movielens("100k", data_home=home)
    X_train, X_test, y_train, y_test = load_movielens(
        "100k", data_home=home, split="u1", return_X_y=True
    )
    assert file_server.hits == ["/ml-100k.zip"]
    assert X_train.shape == (3, 2) and X_test.tolist() == [[3, 30]]
    assert y_train.tolist() == [4.0, 3.0, 5.0] and y_test.tolist() == [1.0]


def test_wrong_checksum_raises_and_leaves_no_file(file_server, tmp_path, monkeypatch):
    archive = _ml100k_zip()
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, "0" * 64)
    home = tmp_path / "cache"
    with pytest.raises(DataIntegrityError, match="sha256") as excinfo:
        load_movielens("100k", data_home=home)
    assert _sha256(archive) in str(excinfo.value)
    assert _all_files(home) == []
    assert not home.exists(), "the folder created for the download is removed again"


def test_wrong_checksum_in_existing_folder_keeps_other_files(file_server, tmp_path, monkeypatch):
    archive = _ml100k_zip()
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, "f" * 64)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataIntegrityError):
        load_movielens("100k", data_home=tmp_path)
    assert _all_files(tmp_path) == ["notes.txt"]


def test_corrupt_unpinned_archive_raises_and_leaves_no_file(file_server, tmp_path, monkeypatch):
    truncated = _ml100k_zip()[:-40]
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", truncated, None)
    with pytest.raises(DataIntegrityError, match="corrupt"):
        load_movielens("100k", data_home=tmp_path)
    assert _all_files(tmp_path) == []


def test_archive_without_expected_file_is_rejected(file_server, tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/README": "no ratings here\n"})
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, None)
    with pytest.raises(DataIntegrityError, match="does not contain ml-100k/u.data"):
        load_movielens("100k", data_home=tmp_path)
    assert _all_files(tmp_path) == []


def test_archive_escaping_its_folder_is_rejected(file_server, tmp_path, monkeypatch):
    archive = _zip_bytes({"ml-100k/u.data": _U_DATA, "../escaped.txt": "x"})
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, None)
    home = tmp_path / "cache"
    with pytest.raises(DataIntegrityError, match="outside its folder"):
        load_movielens("100k", data_home=home)
    assert _all_files(tmp_path) == []


def test_single_file_download_and_checksum(file_server, tmp_path, monkeypatch):
    _serve(monkeypatch, file_server, "filmtrust", "/ratings.txt", _FILMTRUST, _sha256(_FILMTRUST))
    X, y = load_filmtrust(data_home=tmp_path, return_X_y=True)
    assert X.shape == (3, 2)
    assert _all_files(tmp_path) == ["filmtrust", "filmtrust/ratings.txt"]

    bad_home = tmp_path / "bad"
    _serve(monkeypatch, file_server, "filmtrust", "/ratings.txt", _FILMTRUST, "a" * 64)
    with pytest.raises(DataIntegrityError, match="sha256"):
        load_filmtrust(data_home=bad_home)
    assert not bad_home.exists()


def test_server_error_is_a_clear_not_found_error(file_server, tmp_path, monkeypatch):
    source = dataclasses.replace(
        _home.REMOTE_SOURCES["ml-100k"], url=file_server.url + "/missing.zip"
    )
    monkeypatch.setitem(_home.REMOTE_SOURCES, "ml-100k", source)
    with pytest.raises(DataNotFoundError) as excinfo:
        load_movielens("100k", data_home=tmp_path)
    message = str(excinfo.value)
    assert "missing.zip failed" in message and "404" in message
    assert str(tmp_path / "ml-100k" / "u.data") in message
    assert _all_files(tmp_path) == []


def test_disabled_download_names_every_place_looked_at(file_server, tmp_path, monkeypatch):
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", _ml100k_zip(), None)
    monkeypatch.delenv("SKCROSSVAE_DATA", raising=False)
    with pytest.raises(DataNotFoundError) as excinfo:
        load_movielens("100k", data_home=tmp_path, download_if_missing=False)
    message = str(excinfo.value)
    assert str(tmp_path / "ml-100k" / "u.data") in message
    assert "data_home argument" in message
    for fix in ("data_home=", "SKCROSSVAE_DATA", "download_if_missing=True"):
        assert fix in message
    assert file_server.hits == []
    assert isinstance(excinfo.value, FileNotFoundError)


def test_not_found_error_says_where_the_data_home_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv("SKCROSSVAE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="SKCROSSVAE_DATA environment variable"):
        load_movielens("1m", download_if_missing=False)


@pytest.mark.parametrize(
    "loader, places",
    [
        (load_epinions, ["epinions_tang/epinions/rating.mat", "epinions/rating.mat inside"]),
        (load_ciao, ["ciao_tang/ciao/rating.mat", "ciao/rating.mat inside"]),
    ],
)
def test_loader_without_address_never_downloads(loader, places, tmp_path):
    with pytest.raises(DataNotFoundError, match="No download address is known") as excinfo:
        loader(data_home=tmp_path, download_if_missing=True)
    for place in places:
        assert place in str(excinfo.value)
    assert _all_files(tmp_path) == []


def test_single_file_source_must_be_pinned():
    with pytest.raises(ValueError, match="needs a sha256"):
        _home._RemoteSource(url="http://x/y.csv", sha256=None, provides="y.csv", archive=False)


def test_nothing_is_fetched_when_the_file_is_present(tmp_path, monkeypatch):
    source = dataclasses.replace(
        _home.REMOTE_SOURCES["filmtrust"], url="http://127.0.0.1:9/unreachable"
    )
    monkeypatch.setitem(_home.REMOTE_SOURCES, "filmtrust", source)
    (tmp_path / "filmtrust").mkdir()
    (tmp_path / "filmtrust" / "ratings.txt").write_bytes(_FILMTRUST)
    assert load_filmtrust(data_home=tmp_path).data.shape == (3, 2)


def test_registry_entries_are_consistent():
    for key, source in _home.REMOTE_SOURCES.items():
        assert source.url.startswith("https://"), key
        assert source.sha256 is None or len(source.sha256) == 64, key
        assert Path(source.provides).parts[0] in {
            "ml-100k", "ml-1m", "ml-10M100K", "ml-20m", "ml-latest-small", "amazon", "filmtrust"
        }, key


def test_a_cached_file_damaged_after_the_download_is_refused(file_server, tmp_path, monkeypatch):
    archive = _ml100k_zip()
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, _sha256(archive))
    load_movielens("100k", data_home=tmp_path)
    ratings = tmp_path / "ml-100k" / "u.data"
    ratings.write_text(_U_DATA.splitlines()[0] + "\n")  # truncated to one rating
    with pytest.raises(DataIntegrityError, match=r"u.data has sha256 .* truncated, damaged"):
        load_movielens("100k", data_home=tmp_path)
    ratings.write_text("")
    with pytest.raises(DataIntegrityError, match="u.data has sha256"):
        load_movielens("100k", data_home=tmp_path)
    assert file_server.hits == ["/ml-100k.zip"]


@pytest.mark.parametrize("content", ["", "1\t10\t4\t881250949\n"], ids=["empty", "truncated"])
def test_a_damaged_copy_of_a_published_file_is_refused(content, tmp_path, published_digests):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text(content)
    with pytest.raises(DataIntegrityError, match=published_digests["ml-100k/u.data"]):
        load_movielens("100k", data_home=tmp_path, download_if_missing=False)


def test_an_unpinned_archive_cannot_write_over_another_data_set(file_server, tmp_path, monkeypatch):
    (tmp_path / "filmtrust").mkdir()
    (tmp_path / "filmtrust" / "ratings.txt").write_text("1 1 2\n")
    archive = _zip_bytes({"ml-100k/u.data": _U_DATA, "filmtrust/ratings.txt": "9 9 9\n"})
    _serve(monkeypatch, file_server, "ml-100k", "/ml-100k.zip", archive, None)
    with pytest.raises(DataIntegrityError, match=r"outside its folder ml-100k/: \['filmtrust/ratings.txt'\]"):
        load_movielens("100k", data_home=tmp_path)
    assert (tmp_path / "filmtrust" / "ratings.txt").read_text() == "1 1 2\n"
    assert not (tmp_path / "ml-100k").exists()
