"""Metrics in the features of a classifier trained on the real labelled data (see classifier.py)."""

from __future__ import annotations

from typing import Any

import torch

from gankit.metrics.base import EvalContext, Metric, real_images, register_metric


def _applies(ctx: EvalContext) -> bool:
    real = ctx.real
    return (
        real is not None
        and real.kind == "images"
        and real.labels is not None
        and real.num_classes >= 2
        and not real.info.get("stacked")
    )


def _classifier(ctx: EvalContext):
    from gankit.metrics.classifier import get_classifier

    real = ctx.real
    name = real.name if real.name in ("mnist", "digits") else ctx.meta["data"]["name"]
    return get_classifier(name, real)


def classifier_fd(ctx: EvalContext, n: int) -> dict[str, Any]:
    """Frechet distance between classifier features of n generated and all real samples, plus how
    confidently and evenly the classifier labels the generated ones."""
    from gankit.metrics.classifier import extract_features, predict_proba
    from gankit.metrics.frechet import frechet_distance

    model, info = _classifier(ctx)
    fake, _ = ctx.fakes(n)
    real = real_images(ctx)
    fd = frechet_distance(extract_features(model, real), extract_features(model, fake))
    probs = predict_proba(model, fake)
    conf, pred = probs.max(dim=1)
    counts = torch.bincount(pred, minlength=ctx.real.num_classes)
    return {
        "fd": fd,
        "confident_share": float((conf >= 0.9).float().mean()),  # samples labelled with p >= 0.9
        "class_shares": (counts.float() / n).tolist(),
        "provenance": {
            "extractor": f"classifier:{info.get('dataset', ctx.real.name)}",
            "weights_sha256": info.get("sha256"),
            "held_out_accuracy": info.get("held_out_accuracy"),
            "n_real": len(real),
        },
    }


def label_accuracy(ctx: EvalContext, n: int) -> dict[str, Any]:
    """Share of a conditional model's samples that the classifier assigns to the requested label."""
    from gankit.metrics.classifier import predict_proba

    model, info = _classifier(ctx)
    fake, labels = ctx.fakes(n)
    pred = predict_proba(model, fake).argmax(dim=1)
    per_class = [
        float((pred[labels == k] == k).float().mean())
        for k in range(ctx.real.num_classes)
        if (labels == k).any()
    ]
    return {
        "accuracy": float((pred == labels).float().mean()),
        "per_class": per_class,
        "provenance": {
            "extractor": f"classifier:{info.get('dataset', ctx.real.name)}",
            "weights_sha256": info.get("sha256"),
        },
    }


register_metric(
    Metric(
        name="fd_classifier_5k",
        default_n=5000,
        applies=_applies,
        compute=classifier_fd,
        description="Frechet distance in the features of a classifier trained on the real labelled data",
    )
)
register_metric(
    Metric(
        name="label_accuracy_5k",
        default_n=5000,
        compute=label_accuracy,
        applies=lambda ctx: _applies(ctx) and ctx.gan.num_classes > 0,
        description="conditional models: share of samples the classifier gives the requested label",
    )
)
