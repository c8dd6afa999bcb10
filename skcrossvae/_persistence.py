"""Saving fitted estimators to one file that holds no code, and loading them back.

A model file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: its tensors
are the fitted numpy arrays and the networks' weights; its header's metadata holds one JSON
document (the format and package versions, the class name, the parameters and the fitted values
that are not arrays) and a SHA-256 digest of that document and of every array. Reading it runs
no unpickler, imports nothing named in the file and calls nothing it names: the class comes
from the package's registry of estimators, every parameter is checked against the class's
constraints before anything is built, and the networks are rebuilt by the class itself from the
checked parameters and sizes.

This module is numpy-only: torch modules are saved through their ``state_dict`` (arrays) and
rebuilt by the estimator.
"""

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError

FORMAT_NAME = "skcrossvae-estimator"
FORMAT_VERSION = 2
_DOCUMENT_KEY, _DIGEST_KEY = "skcrossvae", "sha256"
# torch.save archives (the format of skcrossvae 0.1.0.dev0 and earlier) are zip files.
_ZIP_MAGIC = b"PK\x03\x04"
# Fitted attributes are public names ending in an underscore (scikit-learn's convention).
_FITTED_NAME = re.compile(r"^[a-z][a-z0-9_]*_$")


class SavedModule:
    """The saved weights of a torch module (name -> numpy array), rebuilt by the estimator."""

    def __init__(self, state):
        self.state = state


def estimator_classes():
    """The registry: every estimator class :func:`load` may build, by name."""
    from ._crossvae import CrossFeedbackVAERegressor
    from .baselines import (
        AutoRecRegressor,
        BayesianMFRegressor,
        BiasedMFRegressor,
        ConvNCFRegressor,
        MultDAERegressor,
        MultVAERegressor,
        NCFRegressor,
        VariationalBayesMFRegressor,
    )

    classes = (CrossFeedbackVAERegressor, AutoRecRegressor, BayesianMFRegressor, BiasedMFRegressor,
               ConvNCFRegressor, MultDAERegressor, MultVAERegressor, NCFRegressor,
               VariationalBayesMFRegressor)
    return {cls.__name__: cls for cls in classes}


class _Encoder:
    """Turns parameters and fitted values into JSON values, collecting the arrays on the way.

    Tagged JSON objects have one key starting with ``$``; plain dicts keep their (string) keys.
    """

    def __init__(self):
        self.arrays = {}

    def _array(self, value, name):
        value = np.ascontiguousarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name}: cannot save an array of dtype {value.dtype}")
        self.arrays[name] = value
        return {"$array": name}

    def encode(self, value, name):
        if isinstance(value, SavedModule) or hasattr(value, "state_dict"):
            state = value.state if isinstance(value, SavedModule) else {
                key: tensor.detach().cpu().numpy() for key, tensor in value.state_dict().items()}
            return {"$module": {key: self._array(array, f"{name}.{key}") for key, array in state.items()}}
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            return {"$csr": {"shape": list(csr.shape),
                             **{part: self._array(getattr(csr, part), f"{name}.{part}")
                                for part in ("data", "indices", "indptr")}}}
        if isinstance(value, np.random.RandomState):
            _, keys, position, has_gauss, cached = value.get_state()
            return {"$random_state": {"keys": self._array(keys, f"{name}.keys"), "pos": int(position),
                                      "has_gauss": int(has_gauss), "cached": float(cached)}}
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "US" or (value.dtype.kind == "O" and all(isinstance(v, str) for v in value.flat)):
                if value.ndim != 1:
                    raise TypeError(f"{name}: cannot save a {value.ndim}-d array of strings")
                return {"$strings": [str(v) for v in value], "object": value.dtype.kind == "O"}
            return self._array(value, name)
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(item, f"{name}.{k}") for k, item in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(item, f"{name}.{k}") for k, item in enumerate(value)]
        if isinstance(value, dict):
            if not all(isinstance(key, str) and not key.startswith("$") for key in value):
                raise TypeError(f"{name}: cannot save a dict whose keys are not plain strings")
            return {key: self.encode(item, f"{name}.{key}") for key, item in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"{name}: cannot save a value of type {type(value).__name__}")


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    tags = [key for key in value if key.startswith("$")]
    if not tags:
        return {key: _decode(item, arrays) for key, item in value.items()}
    tag, body = tags[0], value[tags[0]]
    if tag == "$array":
        return arrays[body]
    if tag == "$strings":
        strings = np.array(body, dtype=str)
        return strings.astype(object) if value.get("object") else strings
    if tag == "$tuple":
        return tuple(_decode(item, arrays) for item in body)
    if tag == "$csr":
        parts = tuple(_decode(body[part], arrays) for part in ("data", "indices", "indptr"))
        return sp.csr_matrix(parts, shape=tuple(body["shape"]))
    if tag == "$random_state":
        rng = np.random.RandomState()
        rng.set_state(("MT19937", _decode(body["keys"], arrays), body["pos"], body["has_gauss"], body["cached"]))
        return rng
    if tag == "$module":
        return SavedModule({key: _decode(item, arrays) for key, item in body.items()})
    raise ValueError(f"unknown value tag {tag!r}")


