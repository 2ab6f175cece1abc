"""The metric registry (`gankit evaluate --metrics ...`).

Names carry the protocol; results carry their provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from gankit.data import RealData
from gankit.pretrained import GAN
from gankit.registry import Registry


@dataclass
class EvalContext:
    """What a metric may use: the trained model, the real data (if loadable), a sample count and seed."""

    gan: GAN
    real: RealData | None
    n: int | None
    seed: int = 0
    _cache: dict[int, tuple[Tensor, Tensor | None]] = field(default_factory=dict)

    @property
    def meta(self) -> dict[str, Any]:
        return self.gan.meta

    def fakes(self, n: int) -> tuple[Tensor, Tensor | None]:
        """n generated samples in the generator's range (images in [-1, 1]) with their labels."""
        if n not in self._cache:
            self._cache[n] = self.gan.sample(n, seed=self.seed, raw=True, return_labels=True)
        return self._cache[n]


@dataclass
class Metric:
    name: str
    description: str
    default_n: int
    applies: Callable[[EvalContext], bool]
    compute: Callable[[EvalContext, int], dict[str, Any]]


METRICS: Registry[Metric] = Registry("metric", "evaluate --list")


def register_metric(metric: Metric) -> Metric:
    return METRICS.register(metric.name)(metric)


def real_images(ctx: EvalContext) -> Tensor:
    assert ctx.real is not None
    return ctx.real.all_x.float().cpu()


def to_numpy(x: Tensor):
    return x.detach().cpu().double().numpy()
