"""The base of every estimator whose model is a torch network.

It owns what those estimators share beyond :class:`~skcrossvae._base.BaseRatingEstimator`: the
device, building the network (or a copy of the fitted one for a warm start), running a trainer
under the iteration driver, keeping the network and moving it to the CPU for pickles and model
files. torch itself is imported only inside ``fit`` and the methods that need a network, from
the ``_torch`` layer: importing an estimator does not import torch.
"""

import copy
import sys
from abc import abstractmethod
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ._base import BaseRatingEstimator
from ._training import record_history, run_iterations

TORCH_PARAMETER_DOCS = """    device : str, default='auto'
        'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'. Asking for CUDA where
        there is none raises an error.
    warm_start : bool, default=False
        When True and already fitted, ``fit`` continues from a copy of the fitted network (the ids
        in X must all be known, the parameters that shape the network unchanged; Adam's moments
        restart).
"""

TORCH_ATTRIBUTE_DOCS = """    module_ : torch.nn.Module
        The trained network.
    device_ : str
        Device used for training.
"""


class TorchEstimator(BaseRatingEstimator):
    """Fit plumbing of the estimators trained as torch networks; not for direct use.

    Subclasses build the network (:meth:`_make_module`) and its trainer (:meth:`_make_trainer`,
    an object with ``train_one_iteration``, ``get_state``, ``set_state`` and ``finalise``), and
    store what prediction needs (:meth:`_store_prediction_state`).
    """

    _parameter_constraints: dict = {
        **BaseRatingEstimator._parameter_constraints,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "warm_start": ["boolean"],
    }

    @abstractmethod
    def _make_module(self, generator, device):
        """The untrained network for the fitted sizes and the current parameters."""

    @abstractmethod
    def _make_trainer(self, module, train, rng, generator, device, incremental):
        """The trainer of ``module`` on the encoded training ratings."""

    @abstractmethod
    def _store_prediction_state(self, trainer, table):
        """Store what prediction needs from the trainer's current state, reading rows from ``table``."""

    def _fit_ratings(self, train, valid, rng, incremental, max_iter=None):
        from ._torch._device import make_generator, resolve_device

        device = resolve_device(self.device)
        generator = make_generator(rng, device)
        self.device_ = str(device)
        module = self._continued_module(generator, device) if incremental else self._make_module(generator, device)
        self.module_ = module
        trainer = self._make_trainer(module, train, rng, generator, device, incremental)
        history = self._train(trainer, train, valid, max_iter or self.max_iter)
        trainer.finalise()
        record_history(self, history)
        # a validation part held out of X holds the user's ratings, read at prediction; X_val does not
        read = train if valid is None or self._validation_given else train.concatenate(valid)
        self._store_prediction_state(trainer, read)

    def _continued_module(self, generator, device):
        """The network a warm start trains: a copy, since a failed fit must leave the fitted
        network untouched."""
        return copy.deepcopy(self.module_).to(device)

    def _train(self, trainer, train, valid, max_iter):
        """Run the trainer under the shared driver (early stopping on ``valid`` when given)."""
        return self._run_iterations(trainer, train, valid, max_iter)

    def _run_iterations(self, trainer, train, valid, max_iter, iterate=None):
        """The shared driver over ``iterate`` (default: the trainer's iteration)."""
        def validation_rmse():
            self._store_prediction_state(trainer, train)
            return self._rmse(valid)

        return run_iterations(self, iterate or trainer.train_one_iteration, validation_rmse, trainer.get_state,
                              trainer.set_state, max_iter=max_iter, early_stopping=valid is not None)

    # ------------------------------------------------------------- networks
    def _module_factory(self):
        import torch

        # device="meta" builds the network's shapes without allocating its weights.
        return {"module_": lambda device="cpu": self._make_module(torch.Generator(), torch.device(device))}

    @property
    def _module_device(self):
        # Not device_: a pickled or loaded estimator holds its network on the CPU.
        return next(self.module_.parameters()).device

    def __getstate__(self):
        # Pickles (joblib, Dask, copy) carry CPU tensors so they load on machines without CUDA.
        state = super().__getstate__()
        torch = sys.modules.get("torch")  # not imported: the estimator holds no tensor
        if torch is None:
            return state
        moved = {}
        for key, value in state.items():
            if isinstance(value, torch.nn.Module):
                if any(tensor.device.type != "cpu" for tensor in value.state_dict().values()):
                    value = copy.deepcopy(value).cpu()  # the fitted module itself stays on its device
            elif isinstance(value, torch.Tensor):
                value = value.detach().cpu()
            moved[key] = value
        return moved

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device not in ("cpu", "auto")
        return tags
