"""No augmentation, DiffAugment and ADA on a subset of MNIST (50 digits per class) at 32x32.

    python benchmarks/augment_subset.py [--model progan] [--steps 600] [--per-class 50] [--set k=v]

Each setting trains the family's mnist recipe (conditional) on the same seeded subset; the table
gives what gankit's MNIST classifier makes of 500 samples (the share drawn as the class asked for),
the classifier Frechet distance of 1,000 samples to all 5,000 bundled digits (so memorising the 500
does not pay), D's mean output on the reals and ADA's p over the last tick, and the seconds of
training. A finished run in --out is measured again, not retrained.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import gankit
from gankit.config import DataConfig
from gankit.data import RealData, load_data

SETTINGS = {"none": "none", "DiffAugment": "translation,cutout", "ADA": "ada"}


def subset(per_class: int = 50, seed: int = 0) -> RealData:
    full = load_data(DataConfig(name="mnist", resolution=32))
    g = torch.Generator().manual_seed(seed)
    picks = []
    for k in range(10):
        of_k = torch.nonzero(full.labels == k).flatten()
        picks.append(of_k[torch.randperm(len(of_k), generator=g)[:per_class]])
    keep = torch.cat(picks)
    return RealData("mnist", full.x[keep], "images", full.labels[keep], 10, info=dict(full.info))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="progan")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--out", type=Path, default=Path("runs/augment"))
    ap.add_argument("--per-class", type=int, default=50, help="digits of each class in the subset")
    ap.add_argument("--set", action="append", default=[], help="more overrides, e.g. loss.r1=0")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from test_learning import requested_digit_shares

    data = subset(args.per_class)
    rows = []
    for name, policy in SETTINGS.items():
        run_dir = args.out / name
        if not (run_dir / "model" / "config.json").is_file():  # a finished run is measured again only
            gankit.train(
                data="mnist", model=args.model, resolution=32, conditional=True, steps=args.steps,
                real_data=data, out=run_dir, progress=False,
                overrides=[f"loss.augment={policy}", "monitor.eval_every=0", "train.threads=1", *args.set],
            )  # fmt: skip
        last = json.loads((run_dir / "stats.jsonl").read_text().splitlines()[-1])
        seconds = last["time_s"]
        accuracy, per_class = requested_digit_shares(run_dir)
        fd = gankit.evaluate(run_dir, metrics=["fd_classifier_5k"], n=1000)["fd_classifier_5k"]["fd"]
        rows.append((name, accuracy, min(per_class), fd, last["D(x)"], last.get("ada/p"), seconds))
    print("| loss.augment | asked-for digit share | weakest class | classifier FD | D(x) | ADA p | train s |")
    print("|---|---|---|---|---|---|---|")
    for name, acc, low, fd, dx, p, s in rows:
        p_text = f"{p:.3f}" if p is not None else "–"
        print(f"| {name} | {acc:.3f} | {low:.2f} | {fd:.2f} | {dx:.3f} | {p_text} | {s:.0f} |")


if __name__ == "__main__":
    main()
