"""Mode collapse: gankit's defaults and named recipes over several seeds, beside the published rows.

    python benchmarks/modes.py                                   # ring8, grid25 x 5 seeds; stacked x 2
    python benchmarks/modes.py --data grid25 --seeds 2 --recipes default,mbstd
    python benchmarks/modes.py --data stacked-mnist --seeds 2
    python benchmarks/modes.py --data grid25 --seeds 1 --set train.steps=12000    # any override

Protocols: 2-D mixtures (VEEGAN / PacGAN): 2,500 samples; high quality = within 3 std of the nearest
centre; a mode is captured when it is the nearest centre of a high-quality sample; reverse KL over
the modes. Stacked MNIST (Metz et al. 2017): 26,000 samples, each channel read by gankit's MNIST
classifier, modes = distinct digit triples of 1,000, KL(p_gen || uniform). Each run is timed
(minutes of wall time on this machine, all of its cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

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
}


def run(dataset: str, seed: int, overrides: list[str], tmp: Path) -> dict:
    t0 = time.perf_counter()
    out = tmp / f"{dataset}-{seed}-{len(list(tmp.iterdir()))}"
    gankit.train(data=dataset, seed=seed, out=out, overrides=[*overrides, "monitor.eval_every=0"])
    minutes = (time.perf_counter() - t0) / 60
    result = gankit.evaluate(out, metrics=[METRIC[dataset]], record=False)[METRIC[dataset]]
    kl = result.get("reverse_kl", result.get("kl"))
    return {"modes": result["modes"], "hq": result.get("high_quality"), "kl": kl, "minutes": minutes}


def summary(values: list[float], digits: int = 3) -> str:
    mean = statistics.fmean(values)
    spread = (max(values) - min(values)) / 2
    return f"{mean:.{digits}g} ± {spread:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ring8,grid25,stacked-mnist")
    parser.add_argument("--seeds", type=int, default=None, help="default: 5 (2-D), 2 (Stacked MNIST)")
    parser.add_argument("--recipes", default="default", help=f"comma-separated, of: {', '.join(RECIPES)}")
    parser.add_argument("--set", action="append", default=[], help="extra override, e.g. train.steps=9000")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = [
        f"\n## Mode coverage vs published ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/modes.py --data {args.data} --recipes {args.recipes}"
        + (f" --seeds {args.seeds}" if args.seeds else "")
        + "".join(f" --set {o}" for o in args.set)
        + "`. Mean ± half-range over seeds 0..n-1; every seed listed.\n",
        "| data | recipe | seeds | modes | high quality % | KL | minutes per run | per seed (modes/HQ%/KL) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.data.split(","):
            for recipe in args.recipes.split(","):
                seeds = args.seeds or DEFAULT_SEEDS[dataset]
                rows = [run(dataset, s, [*RECIPES[recipe], *args.set], Path(tmp)) for s in range(seeds)]
                hq = [100 * r["hq"] for r in rows if r["hq"] is not None]
                per_seed = ", ".join(
                    f"{r['modes']}/{100 * r['hq']:.1f}/{r['kl']:.3f}"
                    if r["hq"] is not None
                    else f"{r['modes']}/–/{r['kl']:.3f}"
                    for r in rows
                )
                lines.append(
                    f"| {dataset} | gankit {recipe} | {seeds} | {summary([r['modes'] for r in rows], 4)} | "
                    f"{summary(hq) if hq else '–'} | {summary([r['kl'] for r in rows])} | "
                    f"{summary([r['minutes'] for r in rows])} | {per_seed} |"
                )
                print(lines[-1], flush=True)
            for name, modes, hq, kl in PUBLISHED[dataset]:
                lines.append(f"| {dataset} | {name}, published | – | {modes} | {hq} | {kl} | – | – |")
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
