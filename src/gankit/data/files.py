"""User data from disk: image folders (class sub-folders become labels) and .npy/.npz arrays."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import torch

from gankit.config import DataConfig
from gankit.data.base import RealData
from gankit.data.images import resize_square, to_unit_range
from gankit.errors import GankitError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}  # GIFs: first frame


log = logging.getLogger(__name__)


def load_path(cfg: DataConfig) -> RealData:
    path = Path(cfg.name).expanduser()
    if not path.exists():
        raise GankitError(
            f"data path not found: {path}",
            "pass a built-in dataset (see `gankit datasets`), an image folder, or a .npy/.npz file",
        )
    if path.is_dir():
        return load_image_folder(path, cfg)
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:  # object arrays are pickles: refused, never loaded
            problem = (
                "holds Python objects (a pickle)" if "allow_pickle" in str(e) else f"is unreadable ({e})"
            )
            raise GankitError(f"{path} {problem}", "save a numeric array with numpy.save") from None
        return load_array(path, x, None, cfg)
    if path.suffix == ".npz":
        return load_npz(path, cfg)
    raise GankitError(
        f"can't read {path}: unsupported file type '{path.suffix}'",
        "use an image folder or a .npy/.npz array",
    )


def load_npz(path: Path, cfg: DataConfig) -> RealData:
    try:
        # our own handle: numpy leaves its own open when the file is not a zip
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as arrays:
            keys = list(arrays.keys())
            key = next(
                (k for k in ("x", "samples", "images", "data") if k in keys),
                keys[0] if len(keys) == 1 else None,
            )
            if key is None:
                raise GankitError(
                    f"{path} holds {keys}, none named x/samples/images/data", "name the data array 'x'"
                )
            # read here: an object array inside is refused when read (a pickle, never loaded)
            x = arrays[key]
            labels = next((arrays[k] for k in ("y", "labels") if k in keys), None)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        problem = "holds Python objects (a pickle)" if "allow_pickle" in str(e) else f"is unreadable ({e})"
        raise GankitError(f"{path} {problem}", "write it with numpy.savez (no pickled objects)") from None
    return load_array(path, x, labels, cfg)


def load_array(path: Path, x: np.ndarray, labels: np.ndarray | None, cfg: DataConfig) -> RealData:
    """(N, D) points, or images as (N, H, W), (N, C, H, W) or (N, H, W, C) with C in 1/3."""
    if x.dtype.kind not in "fiub":
        raise GankitError(f"{path}: array of dtype {x.dtype} is not numeric", "save a numeric array")
    if x.ndim == 0 or x.size == 0:  # no rows, or rows of no values
        raise GankitError(f"{path} holds no samples (shape {tuple(x.shape)})", "save at least one sample")
    # torch reads native byte order only, and trains on float32 (uint8 images are scaled below)
    x = np.ascontiguousarray(x, dtype=x.dtype if x.dtype == np.uint8 else np.float32)
    t = torch.from_numpy(x)
    if not torch.isfinite(t).all():
        raise GankitError(
            f"{path} contains NaN or infinite values (or values beyond float32's range)",
            "remove or impute them before training",
        )
    if t.ndim == 2:
        data = RealData(path.stem, t.float(), "points")
    elif t.ndim in (3, 4):
        if t.ndim == 3:
            t = t.unsqueeze(1)
        elif t.shape[-1] in (1, 3) and t.shape[1] not in (1, 3):
            t = t.permute(0, 3, 1, 2)
        if t.shape[1] not in (1, 3):
            raise GankitError(
                f"{path}: images of shape {tuple(x.shape[1:])} have {t.shape[1]} channels",
                "give (N, H, W), (N, C, H, W) or (N, H, W, C) with 1 or 3 channels",
            )
        data = RealData(path.stem, scale_images(t, path), "images")
        data.x = resize_square(data.x, cfg.resolution)
    else:
        raise GankitError(
            f"{path}: array of shape {tuple(x.shape)} is neither points nor images",
            "give (N, D) points or (N, [C,] H, W[, C]) images",
        )
    if labels is not None:
        data.labels = _labels(labels, len(data), path)
        data.num_classes = int(data.labels.max()) + 1
        data.__post_init__()
    return data


def scale_images(t: torch.Tensor, source: Path) -> torch.Tensor:
    """uint8 -> [-1, 1]; floats in [0, 1] or [-1, 1] are taken as they are."""
    if t.dtype == torch.uint8:
        return to_unit_range(t, 255.0)
    t = t.float()
    lo, hi = t.min().item(), t.max().item()
    if lo >= 0 and hi <= 1:
        return t * 2 - 1
    if lo >= -1 and hi <= 1:
        return t
    if lo >= 0 and hi <= 255:
        return to_unit_range(t, 255.0)
    raise GankitError(
        f"{source}: image values span [{lo:g}, {hi:g}]", "scale images to [0, 1], [-1, 1] or 0-255"
    )


def _labels(labels: np.ndarray, n: int, source: Path) -> torch.Tensor:
    if labels.ndim != 1 or len(labels) != n or labels.dtype.kind not in "iu":
        raise GankitError(
            f"{source}: labels must be {n} integers, got shape {labels.shape} {labels.dtype}",
            "store one integer class per sample",
        )
    if labels.min() < 0:
        raise GankitError(f"{source}: negative labels", "number classes from 0")
    return torch.from_numpy(labels.astype(np.int64))


def load_image_folder(root: Path, cfg: DataConfig) -> RealData:
    """Images directly in ``root``, or in class sub-folders (sorted names become labels 0..K-1)."""
    from PIL import Image, UnidentifiedImageError

    def images_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())

    # class folders are the sub-folders holding images (a folder named like an image is not one)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and images_in(d))
    groups = [(i, d) for i, d in enumerate(subdirs)] if subdirs else [(None, root)]
    files, labels = [], []
    for label, folder in groups:
        found = images_in(folder)
        files += found
        labels += [label] * len(found)
    if not files:
        raise GankitError(f"no images found in {root}", f"put {'/'.join(sorted(IMAGE_SUFFIXES))} files there")
    mode = {1: "L", 3: "RGB", None: None}.get(cfg.channels)
    if cfg.channels is not None and mode is None:
        raise GankitError(f"data.channels={cfg.channels} is not supported", "use 1 (grayscale) or 3 (RGB)")
    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
    res = cfg.resolution
    arrays, kept, skipped = [], [], []
    for i, f in enumerate(files):  # per-image work happens once, at load time, never in the training loop
        try:
            with Image.open(f) as im:
                if mode is None:  # as stored (the first readable image): RGB if it has colour
                    mode = "L" if im.mode in ("L", "1", "I;16", "I") else "RGB"
                im = im.convert(mode)
                if res is None:
                    res = min(im.size)
                arrays.append(_fit(im, res))
                kept.append(i)
        except unreadable as e:  # one bad file among good ones must not stop the run
            skipped.append(f"{f.relative_to(root)} ({type(e).__name__})")
    if not arrays:
        raise GankitError(
            f"none of the {len(files)} images in {root} can be read (e.g. {skipped[0]})",
            "check that the files are whole PNG/JPEG images",
        )
    if skipped:
        log.warning(
            "skipped %d unreadable image%s of %d: %s",
            len(skipped), "s" * (len(skipped) > 1), len(files), ", ".join(skipped[:5])
            + (f" and {len(skipped) - 5} more (all in skipped.txt)" if len(skipped) > 5 else ""),
        )  # fmt: skip
    labels = [labels[i] for i in kept]
    x = torch.from_numpy(np.stack(arrays))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    data = RealData(root.name, to_unit_range(x, 255.0), "images")
    if subdirs:
        data.labels = torch.tensor(labels, dtype=torch.int64)
        data.num_classes = len(subdirs)
        data.info["class_names"] = [d.name for d in subdirs]
    if skipped:
        data.info["skipped"] = skipped  # the run directory lists them (skipped.txt)
    return data


def _fit(im, res: int) -> np.ndarray:
    """Resize the short side to ``res`` and centre-crop to a square."""
    from PIL import Image

    w, h = im.size
    scale = res / min(w, h)
    nw, nh = max(res, round(w * scale)), max(res, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - res) // 2, (nh - res) // 2
    return np.asarray(im.crop((left, top, left + res, top + res)), dtype=np.uint8)
