"""Metrics (`gankit evaluate`): a registry whose names carry the protocol."""

from gankit.metrics import digits, toy  # noqa: F401  (register)
from gankit.metrics.base import METRICS, EvalContext, Metric, register_metric

__all__ = ["METRICS", "EvalContext", "Metric", "register_metric"]
