"""Tabular synthetic data: a CTGAN-class synthesizer with quality and privacy reports and DP training.

Imports are lazy (``gankit --help`` stays fast and pandas loads only when a table is touched):
``from gankit.tabular import TabularGAN, evaluate, load_table``.
"""

from __future__ import annotations

_EXPORTS = {
    "TabularGAN": "gankit.tabular.synthesizer",
    "DataTransformer": "gankit.tabular.transformer",
    "evaluate": "gankit.tabular.report",
    "write_report": "gankit.tabular.report",
    "quality_report": "gankit.tabular.quality",
    "ml_efficacy": "gankit.tabular.quality",
    "privacy_report": "gankit.tabular.privacy",
    "load_table": "gankit.tabular.datasets",
    "TABLES": "gankit.tabular.datasets",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gankit.tabular' has no attribute {name!r}")
