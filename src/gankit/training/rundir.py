"""Run directories: ``runs/NNNNN-<model>-<data>/``, numbered, never overwritten."""

from __future__ import annotations

import re
from pathlib import Path

from gankit.errors import GankitError


def slug(text: str) -> str:
    name = Path(text).stem if any(c in text for c in "/\\.") else text
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "data"


def new_run_dir(root: Path, model: str, data: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
    n = max(numbers, default=-1) + 1
    while True:  # another process may have taken the number: try the next
        path = root / f"{n:05d}-{slug(model)}-{slug(data)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def claim_out_dir(out: Path) -> Path:
    """``--out DIR`` is the run directory itself: refused if it exists and is not empty."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GankitError(
            f"{out} already exists and is not empty",
            "choose a new --out directory, or resume it with --resume",
        )
    out.mkdir(parents=True, exist_ok=True)
    return out
