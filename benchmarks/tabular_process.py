"""A table fit as a user meets it: whole processes, start-up and imports included.

    python benchmarks/tabular_process.py                    # appends a table to docs/benchmarks.md
    python benchmarks/tabular_process.py --avx2 --datasets autompg --no-write

For each table (an 80/20 split, the 80% written to CSV), gankit runs as two commands —
``gankit tabular fit train.csv --out RUN`` then ``gankit tabular sample RUN -n 1000`` — and the
``ctgan`` package as one Python process that reads the CSV, fits, and writes 1,000 rows. Both use
the same epochs and their own default threads; the wall time of the processes is what is compared
(ratio gankit / ctgan, alternating, median of ``--repeats``). Quality is sdmetrics' QualityReport of
the 1,000 rows against the training rows. ``--avx2`` caps oneDNN and MKL at AVX2, as on a laptop.
``ctgan`` is a benchmark-only dependency: ``pip install -c constraints.txt ctgan``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

from _report import machine, publish

from gankit.tabular.datasets import load_table
from gankit.tabular.quality import quality_report, sdv_metadata, split

CTGAN_SCRIPT = """
import sys, pandas as pd
from ctgan import CTGAN
train, out, epochs, discrete = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
df = pd.read_csv(train)
model = CTGAN(epochs=epochs)
model.fit(df, [c for c in discrete if c])
model.sample(1000).to_csv(out, index=False)
"""


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def run_table(name: str, epochs: int, repeats: int, env: dict, tmp: Path) -> dict:
    import pandas as pd

    df, discrete, _ = load_table(name)
    train, _ = split(df, 0.2, seed=0)
    csv = tmp / f"{name}.csv"
    train.to_csv(csv, index=False)
    md = sdv_metadata(df, discrete)
    gankit = [sys.executable, "-m", "gankit", "tabular"]
    times: dict[str, list[float]] = {"gankit": [], "ctgan": []}
    quality: dict[str, list[float]] = {"gankit": [], "ctgan": []}
    for seed in range(repeats):
        run, out_g, out_c = tmp / f"{name}-{seed}", tmp / f"{name}-{seed}-g.csv", tmp / f"{name}-{seed}-c.csv"
        times["ctgan"].append(
            timed(
                [sys.executable, "-c", CTGAN_SCRIPT, str(csv), str(out_c), str(epochs), ",".join(discrete)],
                env,
            )
        )
        fit = [*gankit, "fit", str(csv), "--discrete", ",".join(discrete), "--epochs", str(epochs)]
        t = timed([*fit, "--seed", str(seed), "--out", str(run), "--no-progress"], env)
        times["gankit"].append(
            t + timed([*gankit, "sample", str(run), "-n", "1000", "--out", str(out_g)], env)
        )
        for which, path in (("gankit", out_g), ("ctgan", out_c)):
            synth = pd.read_csv(path)
            for c in train.columns:  # CSV round trip: the synthetic columns take the real dtypes
                if str(train[c].dtype).startswith("datetime"):
                    synth[c] = pd.to_datetime(synth[c])
            quality[which].append(quality_report(train, synth, md)["score"])
        print(
            name,
            seed,
            {k: v[-1] for k, v in times.items()},
            {k: v[-1] for k, v in quality.items()},
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    q = {k: statistics.fmean(v) for k, v in quality.items()}
    return {"name": name, "rows": len(train), "time": med, "quality": q}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="iris,wine,autompg,breast-cancer")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--avx2", action="store_true", help="cap oneDNN and MKL at AVX2")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    env = dict(os.environ)
    if args.avx2:
        env |= {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_table(n, args.epochs, args.repeats, env, Path(tmp)) for n in args.datasets.split(",")]
    isa = " (ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2)" if args.avx2 else ""
    lines = [
        f"\n## Tabular, whole processes: gankit CLI vs ctgan 0.12.1 ({date.today()})\n",
        f"{machine()}{isa}. Command: `python benchmarks/tabular_process.py"
        f"{' --avx2' if args.avx2 else ''} --datasets {args.datasets} --epochs {args.epochs} "
        f"--repeats {args.repeats}`. Wall seconds of `gankit tabular fit` + `gankit tabular sample -n 1000` "
        "against one `python` process that imports ctgan, reads the CSV, fits and writes 1,000 rows "
        "(median of the repeats); quality: sdmetrics QualityReport of the 1,000 rows vs the training rows.\n",
        "| table | rows | ctgan s | gankit s | time ratio | quality ctgan | quality gankit | Δ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t, q = r["time"], r["quality"]
        lines.append(
            f"| {r['name']} | {r['rows']} | {t['ctgan']:.1f} | {t['gankit']:.1f} "
            f"| **{t['gankit'] / t['ctgan']:.2f}** | {q['ctgan']:.3f} | {q['gankit']:.3f} "
            f"| {q['gankit'] - q['ctgan']:+.3f} |"
        )
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
