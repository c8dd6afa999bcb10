"""The optimiser every torch model of the package trains with."""

import torch


def adam(parameters, learning_rate, device):
    """Adam with the fused kernel, several times faster per step on the CPU as well as on CUDA."""
    return torch.optim.Adam(parameters, lr=learning_rate, fused=device.type in ("cpu", "cuda"))
