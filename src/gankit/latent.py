"""Latent priors and label draws, from an explicit generator so sampling is reproducible."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Prior = Literal["gaussian", "uniform"]


def sample_latent(
    n: int,
    dim: int,
    prior: Prior,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    truncation: float | None = None,
) -> Tensor:
    """z ~ N(0, I) or U(-1, 1)^dim, drawn on the generator's device and moved to ``device``.

    ``truncation`` (the truncation trick, Brock et al. 2019): for the Gaussian prior, components
    with |z| > psi are redrawn until inside; for the uniform prior, z is scaled by psi.
    """
    gen_device = generator.device if generator is not None else device
    if prior == "gaussian":
        z = torch.randn(n, dim, generator=generator, device=gen_device)
        if truncation is not None:
            if truncation <= 0:
                raise ValueError("truncation must be > 0")
            out = z.abs() > truncation
            while out.any():
                z[out] = torch.randn(int(out.sum()), generator=generator, device=gen_device)
                out = z.abs() > truncation
    elif prior == "uniform":
        z = torch.rand(n, dim, generator=generator, device=gen_device) * 2 - 1
        if truncation is not None:
            z = z * min(float(truncation), 1.0)
    else:
        raise ValueError(f"unknown prior {prior!r}")
    return z.to(device) if device is not None else z


def balanced_labels(n: int, num_classes: int, generator: torch.Generator | None = None) -> Tensor:
    """n labels in near-equal shares (counts differ by at most one), in random order."""
    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=generator)]
