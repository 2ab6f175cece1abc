"""Inpainting masks: random boxes and free-form strokes at training time, a user's mask at inference.

A mask is (N, 1, H, W) with 1 where pixels are missing. The network sees the image with the missing
pixels set to 0 (mid-grey) and the mask as an extra channel, as in pix2pix-style and partial-conv
inpainting; what it returns outside the mask is replaced by the input (:func:`composite`).
"""

from __future__ import annotations

import torch
from torch import Tensor


def random_masks(n: int, h: int, w: int, rng: torch.Generator, device) -> Tensor:
    """Half the batch a box (a quarter to a half of each side), half free-form strokes."""
    boxes = _boxes(n, h, w, rng, device)
    strokes = _strokes(n, h, w, rng, device)
    pick = (torch.rand(n, 1, 1, 1, generator=rng, device=device) < 0.5).float()
    return pick * boxes + (1 - pick) * strokes


def _boxes(n: int, h: int, w: int, rng: torch.Generator, device) -> Tensor:
    u = torch.rand(n, 4, generator=rng, device=device)
    bh, bw = (h * (0.25 + 0.25 * u[:, 0])).long(), (w * (0.25 + 0.25 * u[:, 1])).long()
    top, left = ((h - bh) * u[:, 2]).long(), ((w - bw) * u[:, 3]).long()
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    inside_r = (rows[None] >= top[:, None]) & (rows[None] < (top + bh)[:, None])
    inside_c = (cols[None] >= left[:, None]) & (cols[None] < (left + bw)[:, None])
    return (inside_r[:, :, None] & inside_c[:, None, :]).float().unsqueeze(1)


def _strokes(n: int, h: int, w: int, rng: torch.Generator, device, vertices: int = 5) -> Tensor:
    """A random polyline per image, a few pixels thick (brush strokes as in DeepFill v2's masks)."""
    points = torch.rand(n, vertices, 2, generator=rng, device=device) * torch.tensor([h, w], device=device)
    width = (0.05 + 0.07 * torch.rand(n, 1, 1, generator=rng, device=device)) * min(h, w)
    grid = (
        torch.stack(
            torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"), -1
        )
        .float()
        .view(1, 1, h * w, 2)
    )
    a, b = points[:, :-1, None], points[:, 1:, None]  # segment ends (n, v-1, 1, 2)
    ab = b - a
    t = ((grid - a) * ab).sum(-1) / ab.pow(2).sum(-1).clamp_min(1e-6)
    nearest = a + t.clamp(0, 1).unsqueeze(-1) * ab
    dist = (grid - nearest).norm(dim=-1).amin(1)  # (n, h*w)
    return (dist <= width.view(n, 1)).float().view(n, 1, h, w)


def masked_input(x: Tensor, mask: Tensor) -> Tensor:
    """The network's input: the image with missing pixels at 0, and the mask as a last channel."""
    return torch.cat([x * (1 - mask), mask], 1)


def composite(x: Tensor, filled: Tensor, mask: Tensor) -> Tensor:
    """Pixels outside the mask exactly as given; inside, the network's."""
    return torch.where(mask > 0.5, filled, x)
