"""Every image family at the same wall-clock budget, on all 5,000 bundled digits and on 500 of them,
with no augmentation, DiffAugment and ADA.

    python benchmarks/families.py                          # 10 minutes a case: the issue's protocol
    python benchmarks/families.py --minutes 2 --workers 2  # each case on one core, two at once
    python benchmarks/families.py --families biggan,stylegan --data full --augment none --minutes 10

Each case is `gankit train --data mnist --model FAMILY --resolution 32 --conditional --minutes M`
(on the subset: the same, its data the seeded 50 digits of each class), the family's own mnist
recipe, its step count left to the budget. Judged on 2,000 samples (200 of each class) by gankit's
MNIST classifier trained on the digits at the samples' resolution (held-out accuracy in the table's
note; the 28x28 classifier on resized samples beside it, as tables before 2026-12-03 were judged,
and each judge's reading of the real digits, its ceiling): the share drawn with confidence >= 0.9,
the share read as the class asked for, the smallest and largest class share, the classifier FD and
precision/recall of 5,000 samples against all 5,000 digits (so memorising the subset does not pay),
and training images per second. With --workers 2 each case runs on a core of its own (taskset, one
thread), so two cases never share one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from queue import Queue

from _report import machine, publish

FAMILIES = ("dcgan", "sngan", "biggan", "stylegan", "progan")
AUGMENT = {"none": "none", "DiffAugment": "translation,cutout", "ADA": "ada"}
DATA = {"full": 0, "500": 50}  # digits per class kept (0: all)
HERE = Path(__file__).resolve().parent


def run_case(family: str, data: str, augment: str, minutes: float, out: Path, sets=(), threads=None) -> dict:
    """Train and judge one case in this process (the worker side)."""
    import torch

    import gankit
    from gankit.metrics.classifier import predict_proba

    sys.path.insert(0, str(HERE))
    from augment_subset import subset

    real = subset(DATA[data]) if DATA[data] else None
    started = time.perf_counter()
    gankit.train(
        data="mnist", model=family, resolution=32, conditional=True, minutes=minutes,
        real_data=real, out=out, progress=False,
        overrides=[f"loss.augment={AUGMENT[augment]}", "monitor.eval_every=0",
                   *([f"train.threads={threads}"] if threads else []), *sets],
    )  # fmt: skip
    wall = time.perf_counter() - started
    stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    gan = gankit.load(out)
    labels = torch.arange(2000) % 10
    fakes = gan.sample(2000, seed=0, labels=labels, raw=True)
    judges = judges_at(fakes.shape[-1])
    classifier, info = judges["native"]
    conf, pred = predict_proba(classifier, fakes).max(dim=1)
    shares = torch.bincount(pred, minlength=10).float() / len(pred)
    conf_28 = predict_proba(judges["28"][0], fakes).amax(dim=1)
    metrics = gankit.evaluate(out, metrics=["fd_classifier_5k", "prdc_classifier_5k"], record=False)
    prdc = metrics["prdc_classifier_5k"]
    return {
        "family": family, "data": data, "augment": augment, "minutes": minutes, "wall_min": wall / 60,
        "steps": stats[-1]["step"], "img_per_s": sum(s.get("img_per_s", 0) for s in stats) / len(stats),
        "confident": float((conf >= 0.9).float().mean()), "asked": float((pred == labels).float().mean()),
        "min_share": float(shares.min()), "max_share": float(shares.max()),
        "fd": metrics["fd_classifier_5k"]["fd"], "precision": prdc["precision"], "recall": prdc["recall"],
        "ada_p": stats[-1].get("ada/p"), "classifier_accuracy": info.get("held_out_accuracy"),
        "confident_28": float((conf_28 >= 0.9).float().mean()), **real_confident(judges),
    }  # fmt: skip


def judges_at(resolution: int) -> dict:
    """Two judges of samples at ``resolution``: gankit's MNIST classifier trained on the 5,000 digits
    at that resolution ("native", the one `gankit evaluate` uses), and the 28-pixel classifier that
    reads them resized to 28x28 ("28"; the column this benchmark reported until 2026-12-03, which
    reads the real digits at 32x32 as only half confident: the resize blurs them)."""
    from gankit.config import DataConfig
    from gankit.data.images import load_mnist
    from gankit.metrics.classifier import get_classifier

    real = load_mnist(DataConfig(resolution=resolution))
    return {"native": get_classifier("mnist", real), "28": get_classifier("mnist"), "real": real.x}


def real_confident(judges: dict) -> dict:
    """Each judge's confident share on the real digits at the samples' resolution: its ceiling."""
    from gankit.metrics.classifier import predict_proba

    return {
        f"real_confident{tag}": float((predict_proba(judges[key][0], judges["real"]).amax(dim=1) >= 0.9)
                                      .float().mean())
        for key, tag in (("native", ""), ("28", "_28"))
    }  # fmt: skip


def launch(case: tuple[str, str, str], minutes: float, cores: Queue | None, tmp: Path, sets=()) -> dict:
    """One case in a child process (pinned to a free core from ``cores`` when given); its result."""
    core = cores.get() if cores is not None else None
    try:
        return _launch(case, minutes, core, tmp, sets)
    finally:
        if cores is not None:
            cores.put(core)


def _launch(case: tuple[str, str, str], minutes: float, core: int | None, tmp: Path, sets=()) -> dict:
    family, data, augment = case
    out = tmp / f"{family}-{data}-{augment}"
    cmd = [sys.executable, __file__, "--case", f"{family}:{data}:{augment}", "--minutes", str(minutes),
           "--out", str(out), *[a for x in sets for a in ("--set", x)]]  # fmt: skip
    env = dict(os.environ)
    if core is not None:  # one case a core: one thread
        cmd = ["taskset", "-c", str(core), *cmd, "--threads", "1"]
        env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        print(f"{case}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return {"family": family, "data": data, "augment": augment, "failed": True}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def table(results: list[dict], args) -> str:
    accuracy = next((f"{r['classifier_accuracy']:.3f}" for r in results if not r.get("failed")), None)
    lines = [
        f"\n## Image families at equal time: {args.minutes:g} minutes each on MNIST 32x32 ({date.today()})\n",
        f"{machine()}; "
        + (
            "each case on one core, one thread, two cases at once. "
            if args.workers > 1
            else "one case at a time on every core. "
        )
        + f"Command: `python benchmarks/families.py --minutes {args.minutes:g} --workers {args.workers}"
        f"{'' if args.families == ','.join(FAMILIES) else ' --families ' + args.families}"
        f"{'' if args.data == ','.join(DATA) else ' --data ' + args.data}"
        f"{'' if args.augment == ','.join(AUGMENT) else ' --augment ' + args.augment}"
        f"{''.join(' --set ' + x for x in args.set)}`. "
        "Conditional, each family's mnist recipe; data: all 5,000 bundled digits or the seeded 500 "
        f"(50 a class). Judge: gankit's MNIST classifier trained on the 5,000 digits at 32x32 (held-out "
        f"accuracy {accuracy}), on 2,000 samples (confident: p >= 0.9; asked: read as the class asked "
        "for); *confident, 28-px judge*: the 28x28 classifier on the samples resized to 28x28 (this "
        "table's only judge until 2026-12-03). Each judge's ceiling, the real digits at 32x32 read "
        f"with confidence: {ceiling(results)}. FD and precision/recall of 5,000 samples in the 32-px "
        "judge's features against all 5,000 digits.\n",
        "| family | digits | augmentation | steps | img/s | confident | confident, 28-px judge | asked "
        "| class share min / max | classifier FD | precision | recall | ADA p |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.get("failed"):
            lines.append(f"| {r['family']} | {r['data']} | {r['augment']} | failed |" + " |" * 9)
            continue
        p = f"{r['ada_p']:.2f}" if r.get("ada_p") is not None else "–"
        lines.append(
            f"| {r['family']} | {r['data']} | {r['augment']} | {r['steps']:,} | {r['img_per_s']:.0f} "
            f"| {r['confident']:.3f} | {r['confident_28']:.3f} | {r['asked']:.3f} "
            f"| {r['min_share']:.3f} / {r['max_share']:.3f} "
            f"| {r['fd']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {p} |"
        )
    return "\n".join(lines) + "\n"


def ceiling(results: list[dict]) -> str:
    r = next((r for r in results if "real_confident" in r), None)
    if r is None:
        return "–"
    return f"{r['real_confident']:.3f} (32-px judge), {r['real_confident_28']:.3f} (28-px)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="each case's budget")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--data", default=",".join(DATA), help="full and/or 500")
    ap.add_argument("--augment", default=",".join(AUGMENT), help="none, DiffAugment and/or ADA")
    ap.add_argument("--workers", type=int, default=1, help="cases at once, each pinned to a core")
    ap.add_argument("--set", action="append", default=[], help="an override for every case (repeatable)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # the worker: family:data:augment
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case.split(":"), args.minutes, args.out, args.set, args.threads)))
        return
    cases = [(f, d, a) for f in args.families.split(",") for d in args.data.split(",")
             for a in args.augment.split(",")]  # fmt: skip
    cores = None
    if args.workers > 1:
        cores = Queue()
        for core in range(args.workers):
            cores.put(core)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as pool:
        futures = [pool.submit(launch, c, args.minutes, cores, Path(tmp), args.set) for c in cases]
        results = [f.result() for f in futures]
    publish(table(results, args), write=not args.no_write)


if __name__ == "__main__":
    main()
