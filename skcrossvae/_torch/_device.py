"""One place that resolves the compute device and the random number generators."""

import numpy as np
import torch


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``, failing loudly when it is absent.

    ``'auto'`` picks the first CUDA device when one is usable and the CPU otherwise. CUDA is only
    probed here, inside ``fit``, never at import time (safe in forked joblib/Dask workers).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine; "
                "use device='cpu' or device='auto'."
            )
        index = resolved.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} CUDA "
                "device(s) exist."
            )
    elif resolved.type != "cpu":
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'.")
    return resolved


def make_generator(rng, device):
    """A torch generator on ``device`` seeded from a numpy ``RandomState``.

    Every torch draw of an estimator (initialisation, reparameterisation noise) goes through it,
    so the global torch seed is never touched.
    """
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
    return generator


def as_tensor(array, device, dtype=None):
    """A tensor on ``device`` from a numpy array (no copy on the CPU when dtypes agree)."""
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


def check_weight_shapes(module, arrays):
    """Raise ``ValueError`` unless ``arrays`` (name -> numpy array) has exactly the names and
    shapes of ``module``'s weights. ``module`` may live on the ``meta`` device (no memory)."""
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    given = {key: tuple(np.shape(value)) for key, value in arrays.items()}
    if given != expected:
        problems = [f"{key} has shape {given.get(key)}, the network {expected.get(key)}"
                    for key in sorted(expected.keys() | given.keys()) if given.get(key) != expected.get(key)]
        raise ValueError("the saved network weights do not fit the network: " + "; ".join(problems[:3]))


def load_weights(module, arrays):
    """``module`` with its weights set from a dict of numpy arrays (names and shapes must match)."""
    check_weight_shapes(module, arrays)
    module.load_state_dict({key: torch.tensor(np.asarray(value)) for key, value in arrays.items()})
    return module
