"""Where data sets live on disk, and how a missing one is fetched.

Every loader goes through :func:`_find_data_file`: it looks for the expected files under
the data home and, only when they are absent and downloads are allowed, fetches them from
the address in :data:`REMOTE_SOURCES`. Nothing here touches the network at import time.
"""

import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DATA_HOME_ENV_VAR = "SKCROSSVAE_DATA"
DEFAULT_DATA_HOME = "~/skcrossvae_data"

_DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20
# Temporary names start with a dot so that a crash mid-download never leaves a file that
# looks like data; they are removed on every exit path anyway.
_TEMP_PREFIX = ".skcrossvae-"
# Failures of the transfer itself (offline, refused, HTTP error status, cut short); disk
# errors are not among them and propagate unchanged.
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class DataNotFoundError(FileNotFoundError):
    """A data set is not on disk and could not be downloaded.

    The message names every place that was looked at and how to fix it: pass
    ``data_home``, set the ``SKCROSSVAE_DATA`` environment variable, or allow downloads.
    """


class DataIntegrityError(OSError):
    """A downloaded or local archive failed verification (checksum, zip integrity, content).

    Nothing unverified is left in the data home when this is raised by a download.
    """


@dataclass(frozen=True)
class _RemoteSource:
    """One official download address.

    Attributes
    ----------
    url : str
        The address the file is fetched from.
    sha256 : str or None
        Published hex digest of the downloaded bytes. ``None`` (archives only) means the
        digest is not known to us: the download is then verified only by the zip's own
        CRC checks and the presence of ``provides`` inside it.
    provides : str
        Path, relative to the data home and with ``/`` separators, of the file the loader
        reads. For an archive, it is the member that must be inside it (members are
        extracted under the data home with their own paths); for a single file, where it
        is stored.
    archive : bool
        Whether ``url`` points at a zip archive.
    """

    url: str
    sha256: str | None
    provides: str
    archive: bool

    def __post_init__(self):
        # A plain file has no internal checks: without a digest, an error page served
        # with status 200 would be stored as data.
        if not self.archive and self.sha256 is None:
            raise ValueError(f"single-file source {self.url} needs a sha256")


# One registry for every download address, so tests can point an entry at a local server.
# MovieLens digests: the sha256 values recorded by TensorFlow Datasets
# (tensorflow_datasets/url_checksums/movielens.txt) for the official GroupLens archives.
# No published sha256 is known to us for ml-10m.zip. ml-latest-small.zip is deliberately
# unpinned: GroupLens states that the "latest" data sets change over time.
# Amazon 2018 digests: as recorded by the OmniRec project (ISG-Siegen/OmniRec) for the
# files at the McAuley lab address. FilmTrust: the author's LibRec repository at a fixed
# commit; its digest is that of the verified copy described in the docs.
REMOTE_SOURCES = {
    "ml-100k": _RemoteSource(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        provides="ml-100k/u.data",
        archive=True,
    ),
    "ml-1m": _RemoteSource(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        provides="ml-1m/ratings.dat",
        archive=True,
    ),
    "ml-10m": _RemoteSource(
        url="https://files.grouplens.org/datasets/movielens/ml-10m.zip",
        sha256=None,
        provides="ml-10M100K/ratings.dat",
        archive=True,
    ),
    "ml-20m": _RemoteSource(
        url="https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        provides="ml-20m/ratings.csv",
        archive=True,
    ),
    "ml-latest-small": _RemoteSource(
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        sha256=None,
        provides="ml-latest-small/ratings.csv",
        archive=True,
    ),
    "amazon-pet_supplies": _RemoteSource(
        url=(
            "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2/"
            "categoryFilesSmall/Pet_Supplies.csv"
        ),
        sha256="dac12cc077131bdf1c951cc0cc2016d6381e6b52eb65a3cb98456ce82a3c6bd9",
        provides="amazon/Pet_Supplies.csv",
        archive=False,
    ),
    "amazon-kindle_store": _RemoteSource(
        url=(
            "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2/"
            "categoryFilesSmall/Kindle_Store.csv"
        ),
        sha256="f2fac32f72f51857f164c2c1671db141f06b2649608ebf1af2efba02a2fb219b",
        provides="amazon/Kindle_Store.csv",
        archive=False,
    ),
    "filmtrust": _RemoteSource(
        url=(
            "https://raw.githubusercontent.com/guoguibing/librec/"
            "6189e1988e707f683faeb5195e6164b41a40d4de/"
            "librec/demo/Datasets/FilmTrust/ratings.txt"
        ),
        sha256="241167424e24d588e8871d68641e94ead98d5b3a4f0db01ef3181a74ad35e7a1",
        provides="filmtrust/ratings.txt",
        archive=False,
    ),
}


