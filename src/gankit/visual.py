"""Pictures of samples: image grids and 2-D scatter plots, as PNG, with no plotting library."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def image_grid(x: Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (H', W', C) uint8 grid with ``pad`` px dark borders."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    grid = torch.zeros(c, ncol * (h + pad) + pad, nrow * (w + pad) + pad, dtype=torch.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    return grid.permute(1, 2, 0).numpy()


def scatter(
    points: Tensor, centres: list | None = None, size: int = 400, extent: float | None = None
) -> np.ndarray:
    """Rasterise (N, 2) points (and optional mode centres, in red) onto a white square image."""
    p = points.detach().float().cpu().numpy()
    ref = np.asarray(centres, dtype=np.float32) if centres is not None else p
    if extent is None:
        finite = ref[np.isfinite(ref).all(1)]
        extent = float(np.abs(finite).max()) * 1.3 if len(finite) else 1.0
    img = np.full((size, size, 3), 255, dtype=np.uint8)

    def to_px(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ij = ((a / extent + 1) / 2 * (size - 1)).round()
        ok = np.isfinite(ij).all(1) & (ij >= 0).all(1) & (ij < size).all(1)
        ij = ij[ok].astype(int)
        return size - 1 - ij[:, 1], ij[:, 0]

    rows, cols = to_px(p)
    img[rows, cols] = (30, 30, 30)
    if centres is not None:
        rows, cols = to_px(np.asarray(centres, dtype=np.float32))
        for dr in range(-2, 3):
            for dc in range(-2, 3):
                img[np.clip(rows + dr, 0, size - 1), np.clip(cols + dc, 0, size - 1)] = (220, 40, 40)
    return img


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Written whole (temp file + rename): a kill mid-write leaves the previous file or none."""
    import io

    from PIL import Image

    from gankit import durable

    if array.shape[-1] == 1:
        array = array[..., 0]
    path = Path(path)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    durable.write_bytes(path, buffer.getvalue(), sync=False)


def save_samples_png(
    x: Tensor, path: str | Path, centres: list | None = None, nrow: int | None = None
) -> None:
    """A grid for images, a scatter plot for 2-D points."""
    if x.ndim == 4:
        save_png(image_grid(x, nrow), path)
    elif x.ndim == 2 and x.shape[1] == 2:
        save_png(scatter(x, centres), path)
    else:  # other vectors: show them as rows of pixels
        v = x.detach().float().cpu()
        v = (v - v.min()) / (v.max() - v.min() + 1e-12) * 2 - 1
        save_png(image_grid(v[:, None, None, :]), path)
