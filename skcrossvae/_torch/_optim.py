"""The optimiser every torch model of the package trains with, and its row-wise form for the
tables of the encoders' first layers."""

import torch


def adam(parameters, learning_rate, device):
    """Adam with the fused kernel, several times faster per step on the CPU as well as on CUDA."""
    return torch.optim.Adam(parameters, lr=learning_rate, fused=device.type in ("cpu", "cuda"))


class TableRMSprop:
    """The optimiser of the encoders' first-layer tables (the rating and latent inputs, one row
    per user or item of the other side): one second moment per row, as optimisers of embedding
    tables keep (row-wise RMSprop with Adam's bias correction, without momentum).

    A step reads only the rows its batch rated: ``v_r = beta2 v_r + (1 - beta2) mean(g_r^2)``,
    ``w_r -= lr g_r / (sqrt(v_r / (1 - beta2^n_r)) + eps)`` with ``n_r`` the row's number of
    steps. The tables hold 94 % of the weights on MovieLens-100K and more on sparse data, where
    a batch rates a small share of the rows: a dense optimiser's pass over every row at every
    step (and its two table-sized moments) costs far more than the step's arithmetic.

    Parameters
    ----------
    layers : list of RowSteppedSparseInput or LatentConcatInput
        The tables; each holds the gradient of its last backward pass (``take_gradient``), says
        its rows' mean squares (``mean_squares``) and takes the rows' steps (``step_rows``).
    learning_rate : float
    """

    def __init__(self, layers, learning_rate, beta2=0.999, eps=1e-8):
        self.layers, self.learning_rate, self.beta2, self.eps = layers, learning_rate, beta2, eps
        self.state = [dict(second_moment=torch.zeros(len(layer.weight), device=layer.weight.device),
                           steps=torch.zeros(len(layer.weight), device=layer.weight.device))
                      for layer in layers]

    @torch.no_grad()
    def step(self):
        """Step every table that has a gradient, on the rows it has one for."""
        for layer, state in zip(self.layers, self.state):
            pending = layer.take_gradient()
            if pending is None:
                continue  # the table took no part in this step (the alternating schedule)
            rows = pending[0]
            squares = layer.mean_squares(pending)
            if rows is None:
                second, steps = state["second_moment"], state["steps"]
                second.mul_(self.beta2).add_(squares, alpha=1 - self.beta2)
                steps.add_(1)
            else:
                second = state["second_moment"][rows].mul_(self.beta2).add_(squares, alpha=1 - self.beta2)
                steps = state["steps"][rows].add_(1)
                state["second_moment"][rows] = second
                state["steps"][rows] = steps
            corrected = second / (1 - torch.pow(self.beta2, steps))
            layer.step_rows(pending, -self.learning_rate / (corrected.sqrt() + self.eps))
