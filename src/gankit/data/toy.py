"""2-D mixtures of Gaussians used to measure mode collapse (VEEGAN / PacGAN protocol)."""

from __future__ import annotations

import itertools
import math

import torch

from gankit.data.base import DatasetSpec, RealData, register_dataset

POOL = 100_000  # points drawn once per dataset; far more than a run's distinct batches need


def ring8_centres() -> torch.Tensor:
    # 8 distinct centres at angles k*2pi/8 (linspace(0, 2pi, 8) would repeat the first one).
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).float()


def grid25_centres() -> torch.Tensor:
    vals = [-4.0, -2.0, 0.0, 2.0, 4.0]
    return torch.tensor(list(itertools.product(vals, vals)), dtype=torch.float32)


def mixture(name: str, centres: torch.Tensor, std: float, n: int = POOL, seed: int = 0) -> RealData:
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(len(centres), (n,), generator=g)
    x = centres[k] + std * torch.randn(n, 2, generator=g)
    return RealData(
        name=name,
        x=x,
        kind="points",
        labels=k,
        num_classes=len(centres),
        info={"centres": centres.tolist(), "std": std},
    )


register_dataset(
    DatasetSpec(
        name="ring8",
        description="8 Gaussians (std 0.01) on the unit circle",
        load=lambda cfg: mixture("ring8", ring8_centres(), 0.01),
        shape="2",
        size=POOL,
        num_classes=8,
        default_model="mlp",
    )
)
register_dataset(
    DatasetSpec(
        name="grid25",
        description="25 Gaussians (std 0.05) on the grid {-4,-2,0,2,4}^2",
        load=lambda cfg: mixture("grid25", grid25_centres(), 0.05),
        shape="2",
        size=POOL,
        num_classes=25,
        default_model="mlp",
    )
)
