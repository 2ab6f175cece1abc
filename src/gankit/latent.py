"""Latent priors and label draws, from an explicit generator so sampling is reproducible."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from gankit.errors import GankitError

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

    ``truncation`` psi in (0, 1], the truncation trick (Brock et al. 2019): each component keeps the
    central share psi of its prior's mass. For the Gaussian prior the components beyond the threshold
    t = Phi^-1((1 + psi) / 2) (:func:`truncation_threshold`; psi 0.38 is BigGAN's threshold 0.5, psi
    0.68 its 1.0) are resampled from the normal within [-t, t]; the others keep their values, so a
    seed's truncated sample is a tidier version of its plain one. For the uniform prior z is scaled
    by psi. psi = 1 (or None) is plain sampling, bit for bit; psi -> 0 approaches z = 0, the prior's
    mean (0 itself, one image per label, is refused: it is no sample of the prior).
    """
    check_truncation(truncation, "z")
    plain = truncation is None or truncation >= 1.0
    gen_device = generator.device if generator is not None else device
    if prior == "gaussian":
        z = torch.randn(n, dim, generator=generator, device=gen_device)
        if not plain:
            out = z.abs() > truncation_threshold(truncation)
            # the inverse CDF of the normal within [-t, t] draws every resample inside at once
            u = torch.rand(int(out.sum()), generator=generator, device=gen_device, dtype=torch.float64)
            z[out] = (math.sqrt(2) * torch.erfinv(truncation * (2 * u - 1))).float()
    elif prior == "uniform":
        z = torch.rand(n, dim, generator=generator, device=gen_device) * 2 - 1
        if not plain:
            z = z * float(truncation)
    else:
        raise ValueError(f"unknown prior {prior!r}")
    return z.to(device) if device is not None else z


def check_truncation(psi: float | None, space: Literal["z", "w"] = "z") -> None:
    """psi in (0, 1] for a truncation in z; in [0, 1] for one in w (a generator that says it
    truncates around its tracked mean w, e.g. stylegan: psi 0 is that mean, a sample of G)."""
    if psi is None:
        return
    if space == "w" and not 0.0 <= psi <= 1.0:
        raise GankitError(f"truncation {psi} is outside [0, 1]", "1 is plain sampling, 0 the mean w")
    if space == "z" and psi == 0:
        raise GankitError(
            "truncation 0 is refused for this model: it truncates z, and z = 0 is no sample of its prior",
            "use a small psi such as 0.1 (0 works for models that truncate in w, e.g. stylegan)",
        )
    if space == "z" and not 0.0 < psi <= 1.0:
        raise GankitError(
            f"truncation {psi} is outside (0, 1]", "1 is plain sampling, smaller keeps z nearer 0"
        )


def truncation_threshold(psi: float) -> float:
    """The |z| a truncated Gaussian component stays within: the central psi of N(0, 1)'s mass."""
    return math.sqrt(2) * torch.erfinv(torch.tensor(float(psi), dtype=torch.float64)).item()


def balanced_labels(n: int, num_classes: int, generator: torch.Generator | None = None) -> Tensor:
    """n labels in near-equal shares (counts differ by at most one), in random order."""
    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=generator)]
