"""Mode collapse on the toy mixtures: gankit's default recipe over several seeds, beside the published rows.

    python benchmarks/modes.py --seeds 5          # appends a table to docs/benchmarks.md

Protocol (VEEGAN / PacGAN): 2,500 samples; high quality = within 3 std of the nearest centre; a mode
is captured when it is the nearest centre of a high-quality sample; reverse KL over the modes.
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
from gankit.metrics.toy import mode_stats

# Published rows (same protocol): modes / high-quality % (VEEGAN Table 1, PacGAN Tables 1-2)
PUBLISHED = {
    "ring8": [("GAN (VEEGAN)", "1", "99.3"), ("VEEGAN", "8", "52.9"), ("PacGAN2-4", "7.9", "95.6")],
    "grid25": [("GAN (VEEGAN)", "3.3", "0.5"), ("VEEGAN", "24.6", "40"), ("PacGAN2-4", "24.8", "93.6")],
}


def run(dataset: str, seed: int, tmp: Path) -> dict:
    t0 = time.perf_counter()
    result = gankit.train(data=dataset, model="mlp", seed=seed, out=tmp / f"{dataset}-{seed}")
    gan = gankit.load(result.run_dir)
    info = gan.meta["data"]
    stats = mode_stats(gan.sample(2500, seed=0).numpy(), info["centres"], info["std"])
    return {**stats, "minutes": (time.perf_counter() - t0) / 60}


def summary(values: list[float]) -> str:
    mean = statistics.fmean(values)
    spread = (max(values) - min(values)) / 2
    return f"{mean:.3g} ± {spread:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default="ring8,grid25")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = [
        f"\n## Mode coverage, gankit defaults vs published ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/modes.py --seeds {args.seeds} --data {args.data}`.\n",
        "| data | method | modes | high quality % | reverse KL | minutes per run | per-seed (modes/HQ) |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.data.split(","):
            rows = [run(dataset, seed, Path(tmp)) for seed in range(args.seeds)]
            per_seed = ", ".join(f"{r['modes']}/{100 * r['high_quality']:.1f}" for r in rows)
            modes, hq = summary([r["modes"] for r in rows]), summary([100 * r["high_quality"] for r in rows])
            kl, minutes = summary([r["reverse_kl"] for r in rows]), summary([r["minutes"] for r in rows])
            lines.append(f"| {dataset} | gankit default | {modes} | {hq} | {kl} | {minutes} | {per_seed} |")
            for name, modes, hq in PUBLISHED[dataset]:
                lines.append(f"| {dataset} | {name} (published) | {modes} | {hq} | – | – | – |")
    text = "\n".join(lines) + "\n"
    publish(text, write=not args.no_write)


if __name__ == "__main__":
    main()
