"""Mode collapse: gankit's defaults and named recipes over several seeds, beside the published rows.

    python benchmarks/modes.py                                   # ring8, grid25 x 5 seeds; stacked x 2
    python benchmarks/modes.py --data grid25 --seeds 2 --recipes default,mbstd
    python benchmarks/modes.py --data stacked-mnist --seeds 2
    python benchmarks/modes.py --data grid25 --seeds 1 --set train.steps=12000    # any override

Protocols: 2-D mixtures (VEEGAN / PacGAN): 2,500 samples; high quality = within 3 std of the nearest
centre; a mode is captured when it is the nearest centre of a high-quality sample; reverse KL over
the modes; spread = RMS distance of the high-quality samples to their centre in std (real data
1.38; lower means modes narrower than the data's, which high quality rewards). Stacked MNIST (Metz
et al. 2017): 26,000 samples, each channel read by gankit's MNIST classifier, modes = distinct digit
triples of 1,000, KL(p_gen || uniform); its "high quality" is the share of digits the classifier
reads with p >= 0.9 (real digits 90%): modes and KL count every argmax, legible or not. Each run is
timed (minutes of wall time on this machine, all of its cores). A "real data" row puts the real
distribution through the same metric: the ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from _report import machine, publish

import gankit

# Published rows, same protocols: (method, modes, HQ %, reverse KL or Stacked-MNIST KL)
PUBLISHED = {
    "ring8": [
        ("GAN (VEEGAN Table 1)", "1", "99.3", "–"),
        ("Unrolled GAN (VEEGAN Table 1)", "7.6", "35.6", "–"),
        ("VEEGAN (VEEGAN Table 1)", "8", "52.9", "–"),
        ("WGAN-GP (GDPP Table 1)", "6.8", "59.6", "–"),
        ("PacGAN2-4 (PacGAN Tables 1-2)", "7.9", "95.6", "0.07"),
    ],
    "grid25": [
        ("GAN (VEEGAN Table 1)", "3.3", "0.5", "–"),
        ("Unrolled GAN (VEEGAN Table 1)", "23.6", "16", "–"),
        ("VEEGAN (VEEGAN Table 1)", "24.6", "40", "–"),
        ("WGAN-GP (GDPP Table 1)", "24.2", "28.7", "–"),
        ("PacGAN2-4 (PacGAN Tables 1-2)", "24.8", "93.6", "0.04"),
    ],
    "stacked-mnist": [
        ("DCGAN (VEEGAN Table 2)", "99", "–", "3.40"),
        ("Unrolled GAN (VEEGAN Table 2)", "48.7", "–", "4.32"),
        ("VEEGAN (VEEGAN Table 2)", "150", "–", "2.95"),
        ("WGAN-GP (GDPP Table 3)", "995", "–", "0.148"),
        ("PacGAN (PacGAN Table 3)", "1000", "–", "0.06"),
    ],
}
METRIC = {"ring8": "modes_ring8", "grid25": "modes_grid25", "stacked-mnist": "modes_stacked_mnist"}
DEFAULT_SEEDS = {"ring8": 5, "grid25": 5, "stacked-mnist": 2}
# Named recipes: overrides on top of the dataset's default recipe (the first row is the default).
RECIPES = {
    "default": [],
    "no-pack": ["model.pack=1"],
    "mbstd": ["model.mbstd=4"],
    "r1": ["loss.r1=0.1"],
    # the DCGAN example's own layers: the stacked-mnist recipe before extra_convs and nearest upsampling
    "plain-dcgan": ["model.extra_convs=0", "model.upsample=transposed"],
    # the plain stack twice as wide. Stacked MNIST seed 0: KL 0.192, 14% legible, 13.7 min
    "wide": ["model.width=128", "model.extra_convs=0", "model.upsample=transposed"],
}


def run(dataset: str, seed: int, overrides: list[str], tmp: Path) -> dict:
    t0 = time.perf_counter()
    out = tmp / f"{dataset}-{seed}-{len(list(tmp.iterdir()))}"
    gankit.train(data=dataset, seed=seed, out=out, overrides=[*overrides, "monitor.eval_every=0"])
    minutes = (time.perf_counter() - t0) / 60
    result = gankit.evaluate(out, metrics=[METRIC[dataset]], record=False)[METRIC[dataset]]
    return as_row(result, minutes)


def as_row(result: dict, minutes: float | None = None) -> dict:
    return {
        "modes": result["modes"],
        "hq": result.get("high_quality", result.get("confident_share")),
        "kl": result.get("reverse_kl", result.get("kl")),
        "spread": result.get("spread"),
        "minutes": minutes,
    }


def real_reference(dataset: str, seeds: int) -> list[dict]:
    """The real distribution through the same metric: what a perfect generator scores.

    2-D mixtures: fresh draws of 2,500 points (within 3 std of a centre holds for 1 - e^-4.5 = 98.9%
    of a 2-D Gaussian's mass, so high quality tops out there; the measure is scale-free, so ring8 and
    grid25 draws with the same seeds score alike). Stacked MNIST: 26,000 stacked real digits (the
    bundled digits the classifier was trained on); the KL floor comes from counting 1,000 cells with
    26,000 samples (about 999 / (2 x 26,000) = 0.019).
    """
    from gankit.config import DataConfig

    if dataset == "stacked-mnist":
        from gankit.data.images import load_stacked_mnist
        from gankit.metrics.classifier import get_classifier, read_stacked
        from gankit.metrics.digits import stacked_mode_stats

        draws = [load_stacked_mnist(DataConfig(dataset), size=26_000, seed=10_000 + s) for s in range(seeds)]
        model, _ = get_classifier("stacked-mnist", draws[0])
        return [as_row(stacked_mode_stats(*read_stacked(model, d.all_x))) for d in draws]

    from gankit.data import load_data
    from gankit.data.toy import mixture
    from gankit.metrics.toy import mode_stats

    info = load_data(DataConfig(dataset)).info
    centres, std = torch.tensor(info["centres"]), info["std"]
    draws = [mixture(dataset, centres, std, n=2500, seed=10_000 + s).x for s in range(seeds)]
    return [as_row(mode_stats(x.numpy(), centres.numpy(), std)) for x in draws]


def summary(values: list[float], digits: int = 3) -> str:
    mean = statistics.fmean(values)
    spread = (max(values) - min(values)) / 2
    return f"{mean:.{digits}g} ± {spread:.2g}"


def seeds_of(dataset: str, args: argparse.Namespace) -> list[int]:
    if args.seed_list:
        return [int(s) for s in args.seed_list.split(",")]
    return list(range(args.seeds or DEFAULT_SEEDS[dataset]))


def table_row(dataset: str, name: str, rows: list[dict], timed: bool = True) -> str:
    hq = [100 * r["hq"] for r in rows if r["hq"] is not None]
    per_seed = ", ".join(
        f"{r['modes']}/{'–' if r['hq'] is None else round(100 * r['hq'], 1)}/{r['kl']:.3f}" for r in rows
    )
    minutes = summary([r["minutes"] for r in rows]) if timed else "–"
    spread = [r["spread"] for r in rows if r["spread"] is not None]
    spread = summary(spread) if spread else "–"
    return (
        f"| {dataset} | {name} | {len(rows)} | {summary([r['modes'] for r in rows], 4)} | "
        f"{summary(hq) if hq else '–'} | {summary([r['kl'] for r in rows])} | {spread} | "
        f"{minutes} | {per_seed} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ring8,grid25,stacked-mnist")
    parser.add_argument("--seeds", type=int, default=None, help="default: 5 (2-D), 2 (Stacked MNIST)")
    parser.add_argument("--seed-list", default=None, help="exact seeds instead, e.g. 1,4")
    parser.add_argument("--recipes", default="default", help=f"comma-separated, of: {', '.join(RECIPES)}")
    parser.add_argument("--set", action="append", default=[], help="extra override, e.g. train.steps=9000")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = [
        f"\n## Mode coverage vs published ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/modes.py --data {args.data} --recipes {args.recipes}"
        + (f" --seeds {args.seeds}" if args.seeds else "")
        + (f" --seed-list {args.seed_list}" if args.seed_list else "")
        + "".join(f" --set {o}" for o in args.set)
        + "`. Mean ± half-range over the seeds (0..n-1 unless listed); every seed listed.\n",
        "| data | recipe | seeds | modes | high quality % | KL | spread | minutes per run "
        "| per seed (modes/HQ%/KL) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.data.split(","):
            for recipe in args.recipes.split(","):
                overrides = [*RECIPES[recipe], *args.set]
                rows = [run(dataset, s, overrides, Path(tmp)) for s in seeds_of(dataset, args)]
                lines.append(table_row(dataset, f"gankit {recipe}", rows))
                print(lines[-1], flush=True)
            real = real_reference(dataset, len(seeds_of(dataset, args)))
            lines.append(table_row(dataset, "real data, same metric", real, timed=False))
            for name, modes, hq, kl in PUBLISHED[dataset]:
                lines.append(f"| {dataset} | {name}, published | – | {modes} | {hq} | {kl} | – | – | – |")
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
