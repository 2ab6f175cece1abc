"""The metric registry (`gankit evaluate --metrics ...`).

Names carry the protocol (``fd_classifier_5k``: Fréchet distance, classifier features, 5,000
generated samples); results carry their provenance (extractor and weights hash, sample counts,
reference split, resize, seed, gankit version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from gankit.data import RealData
from gankit.errors import GankitError
from gankit.registry import Registry

MAX_REAL = 10_000  # real reference samples for feature metrics (a seeded subset when larger)


@dataclass
class EvalContext:
    """What a metric may use: generated samples (from a model or given), the real data, a seed.

    ``fakes(n)`` returns n samples in the generator's own range (images in [-1, 1]) and their labels
    (None when unconditional). Extractors and features are cached, so several metrics computed in one
    evaluation share one pass of the network over the same samples.
    """

    meta: dict[str, Any]  # the model's config.json (or a stand-in describing given samples)
    real: RealData | None
    sample: Callable[[int], tuple[Tensor, Tensor | None]] | None = None
    given: tuple[Tensor, Tensor | None] | None = None  # fixed fakes (evaluate --real --fake)
    seed: int = 0
    extractor_spec: str | None = None  # override every metric's extractor
    _fakes: dict[int, tuple[Tensor, Tensor | None]] = field(default_factory=dict)
    _extractors: dict[str, Any] = field(default_factory=dict)
    _features: dict[tuple[str, str, int], Tensor] = field(default_factory=dict)
    _fakes_real: dict[str, tuple[Tensor, Tensor | None]] = field(default_factory=dict)

    @classmethod
    def for_model(
        cls, gan, real: RealData | None, seed: int = 0, extractor: str | None = None
    ) -> EvalContext:
        def sample(n: int):
            return gan.sample(n, seed=seed, raw=True, return_labels=True)

        return cls(gan.meta, real, sample=sample, seed=seed, extractor_spec=extractor)

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def conditional(self) -> bool:
        return bool(self.meta.get("model", {}).get("conditional")) and self.meta.get("num_classes", 0) > 0

    def new_fakes(self) -> None:
        """Forget generated samples and their features (the generator changed); keep the real ones."""
        self._fakes.clear()
        self._features = {k: v for k, v in self._features.items() if k[1] == "real"}

    def fakes(self, n: int) -> tuple[Tensor, Tensor | None]:
        if self.given is not None:
            x, y = self.given
            if len(x) < n:
                n = len(x)
            return x[:n], (y[:n] if y is not None else None)
        if n not in self._fakes:
            assert self.sample is not None
            x, y = self.sample(n)
            self._fakes = {n: (x.float().cpu(), y)}  # keep one sample set: they can be large
        return self._fakes[n]

    def real_xy(self) -> tuple[Tensor, Tensor | None]:
        """The real reference set: all real samples, or a seeded subset of MAX_REAL when larger."""
        if self.real is None:
            raise GankitError(
                f"the real data '{self.meta['data']['name']}' of this model can't be loaded",
                "pass the real data with --real PATH",
            )
        if "real" not in self._fakes_real:
            n = len(self.real)
            if n <= MAX_REAL:
                idx = torch.arange(n)
            else:
                idx = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))[:MAX_REAL]
            x, y = self.real.batch(idx)
            self._fakes_real["real"] = (x.float().cpu(), y.cpu() if y is not None else None)
        return self._fakes_real["real"]

    @property
    def n_real(self) -> int:
        return min(len(self.real), MAX_REAL) if self.real is not None else 0

    # -- features ---------------------------------------------------------------------------------
    def extractor(self, spec: str):
        from gankit.metrics.extractors import get_extractor

        if self.extractor_spec and self.extractor_spec.partition(":")[0] == spec.partition(":")[0]:
            spec = self.extractor_spec  # e.g. classifier -> classifier:mnist for a folder of digits
        if spec not in self._extractors:
            channels = int(self.meta["shape"][0])
            self._extractors[spec] = get_extractor(spec, self.real, channels)
        return self._extractors[spec]

    def features(self, spec: str, which: Literal["real", "fake"], n: int) -> Tensor:
        ext = self.extractor(spec)
        key = (ext.name, which, n if which == "fake" else -1)
        if key not in self._features:
            x = self.real_xy()[0] if which == "real" else self.fakes(n)[0]
            self._features[key] = ext.features(x)
        return self._features[key]

    def provenance(self, spec: str, n_fake: int, **extra: Any) -> dict[str, Any]:
        ext = self.extractor(spec)
        total = len(self.real) if self.real is not None else 0
        name = self.real.name if self.real is not None else "?"
        reference = (
            f"all {total} real samples of '{name}'"
            if total <= MAX_REAL
            else f"{MAX_REAL} of the {total} real samples of '{name}' (seeded subset, seed {self.seed})"
        )
        return {
            **ext.provenance,
            "n_real": self.n_real,
            "n_fake": min(n_fake, len(self.given[0])) if self.given is not None else n_fake,
            "reference": reference,
            **extra,
        }


@dataclass
class Metric:
    name: str
    description: str
    default_n: int
    applies: Callable[[EvalContext], bool]
    compute: Callable[[EvalContext, int], dict[str, Any]]
    headline: tuple[str, Literal["min", "max"]] = ("value", "min")  # what --keep-best compares
    # computed by a plain `gankit evaluate RUN` (when it applies); a callable decides per context
    default: bool | Callable[[EvalContext], bool] = True
    cheap_n: int | None = None  # sample count when monitoring during training


METRICS: Registry[Metric] = Registry("metric", "metrics")


def register_metric(metric: Metric) -> Metric:
    return METRICS.register(metric.name)(metric)


def is_default(metric: Metric, ctx: EvalContext) -> bool:
    return metric.default(ctx) if callable(metric.default) else metric.default


def to_numpy(x: Tensor):
    return x.detach().cpu().double().numpy()


def has_labels(ctx: EvalContext) -> bool:
    """A classifier can be had: the real images are labelled, or one was named (classifier:mnist)."""
    real = ctx.real
    if real is not None and real.kind == "images" and (ctx.extractor_spec or "").startswith("classifier:"):
        return True
    return (
        real is not None
        and real.kind == "images"
        and real.labels is not None
        and real.num_classes >= 2
        and not real.info.get("stacked")
    )
