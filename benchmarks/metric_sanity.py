"""Do the metrics tell real from corrupted data, and how stable are they? (issue: honest evaluation)

    python benchmarks/metric_sanity.py            # appends a table to docs/benchmarks.md

For several seeded splits of the 5,000 bundled MNIST digits into 500 held out and 4,500 reference,
each metric compares the held-out digits, and the same digits blurred or noised, with the reference
(the classifier is trained on the reference split only). Then Stacked MNIST: 26,000 real stacks
through the per-channel classifier, i.e. the floor that a perfect generator would score.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import torch
import torch.nn.functional as F
from _report import machine, publish

from gankit.config import DataConfig
from gankit.data import RealData, load_data
from gankit.metrics.base import METRICS, EvalContext
from gankit.metrics.evaluation import compute_metrics

METRIC_KEYS = [
    ("fd_classifier_5k", "fd"),
    ("kid_classifier_5k", "kid"),
    ("prdc_classifier_5k", "precision"),
    ("prdc_classifier_5k", "coverage"),
    ("fd_random_5k", "fd"),
    ("kid_random_5k", "kid"),
]


def blur(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :]) / 256
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel[None, None])


def corruptions(x: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return {"held-out real": x, "blurred": blur(x), "noise 0.3": (x + 0.3 * noise).clamp(-1, 1)}


def split(seed: int) -> tuple[RealData, torch.Tensor]:
    real = load_data(DataConfig(name="mnist"))
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    rest, held = order[500:], order[:500]
    return RealData("mnist", real.x[rest], "images", real.labels[rest], 10), real.x[held]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    table: dict[str, dict[str, list[float]]] = {}
    for seed in range(args.splits):
        reference, held = split(seed)
        meta = {"kind": "images", "shape": [1, 28, 28], "data": {"name": "mnist"}, "model": {}}
        for name, x in corruptions(held, seed).items():
            ctx = EvalContext(meta, reference, given=(x, None), seed=seed)
            metrics = [METRICS.get(m) for m in dict.fromkeys(m for m, _ in METRIC_KEYS)]
            results = compute_metrics(ctx, metrics, len(x))
            for metric, key in METRIC_KEYS:
                table.setdefault(name, {}).setdefault(f"{metric}.{key}", []).append(results[metric][key])

    stacked = load_data(DataConfig(name="stacked-mnist"))
    x, _ = stacked.batch(torch.arange(26_000))
    meta = {"kind": "images", "shape": [3, 28, 28], "data": {"name": "stacked-mnist"}, "model": {}}
    ctx = EvalContext(meta, stacked, given=(x.float(), None))
    floor = compute_metrics(ctx, [METRICS.get("modes_stacked_mnist")])["modes_stacked_mnist"]

    columns = [f"{m}.{k}" for m, k in METRIC_KEYS]
    lines = [
        f"\n## Metric sanity: real vs corrupted digits ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/metric_sanity.py --splits {args.splits}`; "
        f"{(time.perf_counter() - t0) / 60:.1f} min. 500 held-out MNIST digits (and corrupted copies) "
        "against the other 4,500, over seeded splits (mean ± half-range); the classifier is trained on "
        "the 4,500 only.\n",
        "| samples | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, values in table.items():
        cells = []
        for c in columns:
            v = values[c]
            cells.append(f"{statistics.fmean(v):.3g} ± {(max(v) - min(v)) / 2:.2g}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        f"\nStacked MNIST, 26,000 real stacks through the per-channel MNIST classifier (held-out accuracy "
        f"{floor['provenance']['held_out_accuracy']:.4f}): {floor['modes']} modes, KL {floor['kl']:.4f} — "
        "the floor a perfect generator would score.\n"
    )
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
