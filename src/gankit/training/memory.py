"""``--batch-size auto``: the largest power of two whose training step fits the memory budget.

The step measured is the family's own: one iteration of its main stage's phases, built as a run
builds them, at two small batches; a linear fit gives the memory per sample.
"""

from __future__ import annotations

import logging
import math

import torch

from gankit.config import Config, copy_config
from gankit.errors import GankitError
from gankit.training.performance import Precision, memory_budget_mb

log = logging.getLogger(__name__)
MAX_AUTO_BATCH = 4096


def step_bytes(cfg: Config, data, batch: int, device: torch.device) -> tuple[float, float]:
    """(bytes one iteration at ``batch`` needs beyond the weights, bytes of the weights): what autograd
    saves for the backward passes, counted with saved-tensor hooks, or the allocator's peak on CUDA."""
    from gankit.training.loop import build_context
    from gankit.training.step import iterate

    cfg = copy_config(cfg)
    cfg.train.batch_size = batch
    cfg.train.compile = False
    cfg.optim.d_warmup = 0
    _, parts, ctx, objective = build_context(cfg, data, device)
    weights = sum(
        p.numel() * p.element_size() for net in parts.trained.values() for p in net.module.parameters()
    )
    phases = objective.stages()[-1].phases
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        iterate(phases, parts, objective, Precision(cfg.train.precision, device), at_tick=False)
    if device.type == "cuda":
        return float(torch.cuda.max_memory_allocated(device) - base), float(weights)
    x = data.all_x[:1]
    return float(saved + x.numel() * x.element_size() * batch * 3), float(weights)  # + batch, fakes, grads


def auto_batch_size(cfg: Config, data, device: torch.device) -> int:
    """The largest power of two (a multiple of model.pack, at most the data size) whose step fits
    the budget, from a linear fit of step memory measured at two small batches."""
    budget = memory_budget_mb(cfg, device) * 2**20
    pack = cfg.model.pack or 1
    b0, b1 = 2 * pack, 8 * pack
    (m0, weights), (m1, _) = (step_bytes(cfg, data, b, device) for b in (b0, b1))
    x = data.all_x
    fixed = 4 * weights + x.numel() * x.element_size()  # weights, grads, 2 Adam moments, the data
    per_sample = max((m1 - m0) / (b1 - b0), 1.0)
    fits = (budget - fixed - max(m0 - per_sample * b0, 0.0)) / per_sample
    if fits < b0:
        raise GankitError(
            f"not even batch {b0} fits the memory budget of {budget / 2**20:.0f} MB",
            "raise --set train.memory_budget_mb or give --batch-size N",
        )
    batch = 2 ** int(math.log2(min(fits, MAX_AUTO_BATCH, max(len(data), b0))))
    batch -= batch % pack
    log.info(
        "batch_size=auto: %d (%.1f MB per sample, budget %.0f MB)", batch, per_sample / 2**20, budget / 2**20
    )
    return batch
