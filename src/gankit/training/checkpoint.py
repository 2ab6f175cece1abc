"""Resume checkpoints: tensors and plain values only, loaded with ``weights_only=True``."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError

log = logging.getLogger(__name__)

FORMAT = "gankit-checkpoint-2"
# format 1 (gankit 0.1): no stage, objective or global RNG; a D warm-up counted in "warmup_done"
READABLE = ("gankit-checkpoint-1", FORMAT)
_NAME = re.compile(r"ckpt-(\d+)\.pt$")


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write atomically (temp file + rename) so an interrupted save never leaves a broken file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ckpt-{step:07d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, "step": step, **state}, tmp)
    os.replace(tmp, path)
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink()
    return path


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
    ckpts = list_checkpoints(run_dir / "checkpoints")
    for path in reversed(ckpts):
        try:
            return load_checkpoint(path, device)
        except GankitError as e:
            log.warning("skipping %s: %s", path.name, e.problem)
    if ckpts:
        raise GankitError(
            f"no checkpoint in {run_dir / 'checkpoints'} can be loaded ({len(ckpts)} damaged)",
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
