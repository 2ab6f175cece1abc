"""Exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow`` = decay * shadow + (1 - decay) * weights after each generator step.

    Buffers (batch-norm running stats) are copied, not averaged; exported generators recompute
    them for the averaged weights (see :func:`standing_stats`).
    """

    def __init__(self, net: nn.Module, decay: float, start: int = 0):
        self.decay, self.start = decay, start
        self.shadow = copy.deepcopy(net).eval().requires_grad_(False)
        self._shadow_params = list(self.shadow.parameters())
        self.track(net)

    def track(self, net: nn.Module) -> None:
        """List ``net``'s tensors once: walking its modules each step costs a small network more than
        the update. Call again when they are replaced (a memory-format conversion replaces buffers)."""
        self._params = list(net.parameters())
        self._buffer_pairs = list(zip(self.shadow.buffers(), net.buffers(), strict=True))

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        weight = 1.0 if step < self.start else 1.0 - self.decay
        torch._foreach_lerp_(self._shadow_params, self._params, weight)
        for b_ema, b in self._buffer_pairs:
            b_ema.copy_(b)


@torch.no_grad()
def standing_stats(net: nn.Module, make_input, batches: int = 16) -> nn.Module:
    """Recompute batch-norm statistics of ``net`` as exact averages over fresh generated batches.

    BigGAN's "standing statistics" (Brock et al. 2019): running stats tracked while training
    belong to the raw weights, not to their average. ``make_input(i)`` returns the i-th input batch.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return net.eval()
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    for i in range(batches):
        net(*make_input(i))
    for m, mom in zip(norms, saved, strict=True):
        m.momentum = mom
    return net.eval()
