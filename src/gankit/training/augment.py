"""Differentiable augmentation of everything D sees, real and fake alike (DiffAugment, Zhao et al. 2020).

With little data a discriminator memorises the real set and its feedback to G degrades; showing it
randomly translated / cut-out / colour-jittered versions of both real and generated batches keeps it
honest without leaking the augmentation into G's outputs (the ops are differentiable, so G's gradients
flow through them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError, did_you_mean


def _rand(shape, x: Tensor, g: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=g, device=x.device, dtype=x.dtype)


def color(x: Tensor, g: torch.Generator | None) -> Tensor:
    n = len(x)
    x = x + (_rand((n, 1, 1, 1), x, g) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand((n, 1, 1, 1), x, g) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((n, 1, 1, 1), x, g) + 0.5) + mean  # contrast


def translation(x: Tensor, g: torch.Generator | None, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ratio * size pixels, filling with the background (-1)."""
    n, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), generator=g, device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=g, device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).clamp(-1, h)  # (n, h, 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).clamp(-1, w)  # (n, 1, w)
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)  # index -1 / h land on the padding
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)


def cutout(x: Tensor, g: torch.Generator | None, ratio: float = 0.5) -> Tensor:
    """Blank one random square of ratio * size per image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    dy, dx = ys - cy + ch // 2, xs - cx + cw // 2
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> list[str]:
    names = [p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none"]
    for name in names:
        if name not in AUGMENTS:
            raise GankitError(f"unknown augmentation '{name}'", did_you_mean(name, list(AUGMENTS)))
    return names


def diff_augment(x: Tensor, names: list[str], g: torch.Generator | None) -> Tensor:
    if x.ndim != 4:  # only images are augmented
        return x
    for name in names:
        x = AUGMENTS[name](x, g)
    return x
