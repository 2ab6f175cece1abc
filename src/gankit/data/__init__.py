"""Datasets: built-in ones by name (`gankit datasets`), or a path to an image folder or array."""

from __future__ import annotations

from gankit.config import DataConfig
from gankit.data import images, tasks, toy  # noqa: F401  (register the built-in datasets)
from gankit.data.base import DATASETS, BatchSampler, DatasetSpec, RealData
from gankit.data.files import load_path

__all__ = ["DATASETS", "BatchSampler", "DatasetSpec", "RealData", "load_data"]


def load_data(cfg: DataConfig) -> RealData:
    """Load a built-in dataset by name, or user data from a path."""
    if cfg.name in DATASETS:
        return DATASETS.get(cfg.name).load(cfg)
    from pathlib import Path

    looks_like_path = any(ch in cfg.name for ch in "/\\.") or cfg.name.startswith("~")
    if looks_like_path or Path(cfg.name).exists():
        return load_path(cfg)
    DATASETS.get(cfg.name)  # raises "unknown dataset ... did you mean"
    raise AssertionError("unreachable")
