"""A table as the training loop sees it: the fitted transformer, the encoded rows as one tensor and
the conditional sampler (CTGAN's training-by-sampling)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.tabular.sampler import CondSampler
from gankit.tabular.transformer import DataTransformer


class TableData:
    """``x``: (rows, encoded width) float32; ``sampler`` draws conditions and matching real rows."""

    kind = "table"
    labels = None
    num_classes = 0

    def __init__(self, name: str, transformer: DataTransformer, matrix: np.ndarray):
        self.name, self.transformer, self.matrix = name, transformer, matrix
        self.x = torch.from_numpy(matrix).float()
        self.sampler = CondSampler(transformer, matrix, torch.device("cpu"))
        self.info: dict[str, Any] = {}

    @classmethod
    def prepare(
        cls, frame, discrete: list[str] | None, metadata: dict | None, max_modes: int, seed: int, name: str
    ) -> TableData:
        transformer = DataTransformer(max_modes, seed=seed).fit(frame, discrete, metadata)
        matrix = transformer.transform(frame, rng=np.random.default_rng(seed))
        return cls(name, transformer, matrix)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def all_x(self) -> torch.Tensor:
        return self.x

    def to(self, device: torch.device) -> TableData:
        if self.x.device != device:
            self.x = self.x.to(device)
            self.sampler = CondSampler(self.transformer, self.matrix, device)
        return self


def read_metadata(value: str | None) -> dict | None:
    """``data.metadata``: a .json/.yaml file of SDV-style column types, or that JSON inline."""
    if not value:
        return None
    if value.lstrip().startswith("{"):
        return json.loads(value)
    path = Path(value)
    if not path.is_file():
        raise GankitError(f"not found: {path}", "pass an SDV-style metadata .json or .yaml file")
    import yaml

    try:
        md = yaml.safe_load(path.read_text())  # JSON is YAML
    except yaml.YAMLError:
        raise GankitError(f"{path} is not valid JSON/YAML", "fix the metadata file") from None
    if not isinstance(md, dict) or not isinstance(md.get("columns"), dict):
        raise GankitError(
            f"{path} has no 'columns' mapping", 'write {"columns": {"age": {"sdtype": "numerical"}}}'
        )
    return md
