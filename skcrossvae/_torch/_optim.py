"""The optimiser every torch model of the package trains with, and its row-wise form for the
latent-input tables."""

import numpy as np
import torch
from torch.optim.adam import adam as adam_update


def adam(parameters, learning_rate, device):
    """Adam with the fused kernel, several times faster per step on the CPU as well as on CUDA."""
    return torch.optim.Adam(parameters, lr=learning_rate, fused=device.type in ("cpu", "cuda"))


class TableAdam:
    """Adam, and the exponential average of the weights, for the latent-input tables, updating
    only the rows a step's gradient has (as optimisers of embedding tables do).

    A step that touches every row of a table is Adam's step on the whole table. A step that
    touches some rows updates those rows' weights and moments with Adam's formula and the
    table's step count, and leaves the others as they are (the "lazy" Adam of sparse
    gradients): on sparse data most rows get no gradient at a step, and moving them all costs
    more than the step's arithmetic. The average of a row skipped by some steps is brought up to
    date when the row is next touched, or when the averages are read: its weights did not change
    meanwhile, so the skipped steps' updates of the average have a closed form.

    Parameters
    ----------
    layers : list of LatentConcatInput
        The tables; each holds the gradient of its last backward pass (``take_gradient``).
    learning_rate : float
    averaging : float
        The average's decay per step (0: no average).
    """

    def __init__(self, layers, learning_rate, averaging, fused):
        self.layers, self.learning_rate, self.averaging, self.fused = layers, learning_rate, averaging, fused
        # The sum over the steps so far of log(decay): the average's decay between two steps is
        # the exponential of a difference of such sums.
        self.log_decay = 0.0
        self.state = []
        for layer in layers:
            weight = layer.weight.detach()
            self.state.append(dict(
                exp_avg=torch.zeros_like(weight), exp_avg_sq=torch.zeros_like(weight),
                step=torch.zeros((), dtype=torch.float32, device=weight.device),
                average=weight.clone() if averaging > 0 else None,
                # ``log_decay`` when each row's average was last brought up to date.
                row_log_decay=torch.zeros(len(weight), dtype=torch.float64, device=weight.device),
            ))

    def _adam(self, weights, gradients, exp_avgs, exp_avg_sqs, step):
        adam_update([weights], [gradients], [exp_avgs], [exp_avg_sqs], [], [step], fused=self.fused,
                    foreach=None if self.fused else False, amsgrad=False, beta1=0.9, beta2=0.999,
                    lr=self.learning_rate, weight_decay=0.0, eps=1e-8, maximize=False)

    def _caught_up(self, state, rows, weights, log_decay):
        """The averages of ``rows`` (all when None), whose ``weights`` have not changed since
        their last update, as if they had been updated at every step up to ``log_decay``."""
        average = state["average"] if rows is None else state["average"][rows]
        last = state["row_log_decay"] if rows is None else state["row_log_decay"][rows]
        keep = torch.exp(log_decay - last).to(weights.dtype)
        return torch.lerp(weights, average, keep.view(-1, *([1] * (weights.dim() - 1))))

    @torch.no_grad()
    def step(self, decay):
        """Step every table that has a gradient; ``decay`` is the average's decay at this step."""
        before = self.log_decay
        self.log_decay += float(np.log(decay)) if self.averaging > 0 else 0.0
        for layer, state in zip(self.layers, self.state):
            rows, gradient = layer.take_gradient()
            if gradient is None:
                continue  # the table took no part in this step (the alternating schedule)
            weight = layer.weight.detach()
            averaging = state["average"] is not None
            if rows is None:
                if averaging and bool((state["row_log_decay"] != before).any()):
                    state["average"].copy_(self._caught_up(state, None, weight, before))
                self._adam(weight, gradient, state["exp_avg"], state["exp_avg_sq"], state["step"])
                if averaging:
                    state["average"].lerp_(weight, 1 - decay)
                    state["row_log_decay"].fill_(self.log_decay)
                continue
            weights = weight[rows]
            average = self._caught_up(state, rows, weights, before) if averaging else None
            exp_avg, exp_avg_sq = state["exp_avg"][rows], state["exp_avg_sq"][rows]
            self._adam(weights, gradient, exp_avg, exp_avg_sq, state["step"])
            weight.index_copy_(0, rows, weights)
            state["exp_avg"].index_copy_(0, rows, exp_avg)
            state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
            if averaging:
                state["average"].index_copy_(0, rows, average.lerp_(weights, 1 - decay))
                state["row_log_decay"][rows] = self.log_decay

    @torch.no_grad()
    def averages(self):
        """The tables' averages, every row brought up to date (None without averaging)."""
        if self.averaging <= 0:
            return None
        for layer, state in zip(self.layers, self.state):
            if bool((state["row_log_decay"] != self.log_decay).any()):
                state["average"].copy_(self._caught_up(state, None, layer.weight.detach(), self.log_decay))
                state["row_log_decay"].fill_(self.log_decay)
        return [state["average"] for state in self.state]

    def set_averages(self, averages):
        """Restore the tables' averages (all up to date), after early stopping."""
        for state, average in zip(self.state, averages):
            state["average"] = average
            state["row_log_decay"].fill_(self.log_decay)
