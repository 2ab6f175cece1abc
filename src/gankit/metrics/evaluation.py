"""Choosing and computing metrics for a context: shared by `gankit evaluate` and training monitors."""

from __future__ import annotations

import math
import time
from typing import Any

from gankit.errors import GankitError
from gankit.metrics.base import METRICS, EvalContext, Metric, is_default


def select_metrics(ctx: EvalContext, names: list[str] | None) -> list[Metric]:
    """The named metrics (each must apply), or every default metric that applies."""
    if names:
        chosen = [METRICS.get(name) for name in names]
        for m in chosen:
            if not m.applies(ctx):
                raise GankitError(
                    f"metric '{m.name}' does not apply to this model's data",
                    "run `gankit evaluate RUN` without --metrics to use the ones that do",
                )
        return chosen
    if ctx.extractor_spec:  # the metrics computed in the named extractor's features
        tag = f"_{ctx.extractor_spec.partition(':')[0]}_"
        return [m for _, m in METRICS.items() if tag in m.name and m.applies(ctx)]
    return [m for _, m in METRICS.items() if m.applies(ctx) and is_default(m, ctx)]


def compute_metrics(
    ctx: EvalContext, metrics: list[Metric], n: int | None = None, cheap: bool = False
) -> dict[str, Any]:
    """{name: result with provenance}; ``n`` overrides every metric's count, ``cheap`` uses cheap_n."""
    from gankit import __version__

    results: dict[str, Any] = {}
    for m in metrics:
        count = n or (m.cheap_n if cheap and m.cheap_n else m.default_n)
        t0 = time.perf_counter()
        value = m.compute(ctx, count)
        value["provenance"] = {
            "n_fake": count,
            "seed": ctx.seed,
            "gankit_version": __version__,
            **value.pop("provenance", {}),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        results[m.name] = value
    return results


def parse_target(spec: str) -> tuple[Metric, str, str]:
    """``fd_classifier_5k`` or ``modes_ring8.high_quality`` -> (metric, key, "min"|"max")."""
    name, _, key = spec.partition(".")
    metric = METRICS.get(name)
    if not key:
        return metric, *metric.headline
    if key == metric.headline[0]:
        return metric, key, metric.headline[1]
    lower_is_better = any(w in key for w in ("fd", "kid", "kl", "distance"))
    return metric, key, "min" if lower_is_better else "max"


def headline(results: dict[str, Any], metric: Metric, key: str) -> float | None:
    value = results.get(metric.name, {}).get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
