"""gankit's TabularGAN beside the ``ctgan`` package on the bundled tables, same epochs, one run.

    flock /work/cpu.lock python benchmarks/tabular.py                 # appends tables to docs/benchmarks.md
    python benchmarks/tabular.py --datasets iris --epochs 50 --no-write

Protocol: each table is split 80/20 (seeded); both synthesizers fit the 80% for the same number of
epochs with torch on one thread (the machine is shared), then sample as many rows. Quality is the
sdmetrics QualityReport score against the training rows; ML efficacy trains a random forest on
synthetic rows and on the real 80% and tests both on the 20%; privacy compares synthetic rows with the
20% hold-out as seen from the training rows. Fits alternate between the two packages, and each is run
``--repeats`` times (seeds 0, 1, ...): quality figures are means, fit times medians.
``ctgan`` is a benchmark-only dependency: ``pip install -c constraints.txt ctgan``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from datetime import date

import numpy as np
import torch
from _report import machine, publish

from gankit.tabular.datasets import load_table
from gankit.tabular.privacy import privacy_report
from gankit.tabular.quality import ml_efficacy, quality_report, sdv_metadata, split
from gankit.tabular.synthesizer import TabularGAN


def fit_ctgan(train, discrete, epochs: int, seed: int):
    from ctgan import CTGAN

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = CTGAN(epochs=epochs)
    t = time.perf_counter()
    model.fit(train, discrete)
    return model, time.perf_counter() - t, lambda n: model.sample(n)


GANKIT_OPTIONS: dict = {}  # --set overrides, for trying settings


def fit_gankit(train, discrete, epochs: int, seed: int, **kw):
    model = TabularGAN(epochs=epochs, seed=seed, **{**GANKIT_OPTIONS, **kw})
    t = time.perf_counter()
    model.fit(train, discrete)
    return model, time.perf_counter() - t, lambda n: model.sample(n, seed=seed)


def score(train, hold, synth, md, target: str) -> dict:
    q = quality_report(train, synth, md)
    ml = ml_efficacy(train, synth, hold, target, md)
    p = privacy_report(train, synth, md, hold)
    return {
        "quality": q["score"], "shapes": q["column_shapes"], "pairs": q["column_pair_trends"],
        "ml_syn": ml["synthetic"], "ml_real": ml["real"], "ml_metric": ml["metric"],
        "dcr": p["synthetic"]["dcr_median"], "dcr_hold": p["holdout"]["dcr_median"],
        "nndr": p["synthetic"]["nndr_median"], "copies": p["synthetic"]["exact_copy_rate"],
        "mia": p["mia_auc"],
    }  # fmt: skip


def run_dataset(name: str, epochs: int, repeats: int) -> dict:
    df, discrete, target = load_table(name)
    train, hold = split(df, 0.2, seed=0)
    md = sdv_metadata(df, discrete)
    rows = {"ctgan": [], "gankit": []}
    for seed in range(repeats):
        for which, fit in (("ctgan", fit_ctgan), ("gankit", fit_gankit)):
            _, seconds, sample = fit(train, discrete, epochs, seed)
            rows[which].append({"time": seconds, **score(train, hold, sample(len(train)), md, target)})
            print(f"  {name} {which} seed {seed}: {rows[which][-1]}", flush=True)
    return {"name": name, "rows": len(df), "cols": len(df.columns), "target": target, **rows}


def summarise(rows: list[dict]) -> dict:
    out = {k: statistics.fmean(r[k] for r in rows) for k in rows[0] if k not in ("time", "ml_metric")}
    out["time"] = statistics.median(r["time"] for r in rows)
    out["ml_metric"] = rows[0]["ml_metric"]
    return out


def dp_sweep(name: str, epochs: int, epsilons: list[float], repeats: int) -> list[dict]:
    df, discrete, target = load_table(name)
    train, hold = split(df, 0.2, seed=0)
    md = sdv_metadata(df, discrete)
    out = []
    for eps in epsilons:
        runs = []
        for seed in range(repeats):
            kw = {"dp_epsilon": eps} if np.isfinite(eps) else {}
            model, seconds, sample = fit_gankit(train, discrete, epochs, seed, **kw)
            runs.append({"time": seconds, "spent": model.dp_epsilon_spent or float("inf"),
                         **score(train, hold, sample(len(train)), md, target)})  # fmt: skip
            print(f"  dp {name} eps={eps} seed {seed}: {runs[-1]}", flush=True)
        s = summarise(runs)
        s["eps"], s["spent"] = eps, max(r["spent"] for r in runs)
        out.append(s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="iris,wine,autompg,breast-cancer")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dp-dataset", default="autompg")
    ap.add_argument("--dp-epsilons", default="1,3,10,inf")
    ap.add_argument("--dp-repeats", type=int, default=1)
    ap.add_argument("--no-dp", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="TabularGAN option, e.g. --set max_modes=5")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    GANKIT_OPTIONS.update({k: eval(v) for k, v in (s.split("=", 1) for s in args.set)})  # noqa: S307
    results = [run_dataset(n, args.epochs, args.repeats) for n in args.datasets.split(",")]
    text = _table(results, args)
    if not args.no_dp:
        eps = [float(e) for e in args.dp_epsilons.split(",")]
        text += _dp_table(dp_sweep(args.dp_dataset, args.epochs, eps, args.dp_repeats), args)
    publish(text, write=not args.no_write)


def _table(results: list[dict], args) -> str:
    lines = [
        f"\n## Tabular: gankit TabularGAN vs ctgan 0.12.1 ({date.today()}, `benchmarks/tabular.py`)\n",
        f"{machine()}; torch on 1 thread for both; {args.epochs} epochs each, {args.repeats} seeds, "
        "80/20 split. Quality: sdmetrics QualityReport vs the training rows (mean of seeds). ML efficacy: "
        "random forest trained on synthetic rows, tested on the real hold-out (macro F1 / R²; the "
        "train-on-real score in brackets). Privacy: median distance to closest training record (DCR; "
        "hold-out rows' own DCR in brackets), exact copies, membership-inference AUC (0.5 = no signal). "
        "Fit time: median wall seconds.\n",
        "| table | rows × cols | quality ctgan | quality gankit | Δ | fit s ctgan | fit s gankit "
        "| time ratio | ML ctgan | ML gankit | DCR ctgan | DCR gankit | copies ctgan / gankit "
        "| MIA AUC ctgan / gankit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, g = summarise(r["ctgan"]), summarise(r["gankit"])
        lines.append(
            f"| {r['name']} | {r['rows']} × {r['cols']} | {c['quality']:.3f} | **{g['quality']:.3f}** | "
            f"{g['quality'] - c['quality']:+.3f} | {c['time']:.1f} | {g['time']:.1f} | "
            f"**{g['time'] / c['time']:.2f}** | {c['ml_syn']:.3f} ({c['ml_real']:.3f} {c['ml_metric']}) | "
            f"{g['ml_syn']:.3f} | {c['dcr']:.3f} ({c['dcr_hold']:.3f}) | {g['dcr']:.3f} | "
            f"{c['copies']:.1%} / {g['copies']:.1%} | {c['mia']:.3f} / {g['mia']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _dp_table(rows: list[dict], args) -> str:
    lines = [
        f"\n### Differential privacy: quality vs ε ({args.dp_dataset}, {args.epochs} epochs, "
        f"δ = 1 / (10 × rows), {args.dp_repeats} seed(s); ε = inf is the same model without DP)\n",
        "| ε asked | ε spent (max) | quality | column shapes | pair trends | ML efficacy | DCR | MIA AUC "
        "| fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['eps']:g} | {r['spent']:.2f} | {r['quality']:.3f} | {r['shapes']:.3f} | "
            f"{r['pairs']:.3f} | {r['ml_syn']:.3f} | {r['dcr']:.3f} | {r['mia']:.3f} | {r['time']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
