"""Safe, self-contained save and load of fitted estimators.

The file is a ``torch.save`` archive of tensors and plain containers only, so ``torch.load`` can
read it with ``weights_only=True``: loading never runs pickled code. numpy arrays, sparse
matrices, random states and torch modules are turned into tagged plain values and back.
"""

import copy
import importlib

import numpy as np
import scipy.sparse as sp
import torch

FORMAT_VERSION = 1
_TAG = "__skcrossvae__"


def _encode(value):
    if isinstance(value, torch.nn.Module):
        return {_TAG: "module", "state": {k: v.detach().cpu() for k, v in value.state_dict().items()}}
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if sp.issparse(value):
        csr = sp.csr_matrix(value)
        return {_TAG: "csr", "shape": list(csr.shape), "indptr": _encode(csr.indptr),
                "indices": _encode(csr.indices), "data": _encode(csr.data)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state()
        return {_TAG: "random_state", "keys": _encode(keys), "pos": int(pos),
                "has_gauss": int(has_gauss), "cached": float(cached)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {_TAG: "ndarray", "data": torch.from_numpy(np.ascontiguousarray(value)),
                    "dtype": value.dtype.str}
        if value.dtype.kind in "US":
            return {_TAG: "strarray", "data": value.tolist()}
        raise TypeError(f"cannot save a numpy array of dtype {value.dtype}")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a value of type {type(value).__name__}")


def _decode(value, modules):
    if isinstance(value, list):
        return [_decode(item, modules) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {key: _decode(item, modules) for key, item in value.items()}
    if tag == "ndarray":
        return value["data"].numpy().astype(np.dtype(value["dtype"]), copy=False)
    if tag == "strarray":
        return np.array(value["data"], dtype=str)
    if tag == "tuple":
        return tuple(_decode(item, modules) for item in value["items"])
    if tag == "csr":
        parts = [_decode(value[k], modules) for k in ("data", "indices", "indptr")]
        return sp.csr_matrix(tuple(parts), shape=tuple(value["shape"]))
    if tag == "random_state":
        rng = np.random.RandomState()
        rng.set_state(("MT19937", _decode(value["keys"], modules), value["pos"],
                       value["has_gauss"], value["cached"]))
        return rng
    if tag == "module":
        return value
    raise ValueError(f"unknown tag {tag!r} in saved estimator")


def save_estimator(estimator, path):
    """Write ``estimator`` (fitted) to ``path``; see :meth:`BaseRatingEstimator.save`."""
    cls = type(estimator)
    fitted = {key: value for key, value in vars(estimator).items()
              if key.endswith("_") and not key.startswith("__")}
    payload = {
        "format_version": FORMAT_VERSION,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "params": _encode(estimator.get_params(deep=False)),
        "fitted": _encode(fitted),
    }
    torch.save(payload, path)


def load(path):
    """Load an estimator saved with ``estimator.save(path)``.

    Parameters
    ----------
    path : str or path-like
        File written by :meth:`save`.

    Returns
    -------
    estimator : estimator instance
        The fitted estimator, with its tensors on the CPU (``device_`` is set to ``'cpu'``).

    Notes
    -----
    The file is read with ``torch.load(weights_only=True)``: it can hold only tensors and plain
    containers, so loading a file never executes code from it. Only classes of the
    ``skcrossvae`` package can be loaded.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not an estimator file of skcrossvae format {FORMAT_VERSION}.")
    module_name, _, class_name = payload["class"].partition(":")
    if module_name.split(".")[0] != "skcrossvae":
        raise ValueError(f"{path} names class {payload['class']!r}, which is not a skcrossvae estimator.")
    cls = getattr(importlib.import_module(module_name), class_name)
    estimator = cls(**_decode(payload["params"], {}))
    fitted = _decode(payload["fitted"], {})
    modules = {key: value for key, value in fitted.items()
               if isinstance(value, dict) and value.get(_TAG) == "module"}
    for key in modules:
        del fitted[key]
    vars(estimator).update(fitted)
    if "device_" in fitted:
        estimator.device_ = "cpu"
    factories = estimator._module_factory()
    for key, saved in modules.items():
        module = factories[key]()
        module.load_state_dict(saved["state"])
        setattr(estimator, key, module)
    return estimator


def state_to_cpu(state):
    """A copy of an estimator's ``__dict__`` with every torch tensor and module on the CPU."""
    moved = {}
    for key, value in state.items():
        if isinstance(value, torch.nn.Module):
            if any(tensor.device.type != "cpu" for tensor in value.state_dict().values()):
                value = copy.deepcopy(value).cpu()  # the fitted module itself stays on its device
        elif isinstance(value, torch.Tensor):
            value = value.detach().cpu()
        moved[key] = value
    return moved
