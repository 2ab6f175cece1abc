"""The digit classifiers' cache: trained once per dataset and resolution, then read from disk.

Safetensors (no pickle) with a JSON sidecar holding the held-out accuracy, the recipe and the
weights' sha256, under ``$GANKIT_CACHE`` or ``~/.cache/gankit``, in
``classifiers/<dataset>-<resolution>-v1.safetensors``. A damaged or incompatible entry is retrained.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from gankit.config import DataConfig
from gankit.data.base import RealData
from gankit.errors import GankitError
from gankit.metrics import classifier as net  # called through the module: tests replace its trainer
from gankit.metrics.classifier import (
    BUILTIN_DATASETS,
    CACHE_VERSION,
    DEFAULT_EPOCHS,
    FEATURE_DIM,
    HOLDOUT_FRACTION,
    DigitClassifier,
)

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$GANKIT_CACHE`` if set, else ``~/.cache/gankit``."""
    env = os.environ.get("GANKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gankit"


def _resolution_tag(x: Tensor) -> str:
    h, w = x.shape[-2:]
    return str(h) if h == w else f"{h}x{w}"


def _data_hash(data: RealData) -> str:
    """Short hash of what identifies a user dataset for caching: shape, classes and labels."""
    h = hashlib.sha256()
    h.update(repr((tuple(data.x.shape), data.num_classes)).encode())
    h.update(data.labels.detach().cpu().long().numpy().tobytes())
    return h.hexdigest()[:12]


def _safe_name(name: str) -> str:
    """A dataset name (maybe a path) as a file-name stem."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name or name).strip("._") or "data"


def _atomic_write(path: Path, blob: bytes) -> None:
    """Write to a temp file in the same directory, then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _save(model: DigitClassifier, path: Path, info: dict[str, Any]) -> dict[str, Any]:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors writes metadata in hash-map order, so with two keys the
    # bytes (and the sha256) of identical weights could differ from one save to the next.
    blob = st_save(state, metadata={"format": "pt"})
    info = {**info, "sha256": hashlib.sha256(blob).hexdigest()}
    # Weights first, then the sidecar: a reader checks the sidecar's hash against the weights, so
    # interleaved writers are detected (and retrained) rather than silently mixed.
    _atomic_write(path, blob)
    _atomic_write(path.with_suffix(".json"), (json.dumps(info, indent=2) + "\n").encode())
    return info


def _load(
    path: Path, num_classes: int, in_channels: int, device: torch.device
) -> tuple[DigitClassifier, dict]:
    """Load a cached classifier; raises on anything wrong (missing sidecar, bad hash, wrong shapes)."""
    info = json.loads(path.with_suffix(".json").read_text())
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != info.get("sha256"):
        raise ValueError("the weights do not match the sha256 in the sidecar")
    if info.get("num_classes") != num_classes or info.get("in_channels") != in_channels:
        raise ValueError(f"cached for {info.get('num_classes')} classes / {info.get('in_channels')} channels")
    model = DigitClassifier(num_classes, in_channels)
    model.load_state_dict(st_load(blob), strict=True)
    return model.to(device).eval(), info


def _get_or_train(
    key: str,
    dataset: str,
    load_data: Callable[[], RealData],
    num_classes: int,
    in_channels: int,
    device: torch.device,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
) -> tuple[DigitClassifier, dict[str, Any]]:
    """The classifier cached under ``key``, or one trained on ``load_data()`` (then cached).

    The data is loaded only when training is needed, so a cache hit costs one file read.
    """
    path = cache_dir() / "classifiers" / f"{key}-{CACHE_VERSION}.safetensors"
    if path.exists():
        try:
            model, info = _load(path, num_classes, in_channels, device)
            log.debug("loaded the %s classifier from %s", dataset, path)
            return model, {**info, "path": str(path), "from_cache": True}
        except Exception as e:  # any corruption or incompatibility: retrain rather than crash
            log.warning(
                "the cached classifier %s is unusable (%s: %s); retraining it", path, type(e).__name__, e
            )
    data = load_data()
    t0 = time.perf_counter()
    model, acc = net.train_classifier(
        data.x, data.labels, num_classes, seed=seed, epochs=epochs, device=device
    )
    info: dict[str, Any] = {
        "dataset": dataset,
        "resolution": _resolution_tag(data.x),
        "num_samples": len(data.x),
        "num_classes": num_classes,
        "in_channels": in_channels,
        "feature_dim": FEATURE_DIM,
        "held_out_accuracy": acc,
        "holdout_fraction": HOLDOUT_FRACTION,
        "seed": seed,
        "epochs": epochs,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "version": CACHE_VERSION,
        "torch": torch.__version__,
    }
    try:
        info = _save(model, path, info)
    except OSError as e:  # a read-only cache must not stop an evaluation
        log.warning("could not cache the classifier at %s (%s); it will be retrained next time", path, e)
    return model, {**info, "path": str(path), "from_cache": False}


def _load_builtin(dataset: str) -> RealData:
    from gankit.data.images import load_digits, load_mnist

    loader = load_mnist if dataset == "mnist" else load_digits
    return loader(DataConfig(name=dataset))


# The bundled labelled datasets at their own resolution: (resolution, num_classes).
_BUILTIN_SHAPES = {"mnist": (28, 10), "digits": (8, 10)}
_BUILTIN_SIZES = {"mnist": 5000, "digits": 1797}


def get_classifier(
    dataset: str, data: RealData | None = None, device: torch.device | str = "cpu"
) -> tuple[DigitClassifier, dict[str, Any]]:
    """The (cached) digit classifier for a dataset; returns (model in eval mode, info).

    * ``"mnist"``, ``"digits"``: trained on the bundled data (or on ``data`` if given, e.g. at another
      resolution), cached as ``<dataset>-<resolution>-v1``.
    * ``"stacked-mnist"``: the MNIST classifier at the digits' resolution, meant to be applied per
      channel with :func:`read_stacked`; ``info["per_channel"]`` is True.
    * any other name: ``data`` must be a labelled image dataset; cached under the name plus a hash of
      the data's shape and labels.

    ``info`` is the JSON sidecar (held-out accuracy, seed, epochs, num_classes, sha256, ...) plus
    ``path`` and ``from_cache``.
    """
    device = torch.device(device)
    if dataset == "stacked-mnist":
        if data is not None:
            digits = getattr(data, "digits", None)
            digit_labels = getattr(data, "digit_labels", None)
            if digits is None or digit_labels is None:
                raise GankitError(
                    "stacked-mnist data must be a StackedMNIST (with .digits and .digit_labels)",
                    "load it with gankit's stacked-mnist loader",
                )
            data = RealData("mnist", digits.cpu(), "images", digit_labels.cpu(), 10)
        model, info = get_classifier("mnist", data, device)
        return model, {**info, "per_channel": True, "stacked_num_classes": 1000}
    if dataset in ("mnist", "digits"):
        if data is not None and data.labels is None:
            raise GankitError(f"the {dataset} data given has no labels", "pass the labelled dataset")
        if data is None:
            resolution, num_classes = _BUILTIN_SHAPES[dataset]
            key = f"{dataset}-{resolution}"
            return _get_or_train(key, dataset, lambda: _load_builtin(dataset), num_classes, 1, device)
        key = f"{dataset}-{_resolution_tag(data.x)}"
        if len(data) != _BUILTIN_SIZES[dataset]:  # a subset (e.g. a held-out split): its own classifier
            key += f"-{_data_hash(data)}"
        return _get_or_train(key, dataset, lambda: data, data.num_classes, data.x.shape[1], device)
    if data is None:
        raise GankitError(
            f"no built-in classifier for dataset '{dataset}'",
            f"pass its labelled data, or use one of: {', '.join(BUILTIN_DATASETS)}",
        )
    if data.labels is None or data.num_classes < 2:
        raise GankitError(
            f"dataset '{dataset}' has no class labels, so no classifier can be trained for it",
            "use a labelled dataset, or a metric that needs no classifier",
        )
    if data.kind != "images" or data.x.ndim != 4:
        raise GankitError(f"dataset '{dataset}' is not an image dataset", "classifier metrics need images")
    key = f"{_safe_name(dataset)}-{_resolution_tag(data.x)}-{_data_hash(data)}"
    return _get_or_train(key, dataset, lambda: data, data.num_classes, data.x.shape[1], device)
