"""In-memory datasets and the batch sampler that feeds the training loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from gankit.config import DataConfig
from gankit.errors import GankitError
from gankit.registry import Registry


@dataclass
class RealData:
    """Real samples held as one tensor, so a batch is one indexing op (no per-item Python work).

    ``x`` is (N, C, H, W) in [-1, 1] for images or (N, D) for points; ``labels`` is (N,) int64 or None.
    ``info`` carries what metrics need to know about the data (e.g. the toy sets' centres and std).
    """

    name: str
    x: Tensor
    kind: Literal["images", "points"]
    labels: Tensor | None = None
    num_classes: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not torch.isfinite(self.x).all():
            raise GankitError(
                f"dataset '{self.name}' contains NaN or infinite values", "clean the data first"
            )
        if self.labels is not None and len(self.labels) != len(self):
            raise GankitError(
                f"dataset '{self.name}': {len(self.labels)} labels for {len(self)} samples",
                "give exactly one label per sample",
            )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def all_x(self) -> Tensor:
        """Every sample as one tensor (for metrics and sample grids)."""
        return self.x

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(self.x.shape[1:])

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        y = self.labels[idx] if self.labels is not None else None
        return self.x[idx], y

    def to(self, device: torch.device) -> RealData:
        self.x = self.x.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        return self


class BatchSampler:
    """Shuffled epochs of indices, resumable from (epoch, position) alone.

    Each epoch's permutation is drawn from a generator seeded by (seed, epoch), so the sampler's
    whole state is two integers. With ``world`` processes the epoch is cut into global batches of
    ``batch_size * world`` and ``rank`` takes its contiguous slice of each: the ranks' shards are
    disjoint, their union is exactly what one process at ``batch_size * world`` would draw, and the
    saved position is global, so a run resumes at another world size.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n < world:
            raise GankitError(f"the dataset has {n} samples, fewer than {world} processes", "use more data")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world = rank, world
        self.epoch, self.pos = 0, 0
        self._perm: Tensor | None = None

    def _permutation(self) -> Tensor:
        if self._perm is None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._perm = torch.randperm(self.n, generator=g)
        return self._perm

    def next(self) -> Tensor:
        """The next batch of indices; batches never straddle epochs, the last partial one is dropped."""
        perm = self._permutation()
        size, mine = self.batch_size * self.world, slice(self.rank * self.batch_size, None)
        if self.pos + size > len(perm):
            if size > len(perm):  # tiny data: sample with replacement instead
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
                self.epoch += 1
                return perm[torch.randint(len(perm), (size,), generator=g)][mine][: self.batch_size]
            self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
            perm = self._permutation()
        start = self.pos + self.rank * self.batch_size
        idx = perm[start : start + self.batch_size]
        self.pos += size
        return idx

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos, self._perm = int(state["epoch"]), int(state["pos"]), None


@dataclass
class DatasetSpec:
    """A built-in dataset: how to load it and what it is. (How to train a family on it is the
    family's recipe, models/; ``recipes`` here is for third-party datasets, by family name.)"""

    name: str
    description: str
    load: Callable[[DataConfig], RealData]
    shape: str
    size: int
    num_classes: int
    default_model: str
    # model name -> {"section.key": value}, applied after the family's own recipe for this dataset
    recipes: dict[str, dict[str, Any]] = field(default_factory=dict)


DATASETS: Registry[DatasetSpec] = Registry("dataset", "datasets")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.register(spec.name)(spec)
