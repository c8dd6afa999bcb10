"""The iteration driver every estimator of the package trains with.

It runs iterations, records the loss and validation curves, applies the stopping rule, keeps the
best state for early stopping, prints progress, and stops loudly when a fit diverges.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from .exceptions import DivergenceError


@dataclass
class TrainingHistory:
    """What a fit records: the curves, the best iteration and the number of iterations run."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    best_iteration: int = 0
    best_score: float = np.inf

    @property
    def n_iter(self):
        return len(self.loss_curve)


def _format_seconds(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def run_iterations(estimator, train_one_iteration, validation_rmse, get_state, set_state, *,
                   max_iter, early_stopping):
    """Train until the stopping rule fires or ``max_iter`` iterations have run.

    Parameters
    ----------
    estimator : BaseRatingEstimator
        Gives the stopping rule (``n_iter_no_change``, ``tol``), ``verbose``, its name for
        progress lines, and the advice of its ``DivergenceError``.
    train_one_iteration : callable () -> float
        Runs one pass over the training data and returns its mean loss.
    validation_rmse : callable () -> float
        RMSE on the validation ratings with the current state (used when ``early_stopping``).
    get_state, set_state : callable
        Snapshot and restore of everything prediction needs, for early stopping.
    max_iter : int
        Largest number of iterations.
    early_stopping : bool
        Whether to monitor ``validation_rmse`` and keep the best state.

    Returns
    -------
    history : TrainingHistory
    """
    name, tol, verbose = type(estimator).__name__, estimator.tol, estimator.verbose
    n_iter_no_change = estimator.n_iter_no_change
    history = TrainingHistory(validation_scores=[] if early_stopping else None)
    best_state = None
    without_improvement = 0
    started = time.perf_counter()
    # verbose=1: a progress bar (the ETA assumes every iteration runs; the stopping rule ends it
    # earlier); verbose >= 2: one printed line per iteration as well.
    bar = tqdm(total=max_iter, desc=name, unit="iter", disable=verbose != 1, leave=False, dynamic_ncols=True)
    try:
        for iteration in range(1, max_iter + 1):
            loss = float(train_one_iteration())
            if not np.isfinite(loss):
                raise DivergenceError(
                    f"{name} diverged at iteration {iteration}: the training loss is {loss}. "
                    f"{estimator._divergence_advice}."
                )
            history.loss_curve.append(loss)
            monitored = loss
            if early_stopping:
                monitored = float(validation_rmse())
                history.validation_scores.append(monitored)
            if monitored < history.best_score - tol:
                history.best_score, history.best_iteration = monitored, iteration
                without_improvement = 0
                if early_stopping:
                    best_state = get_state()
            else:
                without_improvement += 1
            bar.update()
            bar.set_postfix(loss=f"{loss:.4f}", **({"valid RMSE": f"{monitored:.4f}"} if early_stopping else {}))
            if verbose >= 2:
                elapsed = time.perf_counter() - started
                eta = elapsed / iteration * (max_iter - iteration)
                shown = f", validation RMSE {monitored:.4f}" if early_stopping else ""
                print(
                    f"[{name}] iteration {iteration}/{max_iter}: loss {loss:.4f}{shown}, "
                    f"{elapsed / iteration:.2f}s/iter, elapsed {_format_seconds(elapsed)}, "
                    f"ETA {_format_seconds(eta)} at most",
                    flush=True,
                )
            if without_improvement >= n_iter_no_change:
                break
        else:
            warnings.warn(
                f"{name} stopped at max_iter={max_iter} before the stopping rule was met; "
                "raise max_iter for a converged fit.",
                ConvergenceWarning,
            )
    finally:
        bar.close()
    if early_stopping and best_state is not None:
        set_state(best_state)
    return history


def record_history(estimator, history):
    """Store the driver's curves under scikit-learn's names."""
    estimator.n_iter_ = history.n_iter
    estimator.loss_curve_ = history.loss_curve
    estimator.validation_scores_ = history.validation_scores
    validated = history.validation_scores is not None
    estimator.best_validation_score_ = history.best_score if validated else None
    estimator.best_iteration_ = history.best_iteration if validated else history.n_iter
