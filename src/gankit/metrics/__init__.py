"""Metrics (`gankit evaluate`): a registry whose names carry the protocol."""

from gankit.metrics import digits, distribution, toy  # noqa: F401  (register)
from gankit.metrics.base import METRICS, EvalContext, Metric, is_default, register_metric

__all__ = ["METRICS", "EvalContext", "Metric", "is_default", "register_metric"]