# The sha256 of files the loaders read, as published (recorded from the original files; see
# docs/datasets.rst). Every load verifies a file found at one of these paths, so a truncated or
# damaged copy is reported instead of loading part of the data. Files extracted from a
# downloaded archive are verified against the digests recorded at extraction
# (``_MANIFEST_NAME`` in the archive's folder).
KNOWN_FILE_DIGESTS = {
    "ml-100k/u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "ml-100k/u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "ml-100k/u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "ml-100k/u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "ml-100k/u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "ml-100k/u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "ml-100k/u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "ml-100k/u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "ml-100k/u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "ml-100k/u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "ml-100k/u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ml-100k/ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ml-100k/ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ml-100k/ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ml-100k/ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
    "filmtrust/ratings.txt": "241167424e24d588e8871d68641e94ead98d5b3a4f0db01ef3181a74ad35e7a1",
    "ciaodvd/movie-ratings.txt": "f29bbacaab826da85445757e2b0c45c293864dc9efc9d3cd27e604ba09a7cf6e",
    "ciao_tang/ciao.zip": "dee78c18b4a0843791e82b522f632a1166296e6048537b13b18c281a12e8f741",
    "epinions_tang/epinions.zip": "7eb45830d7cbae511913ed20e82ab4f56760a5e54380dbde7b9e3f9439b53b9a",
    "amazon/Pet_Supplies.csv": "dac12cc077131bdf1c951cc0cc2016d6381e6b52eb65a3cb98456ce82a3c6bd9",
    "amazon/Kindle_Store.csv": "f2fac32f72f51857f164c2c1671db141f06b2649608ebf1af2efba02a2fb219b",
}
_MANIFEST_NAME = ".skcrossvae-digests.json"


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_digest(home, relative):
    """The recorded sha256 of ``home / relative`` (a posix path), or None when none is known."""
    folder, _, inside = relative.partition("/")
    manifest = home / folder / _MANIFEST_NAME
    if inside and manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text()).get(inside)
        except (ValueError, AttributeError) as exc:
            raise DataIntegrityError(f"{manifest} is not a readable digest record ({exc}); delete it.") from exc
        if recorded:
            return recorded
    return KNOWN_FILE_DIGESTS.get(relative)


def _verify(candidate, home):
    """Raise DataIntegrityError when a found file differs from its recorded digest."""
    try:
        relative = candidate.path.relative_to(home).as_posix()
    except ValueError:
        return
    expected = _expected_digest(home, relative)
    if expected is None:
        return
    actual = _file_sha256(candidate.path)
    if actual != expected:
        raise DataIntegrityError(
            f"{candidate.path} has sha256 {actual}, but the published file has {expected}: it is "
            "truncated, damaged or another version. Delete it to download it again (where an "
            "address is known), or replace it with the official file."
        )


