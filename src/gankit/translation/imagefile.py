"""Reading and writing single images for the translation commands, with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gankit.data.files import IMAGE_SUFFIXES  # one list of what counts as an image
from gankit.errors import GankitError


def read_image(path: Path, channels: int | None = None) -> Tensor:
    """(C, H, W) float in [-1, 1]; ``channels`` 1 or 3 converts, None keeps gray as 1 and colour as 3."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise GankitError(f"not found: {path}", "pass an existing image file")
    try:
        with Image.open(path) as im:
            mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if im.mode in ("L", "1", "I;16", "I") else "RGB")
            array = np.asarray(im.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise GankitError(
            f"can't read image {path} ({type(e).__name__})", "pass a whole PNG/JPEG image"
        ) from None
    t = torch.from_numpy(array.copy()).float().div(127.5).sub(1)
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)


def write_png(x: Tensor, path: Path) -> Path:
    """Write (C, H, W) in [-1, 1] as PNG, atomically (temporary file, then rename)."""
    from PIL import Image

    path = Path(path)
    array = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    array = array[0].numpy() if array.shape[0] == 1 else array.permute(1, 2, 0).numpy()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        Image.fromarray(array).save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise GankitError(
            f"can't write {path}: {e.strerror or e}", "choose a writable output directory"
        ) from None
    return path


def list_images(inputs: list[Path]) -> list[Path]:
    """Files as given, and the images inside folders (sorted), each once."""
    found: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.exists():
            found.append(p)
        else:
            raise GankitError(f"not found: {p}", "pass existing image files or folders")
    if not found:
        raise GankitError(
            f"no images in {', '.join(map(str, inputs))}", "pass PNG/JPEG files or folders of them"
        )
    return list(dict.fromkeys(found))
