"""Feature extractors behind one interface: what FD, KID, IS and PRDC are computed in.

* ``classifier:<dataset>`` — the small CNN gankit trains on a labelled dataset (see classifier.py):
  128-d features, class logits (so IS and class predictions too), held-out accuracy recorded.
* ``random`` — a seeded, randomly initialised conv net, for unlabelled images where nothing better
  exists. Random features do rank generators (Naeem et al. 2020, "Reliable Fidelity and Diversity
  Metrics for Generative Models", sec. 5), but their numbers mean nothing across extractors: the name
  travels with every result.
* ``inception`` — the standard ImageNet InceptionV3 pool3 features of FID/KID/IS (the TF-ported
  weights, via torch-fidelity: ``pip install "gankit[inception]"``). Needs its weights file.

Every extractor takes images (N, C, H, W) in [-1, 1] and returns float32 CPU tensors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data import RealData
from gankit.errors import GankitError

INCEPTION_WEIGHTS_ENV = "GANKIT_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
RANDOM_SIZE = 32  # the random net sees every image at 32x32
BATCH = 250


@dataclass
class Extractor:
    """Features (and class logits, when the extractor is a classifier) of image batches."""

    name: str
    features: Callable[[Tensor], Tensor]  # (N, C, H, W) in [-1, 1] -> (N, D)
    logits: Callable[[Tensor], Tensor] | None = None  # -> (N, classes)
    provenance: dict[str, Any] = field(default_factory=dict)


def batched(fn: Callable[[Tensor], Tensor], x: Tensor, batch: int = BATCH) -> Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i : i + batch]).float().cpu() for i in range(0, len(x), batch)])


# ------------------------------------------------------------------------------------ classifier


def classifier_extractor(dataset: str, real: RealData | None) -> Extractor:
    from gankit.metrics.classifier import extract_features, predict_logits
    from gankit.metrics.classifier_cache import get_classifier

    data = real if real is not None and (real.name == dataset or dataset not in ("mnist", "digits")) else None
    model, info = get_classifier(dataset, data)
    return Extractor(
        f"classifier:{dataset}",
        lambda x: extract_features(model, x),
        lambda x: predict_logits(model, x),
        {
            "extractor": f"classifier:{dataset}",
            "weights_sha256": info.get("sha256"),
            "held_out_accuracy": info.get("held_out_accuracy"),
            "resize": "bilinear (antialiased) to 28x28",
        },
    )


# ---------------------------------------------------------------------------------------- random


class RandomConvNet(nn.Module):
    """Three stride-2 conv layers with ReLU, average-pooled to 2x2: 512 features, no training.

    Weights are drawn from a fixed seed with He-normal init, so two machines get the same network
    (the sha256 of its weights is recorded with each result).
    """

    def __init__(self, in_channels: int, seed: int = 0):
        super().__init__()
        self.in_channels = in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 4, 2, 1),  # 16x16
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),  # 8x8
            nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2, 1),  # 4x4
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),  # (B, 512)
        )
        g = torch.Generator().manual_seed(seed)
        for m in self.body:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.data = torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
                m.bias.data.zero_()
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x.float(), size=(RANDOM_SIZE, RANDOM_SIZE), mode="bilinear", antialias=True)
        return self.body(x)


def weights_sha256(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def random_extractor(in_channels: int, seed: int = 0) -> Extractor:
    net = RandomConvNet(in_channels, seed)
    return Extractor(
        "random",
        lambda x: batched(net, x),
        None,
        {
            "extractor": "random",
            "weights_sha256": weights_sha256(net),
            "weights_seed": seed,
            "resize": f"bilinear (antialiased) to {RANDOM_SIZE}x{RANDOM_SIZE}",
            "note": "randomly initialised conv net: compare only with results from the same extractor",
        },
    )


# ------------------------------------------------------------------------------------- inception


def inception_weights_path() -> Path | None:
    """$GANKIT_INCEPTION_WEIGHTS, else the torch hub cache file, else None."""
    env = os.environ.get(INCEPTION_WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    return hub if hub.exists() else None


def inception_extractor() -> Extractor:
    """torch-fidelity's InceptionV3 (the TF FID network): 2048-d pool3 features and unbiased logits."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as e:  # not installed, or a dependency of it (torchvision) missing
        raise GankitError(
            f"the inception extractor needs torch-fidelity, which does not import here ({e})",
            'pip install "gankit[inception]", or use --extractor random / classifier:<dataset>',
        ) from None
    path = inception_weights_path()
    if path is None or not path.is_file():
        where = f"{path} does not exist" if path is not None else "no weights file found"
        raise GankitError(
            f"the Inception weights are missing ({where}; they can't be downloaded offline)",
            f"download {INCEPTION_WEIGHTS_URL} and set {INCEPTION_WEIGHTS_ENV}=<path to it>, "
            f"or put it in {Path(torch.hub.get_dir()) / 'checkpoints'}",
        )
    try:
        net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
        ).eval()
    except Exception as e:
        raise GankitError(
            f"could not load the Inception weights from {path} ({type(e).__name__})",
            f"re-download {INCEPTION_WEIGHTS_URL}",
        ) from None
    sha = hashlib.sha256(path.read_bytes()).hexdigest()

    def run(x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # grayscale as RGB, as FID implementations do
        u8 = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # it resizes to 299 itself
        feats, logits = net(u8)
        return feats, logits

    return Extractor(
        "inception",
        lambda x: batched(lambda b: run(b)[0], x, 50),
        lambda x: batched(lambda b: run(b)[1], x, 50),
        {
            "extractor": "inception",
            "weights_sha256": sha,
            "weights": INCEPTION_WEIGHTS_FILE,
            "resize": "uint8, bilinear to 299x299 as TF1 (torch-fidelity)",
        },
    )


# -------------------------------------------------------------------------------------- lookup


def get_extractor(spec: str, real: RealData | None, in_channels: int) -> Extractor:
    """``classifier:<dataset>``, ``classifier`` (the real data's own), ``random`` or ``inception``."""
    kind, _, arg = spec.partition(":")
    if kind == "random":
        return random_extractor(in_channels, int(arg or 0))
    if kind == "inception":
        return inception_extractor()
    if kind == "classifier":
        dataset = arg or (real.name if real is not None else "")
        if not dataset:
            raise GankitError("the classifier extractor needs a labelled dataset", "use classifier:mnist")
        return classifier_extractor(dataset, real)
    raise GankitError(
        f"unknown feature extractor '{spec}'", "use classifier:<dataset>, classifier, random or inception"
    )