def get_data_home(data_home=None):
    """Return the folder where data sets are looked for and downloaded to.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. When ``None``, the ``SKCROSSVAE_DATA`` environment variable is
        used if it is set and non-empty, else ``~/skcrossvae_data``. A leading ``~`` is
        expanded.

    Returns
    -------
    data_home : pathlib.Path
        The resolved folder. It is not created here (reading needs no folder of our own);
        a download creates it.

    Examples
    --------
    >>> from skcrossvae.datasets import get_data_home
    >>> str(get_data_home("/srv/data"))
    '/srv/data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV_VAR) or DEFAULT_DATA_HOME
    return Path(os.path.expanduser(os.fspath(data_home)))


def _data_home_origin(data_home):
    """Say where the data home came from, for error messages."""
    if data_home is not None:
        return "the data_home argument"
    if os.environ.get(DATA_HOME_ENV_VAR):
        return f"the {DATA_HOME_ENV_VAR} environment variable"
    return f"the default {DEFAULT_DATA_HOME} ({DATA_HOME_ENV_VAR} is not set)"


@dataclass(frozen=True)
class _Candidate:
    """A place a data file may be: a plain file, or a member of a zip archive."""

    path: Path
    member: str | None = None

    def describe(self):
        if self.member is None:
            return str(self.path)
        return f"{self.member} inside {self.path}"

    def exists(self):
        if not self.path.is_file():
            return False
        if self.member is None:
            return True
        try:
            with zipfile.ZipFile(self.path) as archive:
                return self.member in archive.namelist()
        except zipfile.BadZipFile as exc:
            raise DataIntegrityError(f"{self.path} is not a valid zip archive") from exc

    def open(self):
        """Open for binary reading (the zip member when there is one)."""
        if self.member is None:
            return open(self.path, "rb")
        archive = zipfile.ZipFile(self.path)
        try:
            # ZipFile.open keeps the archive's file handle alive until the member closes.
            return archive.open(self.member)
        finally:
            archive.close()


def _find_data_file(
    relative_paths,
    *,
    data_home,
    download_if_missing,
    dataset_name,
    how_to_obtain,
    source_key=None,
):
    """Return the first existing candidate, downloading it when allowed and known.

    Parameters
    ----------
    relative_paths : sequence of str or (str, str)
        Candidates under the data home, in order of preference, with ``/`` separators.
        A pair ``(archive, member)`` names a member of a zip archive.
    data_home : str, path-like or None
        As in :func:`get_data_home`.
    download_if_missing : bool
        Whether a missing file may be downloaded from ``REMOTE_SOURCES[source_key]``.
    dataset_name : str
        Human-readable name for the error message.
    how_to_obtain : str
        One sentence on where to get the files by hand.
    source_key : str or None
        Key into :data:`REMOTE_SOURCES`; ``None`` when no download address is known.

    Returns
    -------
    candidate : _Candidate

    Raises
    ------
    DataNotFoundError
        When no candidate exists and no download could provide one.
    DataIntegrityError
        When a download fails verification, or does not provide any candidate.
    """
    home = get_data_home(data_home)
    candidates = [
        _Candidate(home / path) if isinstance(path, str) else _Candidate(home / path[0], path[1])
        for path in relative_paths
    ]
    for candidate in candidates:
        if candidate.exists():
            _verify(candidate, home)
            return candidate

    # Looked up at call time so that tests can swap an entry for a local address.
    source = REMOTE_SOURCES.get(source_key) if source_key is not None else None
    if source is None:
        reason = (
            "No download address is known for this data set "
            "(download_if_missing has no effect for it)."
        )
    elif not download_if_missing:
        reason = f"Downloads are disabled (download_if_missing=False); the address is {source.url}"
    else:
        try:
            _download(source, home)
        except _NETWORK_ERRORS as exc:
            reason = f"Downloading {source.url} failed: {exc}"
            raise DataNotFoundError(
                _not_found_message(dataset_name, candidates, home, data_home, how_to_obtain, reason)
            ) from exc
        for candidate in candidates:
            if candidate.exists():
                _verify(candidate, home)
                return candidate
        raise DataIntegrityError(
            f"The download from {source.url} did not provide any of: "
            + ", ".join(candidate.describe() for candidate in candidates)
        )
    raise DataNotFoundError(
        _not_found_message(dataset_name, candidates, home, data_home, how_to_obtain, reason)
    )


def _not_found_message(dataset_name, candidates, home, data_home, how_to_obtain, reason):
    looked_at = "\n".join(f"  - {candidate.describe()}" for candidate in candidates)
    return (
        f"{dataset_name} was not found. Looked at:\n{looked_at}\n"
        f"(data home {home}, from {_data_home_origin(data_home)}).\n"
        f"{reason}\n"
        f"{how_to_obtain}\n"
        "To fix: put the files at one of the places above, or pass data_home=... or set the "
        f"{DATA_HOME_ENV_VAR} environment variable to a folder that holds them, or allow "
        "downloads (download_if_missing=True) where an address is known."
    )


def _download(source, home):
    """Fetch ``source`` into ``home`` atomically: verify first, then move into place.

    The bytes go to a temporary file beside their destination; only after the checksum
    (or, for an unpinned archive, the zip integrity) is verified are they moved with
    :func:`os.replace`. On any failure the temporary files, and any folder created for
    them, are removed.
    """
    destination = home / PurePosixPath(source.provides)
    staging_dir = home if source.archive else destination.parent
    created_dirs = _make_dirs(staging_dir)
    fd, partial_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=staging_dir)
    partial = Path(partial_name)
    succeeded = False
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream_to(source.url, out)
        if source.sha256 is not None and digest != source.sha256.lower():
            raise DataIntegrityError(
                f"The file downloaded from {source.url} has sha256 {digest}, but "
                f"{source.sha256} was expected; it was discarded. The transfer may have been "
                "corrupted or the server may now serve another file: retry, or place the "
                f"file at {destination} by hand."
            )
        if source.archive:
            _extract_archive(partial, home, source)
        else:
            os.replace(partial, destination)
        succeeded = True
    finally:
        partial.unlink(missing_ok=True)
        if not succeeded:
            for folder in reversed(created_dirs):
                _remove_if_empty(folder)


def _stream_to(url, out):
    """Copy the response body of ``url`` into ``out``; return its sha256 hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": "skcrossvae"})
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()  # an error status still holds the connection open until closed
        raise
    with response:
        while chunk := response.read(_CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _extract_archive(archive_path, home, source):
    """Extract a verified zip into a temporary folder, then move its files into ``home``.

    Every member must lie in the folder of the file the loader reads (``ml-10M100K/`` for
    ``ml-10M100K/ratings.dat``), so an archive can never write over another data set's files.
    The sha256 of each extracted file is recorded in that folder's ``_MANIFEST_NAME``, which
    later loads verify against. The file the loader reads (``source.provides``) is moved last,
    so its presence means every other member is already in place.
    """
    folder = PurePosixPath(source.provides).parts[0]
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [name for name in archive.namelist() if not name.endswith("/")]
            unsafe = [name for name in members
                      if _is_unsafe_member(name) or PurePosixPath(name).parts[0] != folder
                      or PurePosixPath(name).name == _MANIFEST_NAME]
            if unsafe:
                raise DataIntegrityError(
                    f"The archive from {source.url} has members outside its folder {folder}/: {unsafe[:3]}"
                )
            if source.provides not in members:
                raise DataIntegrityError(
                    f"The archive from {source.url} does not contain {source.provides}"
                )
            staging = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, suffix=".extract", dir=home))
            try:
                # extractall checks every member's CRC as it reads it.
                archive.extractall(staging)
                digests = {PurePosixPath(name).relative_to(folder).as_posix():
                           _file_sha256(staging / PurePosixPath(name)) for name in members}
                manifest = home / folder / _MANIFEST_NAME
                manifest.parent.mkdir(parents=True, exist_ok=True)
                manifest.write_text(json.dumps(digests, indent=1, sort_keys=True))
                for name in sorted(members, key=lambda name: name == source.provides):
                    final = home / PurePosixPath(name)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging / PurePosixPath(name), final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as exc:
        raise DataIntegrityError(
            f"The archive downloaded from {source.url} is corrupt ({exc}); it was discarded."
        ) from exc


def _is_unsafe_member(name):
    path = PurePosixPath(name)
    return path.is_absolute() or ".." in path.parts or ":" in path.parts[0]


def _make_dirs(folder):
    """Create ``folder`` and missing parents; return the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    missing.reverse()
    for path in missing:
        path.mkdir(exist_ok=True)
    return missing


def _remove_if_empty(folder):
    try:
        folder.rmdir()
    except OSError:
        pass