def _digest(document, arrays):
    """SHA-256 of the JSON document and of every array (name, dtype, shape and bytes)."""
    digest = hashlib.sha256(document.encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_estimator(estimator, path):
    """Write a fitted ``estimator`` to ``path`` (atomically: a failed save leaves no file)."""
    from . import __version__
    from safetensors.numpy import save

    name = type(estimator).__name__
    if estimator_classes().get(name) is not type(estimator):
        raise TypeError(f"only the package's estimators can be saved; {type(estimator).__qualname__} "
                        "is not one of them (pickle it instead, from a trusted source only).")
    encoder = _Encoder()
    document = json.dumps({
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skcrossvae_version": __version__,
        "class": name,
        "params": encoder.encode(estimator.get_params(deep=False), "params"),
        "fitted": encoder.encode(estimator._fitted_state(), "fitted"),
    }, sort_keys=True)
    payload = save(encoder.arrays, metadata={_DOCUMENT_KEY: document,
                                             _DIGEST_KEY: _digest(document, encoder.arrays)})
    path = Path(os.fspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class _FileProblem(ValueError):
    """A problem with a model file; :func:`load` adds the file's name to the message."""


def _read_document(data):
    """The JSON document, the stored digest and the arrays of a model file's bytes."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_arrays

    if not data:
        raise _FileProblem("the file is empty")
    if data.startswith(_ZIP_MAGIC):
        raise _FileProblem(
            "it is a torch.save archive, the model format of skcrossvae 0.1.0.dev0 and earlier, which "
            "this version does not read (reading it takes an unpickler). Fit the model again with this "
            "version and save it: the new format holds no code and is checked when loaded")
    header_length = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if not 2 <= header_length <= len(data) - 8:
        raise _FileProblem("it is not a skcrossvae model file (no safetensors header)")
    try:
        header = json.loads(data[8:8 + header_length])
        metadata = header.get("__metadata__") or {}
        document = json.loads(metadata[_DOCUMENT_KEY])
        arrays = load_arrays(data)
    except (SafetensorError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _FileProblem(f"it is not a readable skcrossvae model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise _FileProblem("it is a safetensors file but not a skcrossvae model file")
    return document, metadata[_DOCUMENT_KEY], metadata.get(_DIGEST_KEY), arrays


def _check_version(document):
    from . import __version__

    version, writer = document.get("format_version"), document.get("skcrossvae_version", "unknown")
    if version == FORMAT_VERSION:
        return
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise _FileProblem(
            f"it was written by skcrossvae {writer} in model format {version}; this version "
            f"({__version__}) reads format {FORMAT_VERSION}. Upgrade skcrossvae to load it")
    raise _FileProblem(
        f"it was written by skcrossvae {writer} in model format {version!r}; this version "
        f"({__version__}) reads format {FORMAT_VERSION}. Load it with skcrossvae {writer} and refit, "
        "or fit the model again with this version and save it")


def _build(document, arrays, expected):
    classes = estimator_classes()
    name = document.get("class")
    if name not in classes:
        raise _FileProblem(f"it names class {name!r}, which is not an estimator of skcrossvae "
                           f"(known: {', '.join(sorted(classes))})")
    cls = classes[name]
    if expected is not None and not issubclass(cls, expected):
        wanted = " or ".join(c.__name__ for c in (expected if isinstance(expected, tuple) else (expected,)))
        raise _FileProblem(f"it holds a {name}, not a {wanted}")
    params = _decode(document.get("params"), arrays)
    estimator = cls()
    known = set(estimator.get_params(deep=False))
    if not isinstance(params, dict) or set(params) != known:
        given = set(params) if isinstance(params, dict) else set()
        raise _FileProblem(
            f"its {name} parameters do not match this version's (missing: {sorted(known - given)}, "
            f"unknown: {sorted(given - known)}); it was written by skcrossvae "
            f"{document.get('skcrossvae_version', 'unknown')}")
    estimator.set_params(**params)
    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        raise _FileProblem(f"{exc} (a value this version no longer takes? it was written by skcrossvae "
                           f"{document.get('skcrossvae_version', 'unknown')})") from None
    fitted = _decode(document.get("fitted"), arrays)
    if not isinstance(fitted, dict) or not fitted:
        raise _FileProblem("it holds no fitted state")
    bad = sorted(key for key in fitted if not _FITTED_NAME.match(key) or hasattr(cls, key))
    if bad:
        raise _FileProblem(f"it holds fitted values under names that are not fitted attributes: {bad[:5]}")
    estimator._restore_fitted_state(fitted)
    return estimator


def load(path, expected=None):
    """Load an estimator saved with ``estimator.save(path)``.

    Parameters
    ----------
    path : str or path-like
        File written by :meth:`~skcrossvae.CrossFeedbackVAERegressor.save` (or the same method
        of any estimator of the package).
    expected : class or tuple of classes, default=None
        The estimator class(es) the file must hold; another class raises a ``ValueError``.
        None accepts any estimator of the package.

    Returns
    -------
    estimator : estimator instance
        The fitted estimator, with its networks on the CPU (``device_`` is ``'cpu'``).

    Raises
    ------
    ValueError
        When the file is empty, damaged (its checksum does not match), not a model file, of
        another format version, holds another class than ``expected``, or holds parameters or
        fitted values this version cannot use. The message names the file and the problem.

    Notes
    -----
    Loading executes nothing from the file: it holds arrays and one JSON document, the class is
    looked up by name among the package's estimators (:func:`estimator_classes`), the stored
    parameters are validated by that class before anything is built, and its networks are
    rebuilt by the class from those parameters and the fitted sizes, then filled with the
    stored weights. A SHA-256 digest over the document and every array detects damaged files.

    Examples
    --------
    >>> import tempfile, os
    >>> import skcrossvae
    >>> from skcrossvae.baselines import BiasedMFRegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(30, 20, n_ratings=300, random_state=0)
    >>> model = BiasedMFRegressor(max_iter=3, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skcv")
    >>> model.save(path)
    >>> restored = skcrossvae.load(path, expected=BiasedMFRegressor)
    >>> bool((restored.predict(X) == model.predict(X)).all())
    True
    """
    path = Path(os.fspath(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read model file {path}: {exc}") from None
    try:
        document, raw_document, stored_digest, arrays = _read_document(data)
        _check_version(document)
        if stored_digest != _digest(raw_document, arrays):
            raise _FileProblem("it is damaged: its checksum does not match its contents")
        return _build(document, arrays, expected)
    except (_FileProblem, ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        # Every problem of a file that passed the checksum but holds values this version cannot
        # use (a crafted or foreign file) also ends here, as one clear error naming the file.
        message = str(exc) if isinstance(exc, _FileProblem) else f"{type(exc).__name__}: {exc}"
        raise ValueError(f"cannot load model file {path}: {message}.") from None
