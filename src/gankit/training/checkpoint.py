"""Resume checkpoints: tensors and plain values only, loaded with ``weights_only=True``.

Each checkpoint lands whole (gankit/durable.py), and ``checkpoints/manifest.json`` records the size
and sha256 of every kept file, so a resume can tell a file that was damaged after it was written (a
bad disk, a copy cut short) and fall back to the previous good one. Runs written before the manifest
resume as before: a file the manifest doesn't list is only required to load.
"""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit import durable
from gankit.errors import GankitError

log = logging.getLogger(__name__)

FORMAT = "gankit-checkpoint-2"
# format 1 (gankit 0.1): no stage, objective or global RNG; a D warm-up counted in "warmup_done"
READABLE = ("gankit-checkpoint-1", FORMAT)
_NAME = re.compile(r"ckpt-(\d+)\.pt$")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gankit-checkpoints-1"


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint whole (temp file, fsync, rename, fsync of the directory), record it in the
    manifest, then drop the oldest beyond ``keep``: a crash at any point leaves every listed file
    whole and the previous checkpoints in place."""
    directory.mkdir(parents=True, exist_ok=True)
    durable.remove_temporaries(directory)  # left by a process killed mid-write
    path = directory / f"ckpt-{step:07d}.pt"
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "step": step, **state}, buffer)
    blob = buffer.getbuffer()
    durable.write_bytes(path, blob)
    kept = list_checkpoints(directory)
    dropped = kept[:-keep] if keep > 0 else []
    files = {k: v for k, v in read_manifest(directory).items() if (directory / k).exists()}
    files[path.name] = {"size": len(blob), "sha256": durable.sha256(blob)}
    for old in dropped:
        files.pop(old.name, None)
    write_manifest(directory, files)
    for old in dropped:  # after the manifest: a crash here leaves an extra file, never a missing one
        old.unlink(missing_ok=True)
    return path


def read_manifest(directory: Path) -> dict[str, dict[str, Any]]:
    """``{file name: {"size", "sha256"}}``; empty when absent (older runs) or unreadable."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"] if manifest.get("format") == MANIFEST_FORMAT else {}
        return {k: v for k, v in files.items() if isinstance(v, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_manifest(directory: Path, files: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"format": MANIFEST_FORMAT, "files": dict(sorted(files.items()))}, indent=1)
    durable.write_text(directory / MANIFEST, text + "\n")


def verify(path: Path, manifest: dict[str, dict[str, Any]]) -> str | None:
    """Why ``path`` fails its manifest entry (size, then sha256), or None when it matches or is unlisted."""
    entry = manifest.get(path.name)
    if entry is None:
        return None
    size = path.stat().st_size
    if size != entry.get("size"):
        return f"its size is {size} bytes, the manifest says {entry.get('size')}"
    if durable.file_sha256(path) != entry.get("sha256"):
        return "its sha256 does not match the manifest"
    return None


def list_checkpoints(directory: Path) -> list[Path]:
    found = [p for p in directory.glob("ckpt-*.pt") if _NAME.search(p.name)]
    return sorted(found, key=lambda p: int(_NAME.search(p.name).group(1)))


def latest_checkpoint(run_dir: Path) -> Path:
    ckpts = list_checkpoints(run_dir / "checkpoints")
    if not ckpts:
        raise GankitError(
            f"no checkpoint in {run_dir / 'checkpoints'}", "start a new run instead of --resume"
        )
    return ckpts[-1]


def load_latest_good(run_dir: Path, device: torch.device) -> dict[str, Any] | None:
    """The newest checkpoint that loads; a damaged one (truncated, corrupt, a planted pickle) is
    skipped for the one before, with one line saying so. None when the run has no checkpoint."""
    directory = run_dir / "checkpoints"
    ckpts = list_checkpoints(directory)
    manifest = read_manifest(directory)
    skipped = []
    for path in reversed(ckpts):
        try:
            damage = verify(path, manifest)
            if damage is not None:
                raise GankitError(f"damaged: {damage}")
            state = load_checkpoint(path, device)
        except (GankitError, OSError) as e:
            skipped.append(f"{path.name}: {e.problem if isinstance(e, GankitError) else e.strerror}")
            continue
        for line in skipped:  # one line each, and only when a good one was found (else: the error)
            log.warning("skipping %s; resuming from %s", line, path.name)
        return state
    if ckpts:
        raise GankitError(
            f"no checkpoint in {directory} can be loaded ({len(ckpts)} damaged, newest {skipped[0]})",
            "start a new run; the damaged files were left in place",
        )
    return None


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # torch warns about pickles it then refuses: one line is enough
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # corrupt, truncated, or carrying pickled objects: refuse, never unpickle
        raise GankitError(
            f"can't load checkpoint {path}: {type(e).__name__}",
            "delete it to resume from the previous checkpoint",
        ) from None
    if not isinstance(state, dict) or state.get("format") not in READABLE:
        raise GankitError(
            f"{path} is not a gankit checkpoint", "pass a run directory written by gankit train"
        )
    return upgrade(state)


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """A format-1 checkpoint as format 2: its warm-up position becomes the stage position (the
    standard game's stages were [warm-up,] main)."""
    if state["format"] == FORMAT:
        return state
    warmup = int(state["config"]["optim"].get("d_warmup", 0))
    done = int(state.pop("warmup_done", 0))
    if done < warmup:
        stage = {"index": 0, "iterations": done}
    else:
        stage = {"index": 1 if warmup > 0 else 0, "iterations": int(state["step"])}
    return {**state, "format": FORMAT, "stage": stage, "objective": {}}
