"""Unpaired images for CycleGAN: two domains, A and B, drawn independently.

Each batch takes A's images in the sampler's order and as many of B's drawn at random from the
run's RNG (so a resumed run draws the same). User data: ``trainA/`` and ``trainB/`` (and
``testA/``/``testB/`` held out, else every tenth image of each), each read like an image folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.config import DataConfig
from gankit.errors import GankitError


class UnpairedData:
    kind = "pairs"  # what translation families train on (an input, a target domain)
    task = "unpaired"
    labels = None
    num_classes = 0
    scale = 1

    def __init__(self, name: str, a: Tensor, b: Tensor, held_a: Tensor, held_b: Tensor, flip: bool = False):
        if a.shape[-2:] != b.shape[-2:]:
            raise GankitError(f"domains A {tuple(a.shape[-2:])} and B {tuple(b.shape[-2:])} differ in size",
                              "give both the same --resolution")  # fmt: skip
        self.name, self.a, self.b, self.flip = name, a, b, flip
        self.holdout = (held_a, held_b)  # not pairs: held-out images of each domain
        self.info: dict[str, Any] = {"task": "unpaired", "scale": 1}
        self.crop = a.shape[-1]

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    @property
    def in_channels(self) -> int:
        return self.a.shape[1]

    @property
    def out_channels(self) -> int:
        return self.b.shape[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.b.shape[1:])

    @property
    def all_x(self) -> Tensor:
        return self.b

    def to(self, device) -> UnpairedData:
        self.a, self.b = self.a.to(device), self.b.to(device)
        self.holdout = tuple(t.to(device) for t in self.holdout)
        return self

    def batch(self, idx: Tensor, rng: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(images of A, images of B): A by index, B at random, so the two are never paired."""
        idx = idx.to(self.a.device)
        a = self.a[idx % len(self.a)]
        j = torch.randint(len(self.b), (len(idx),), generator=rng, device=rng.device if rng else "cpu")
        b = self.b[j.to(self.b.device)]
        if self.flip and rng is not None:
            flip = torch.rand(2, len(idx), generator=rng, device=rng.device).to(a.device) < 0.5
            a = torch.where(flip[0].view(-1, 1, 1, 1), a.flip(-1), a)
            b = torch.where(flip[1].view(-1, 1, 1, 1), b.flip(-1), b)
        return a, b


def load_unpaired_folder(root: Path, cfg: DataConfig) -> UnpairedData:
    from gankit.data.files import load_image_folder

    root = Path(root).expanduser()
    if not ((root / "trainA").is_dir() and (root / "trainB").is_dir()):
        raise GankitError(
            f"{root} has no trainA/ and trainB/ folders", "put each domain's images in its folder"
        )
    res = cfg.resolution or 64
    sub = DataConfig(name="", resolution=res, channels=cfg.channels)
    a, b = (load_image_folder(root / d, sub).x for d in ("trainA", "trainB"))
    if (root / "testA").is_dir() and (root / "testB").is_dir():
        ha, hb = (load_image_folder(root / d, sub).x for d in ("testA", "testB"))
    else:
        ha, hb, a, b = a[::10], b[::10], _rest(a), _rest(b)
    return UnpairedData(root.name, a, b, ha, hb, cfg.flip if cfg.flip is not None else True)


def _rest(x: Tensor) -> Tensor:
    keep = torch.ones(len(x), dtype=torch.bool)
    keep[::10] = len(x) < 10  # too few to spare any: keep all
    return x[keep]
