"""Digit metrics read by a classifier trained on the real labelled data (see classifier.py)."""

from __future__ import annotations

from typing import Any

import torch

from gankit.metrics.base import EvalContext, Metric, has_labels, register_metric


def classifier_fd(ctx: EvalContext, n: int) -> dict[str, Any]:
    """Frechet distance between classifier features of n generated and all real samples, plus how
    confidently and evenly the classifier labels the generated ones."""
    from gankit.metrics.frechet import frechet_distance

    fd = frechet_distance(ctx.features("classifier", "real", n), ctx.features("classifier", "fake", n))
    fake, _ = ctx.fakes(n)
    probs = ctx.extractor("classifier").logits(fake).softmax(dim=1)
    conf, pred = probs.max(dim=1)
    counts = torch.bincount(pred, minlength=ctx.real.num_classes)
    return {
        "fd": fd,
        "confident_share": float((conf >= 0.9).float().mean()),  # samples labelled with p >= 0.9
        "class_shares": (counts.float() / len(fake)).tolist(),
        "provenance": ctx.provenance("classifier", n),
    }


def label_accuracy(ctx: EvalContext, n: int) -> dict[str, Any]:
    """Share of a conditional model's samples that the classifier assigns to the requested label."""
    fake, labels = ctx.fakes(n)
    pred = ctx.extractor("classifier").logits(fake).argmax(dim=1)
    per_class = [
        float((pred[labels == k] == k).float().mean())
        for k in range(ctx.real.num_classes)
        if (labels == k).any()
    ]
    return {
        "accuracy": float((pred == labels).float().mean()),
        "per_class": per_class,
        "provenance": ctx.provenance("classifier", n),
    }


def stacked_mode_stats(triples: torch.Tensor, confidence: torch.Tensor | None = None) -> dict[str, Any]:
    """Modes and KL(p || uniform over 1000) of Stacked-MNIST labels ``d1*100 + d2*10 + d3``.

    Also per channel: the digit shares and their KL to uniform over 10. The joint KL is the sum of
    the three channel KLs plus the dependence between channels (total correlation), so the two say
    whether a high KL comes from unbalanced digits within a channel or from channels that co-vary.

    With the classifier's per-channel ``confidence`` (B, 3): ``confident_share``, the share of digits
    read with p >= 0.9 (real digits: 0.90). Modes and KL take every sample's argmax, legible or not,
    so they only mean what the papers meant when most digits are legible.
    """
    triples = triples.long().cpu()
    counts = torch.bincount(triples, minlength=1000).double()
    p = counts[counts > 0] / counts.sum()
    digits = torch.stack([triples // 100, triples // 10 % 10, triples % 10], dim=1)
    shares = [torch.bincount(digits[:, c], minlength=10).double() / len(triples) for c in range(3)]
    channel_kl = [float((s[s > 0] * torch.log(s[s > 0] * 10)).sum()) for s in shares]
    stats = {
        "modes": int((counts > 0).sum()),
        "num_modes": 1000,
        "kl": float((p * torch.log(p * 1000)).sum()),
        "channel_kl": channel_kl,
        "channel_shares": [[round(float(v), 4) for v in s] for s in shares],
    }
    if confidence is not None:
        stats["confident_share"] = float((confidence >= 0.9).float().mean())
    return stats


def stacked_modes(ctx: EvalContext, n: int) -> dict[str, Any]:
    """Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): each channel's digit read by the MNIST
    classifier; modes = distinct triples among n samples; KL(p_gen || uniform over 1000), natural log."""
    from gankit.metrics.classifier import read_stacked
    from gankit.metrics.classifier_cache import get_classifier

    model, info = get_classifier("stacked-mnist", ctx.real)
    fake, _ = ctx.fakes(n)
    return {
        **stacked_mode_stats(*read_stacked(model, fake)),
        "provenance": {
            "extractor": "classifier:mnist (per channel)",
            "weights_sha256": info.get("sha256"),
            "held_out_accuracy": info.get("held_out_accuracy"),
            "n_fake": len(fake),
            "resize": "bilinear (antialiased) to 28x28",
        },
    }


register_metric(
    Metric(
        name="fd_classifier_5k",
        default_n=5000,
        applies=has_labels,
        compute=classifier_fd,
        headline=("fd", "min"),
        cheap_n=1000,
        description="Frechet distance in the features of a classifier trained on the real labelled data",
    )
)
register_metric(
    Metric(
        name="label_accuracy_5k",
        default_n=5000,
        compute=label_accuracy,
        applies=lambda ctx: has_labels(ctx) and ctx.conditional,
        headline=("accuracy", "max"),
        cheap_n=1000,
        description="conditional models: share of samples the classifier gives the requested label",
    )
)
register_metric(
    Metric(
        name="modes_stacked_mnist",
        default_n=26000,
        compute=stacked_modes,
        applies=lambda ctx: ctx.real is not None and bool(ctx.real.info.get("stacked")),
        headline=("kl", "min"),
        cheap_n=5000,
        description="Stacked MNIST: modes among 26,000 samples (of 1000) and KL(p_gen || uniform)",
    )
)
