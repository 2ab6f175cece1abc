"""Distribution metrics in some extractor's features: FD, KID, IS, precision/recall/density/coverage.

One set of registrations per extractor (``fd_classifier_5k``, ``kid_random_5k``,
``prdc_inception_10k``, ...), so a name says what was computed, in which features, on how many
samples. The math lives in frechet.py (FD, KID) and prdc (PRDC); IS is a few lines here.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch

from gankit.metrics.base import EvalContext, Metric, has_labels, register_metric


def _real_subset(feats: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """At most n real rows, drawn without replacement (PRDC wants equal-sized sets)."""
    if len(feats) <= n:
        return feats
    g = torch.Generator().manual_seed(seed)
    return feats[torch.randperm(len(feats), generator=g)[:n]]


def fd(spec: str):
    def compute(ctx: EvalContext, n: int) -> dict[str, Any]:
        from gankit.metrics.frechet import frechet_distance

        value = frechet_distance(ctx.features(spec, "real", n), ctx.features(spec, "fake", n))
        return {"fd": value, "provenance": ctx.provenance(spec, n)}

    return compute


def kid(spec: str):
    def compute(ctx: EvalContext, n: int) -> dict[str, Any]:
        from gankit.metrics.frechet import kernel_inception_distance

        mean, std = kernel_inception_distance(
            ctx.features(spec, "real", n), ctx.features(spec, "fake", n), seed=ctx.seed
        )
        prov = ctx.provenance(spec, n, subsets=10, subset_size=1000, kernel="(x.y/d + 1)^3")
        return {"kid": mean, "kid_std": std, "provenance": prov}

    return compute


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), mean and std over ``splits`` chunks."""
    scores = []
    for part in np.array_split(probs, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def is_score(spec: str):
    def compute(ctx: EvalContext, n: int) -> dict[str, Any]:
        ext = ctx.extractor(spec)
        x, _ = ctx.fakes(n)
        probs = ext.logits(x).double().softmax(dim=1).numpy()
        mean, std = inception_score(probs)
        return {"is": mean, "is_std": std, "provenance": ctx.provenance(spec, n, splits=10)}

    return compute


def prdc(spec: str, k: int = 5):
    def compute(ctx: EvalContext, n: int) -> dict[str, Any]:
        from prdc import compute_prdc

        fake = ctx.features(spec, "fake", n)
        real = _real_subset(ctx.features(spec, "real", n), len(fake), ctx.seed)
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
            values = compute_prdc(real.numpy(), fake.numpy(), nearest_k=k)
        prov = ctx.provenance(spec, n, nearest_k=k, n_real_used=len(real))
        return {key: float(v) for key, v in values.items()} | {"provenance": prov}

    return compute


def intra_fd(spec: str):
    """Conditional models: mean over classes of the FD between real and generated class-k samples."""

    def compute(ctx: EvalContext, n: int) -> dict[str, Any]:
        from gankit.metrics.frechet import frechet_distance

        real_f = ctx.features(spec, "real", n)
        fake_f = ctx.features(spec, "fake", n)
        _, y_fake = ctx.fakes(n)
        y_real = ctx.real_xy()[1]
        per_class = [
            frechet_distance(real_f[y_real == k], fake_f[y_fake == k])
            for k in range(ctx.real.num_classes)
            if (y_real == k).sum() > 1 and (y_fake == k).sum() > 1
        ]
        return {
            "intra_fd": float(np.mean(per_class)),
            "per_class": per_class,
            "provenance": ctx.provenance(spec, n, reference="each class's real samples"),
        }

    return compute


def _images(ctx: EvalContext) -> bool:
    return ctx.kind == "images" and ctx.real is not None and ctx.real.kind == "images"


def _no_labels(ctx: EvalContext) -> bool:
    return not has_labels(ctx)


_KINDS = {
    # extractor tag: (spec, applies, default n, run by a plain `evaluate` when it applies)
    "classifier": ("classifier", has_labels, 5000, True),
    "random": ("random", _images, 5000, _no_labels),  # by default only where no classifier exists
    "inception": ("inception", _images, 10000, False),  # asked for by name: needs weights, slow on CPU
}

# what is computed: (name prefix, description, compute factory, headline, needs class probabilities)
_PROTOCOLS = [
    ("fd", "Frechet distance in {} features (FID with inception)", fd, ("fd", "min"), False),
    (
        "kid",
        "kernel distance (KID: cubic kernel, 10 subsets of 1,000) in {} features",
        kid,
        ("kid", "min"),
        False,
    ),
    (
        "prdc",
        "precision/recall (Kynkaanniemi 2019), density/coverage (Naeem 2020), k=5, in {} features",
        prdc,
        ("coverage", "max"),
        False,
    ),
    ("is", "Inception Score (10 splits) from {} class probabilities", is_score, ("is", "max"), True),
]

for _tag, (_spec, _applies, _n, _default) in _KINDS.items():
    for _prefix, _description, _factory, _headline, _needs_logits in _PROTOCOLS:
        _name = f"{_prefix}_{_tag}_{_n // 1000}k"
        if _name == "fd_classifier_5k" or (_needs_logits and _tag == "random"):
            continue  # fd_classifier_5k lives in digits.py (it adds class statistics); random has no classes
        register_metric(
            Metric(
                _name,
                _description.format(_spec),
                _n,
                _applies,
                _factory(_spec),
                headline=_headline,
                default=_default,
                cheap_n=1000,
            )
        )

register_metric(
    Metric(
        "intra_fd_classifier_5k",
        "conditional models: mean per-class Frechet distance in classifier features",
        5000,
        lambda ctx: has_labels(ctx) and ctx.conditional,
        intra_fd("classifier"),
        headline=("intra_fd", "min"),
        cheap_n=1000,
    )
)
