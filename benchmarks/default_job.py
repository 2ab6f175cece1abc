"""The default job (`gankit train`, no arguments): minutes, peak memory and digit quality, side by side
with the reference recipe (the PyTorch DCGAN example's: unconditional, BCE, Adam 2e-4, no EMA) trained
for the same steps on the same network in the same run.

    python benchmarks/default_job.py            # appends a section to docs/benchmarks.md

Quality is judged by gankit's cached MNIST classifier (held-out accuracy recorded): the share of
2,000 samples it labels with confidence >= 0.9, the spread of class shares, the classifier FD.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from _report import machine, publish

# runs the CLI in a child process and reports that process's own peak resident memory
_CHILD = (
    "import resource, sys\n"
    "from gankit.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def run_job(out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-c", _CHILD, "train", "--out", str(out), "--no-progress", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    minutes = (time.perf_counter() - t0) / 60
    return {"minutes": minutes, "peak_rss_mb": int(done.stderr.strip().splitlines()[-1]) / 1024}


def judge(run_dir: Path) -> dict:
    import gankit
    from gankit.metrics.classifier import get_classifier, predict_proba

    gan = gankit.load(run_dir)
    x = gan.sample(2000, seed=0, raw=True)
    model, info = get_classifier("mnist")
    conf, pred = predict_proba(model, x).max(dim=1)
    shares = torch.bincount(pred, minlength=10).float() / len(pred)
    fd = gankit.evaluate(run_dir, metrics=["fd_classifier_5k"], record=False)["fd_classifier_5k"]["fd"]
    return {
        "confident_share": float((conf >= 0.9).float().mean()),
        "min_class_share": float(shares.min()),
        "max_class_share": float(shares.max()),
        "fd_classifier": fd,
        "classifier_accuracy": info.get("held_out_accuracy"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="override both jobs' steps (default: recipe)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    steps = ["--steps", str(args.steps)] if args.steps else []
    jobs = {
        "gankit default": steps,
        "reference recipe": [*steps, "--unconditional", "--set", "optim.ema=0"],
    }
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in jobs.items():
            out = Path(tmp) / name.replace(" ", "-")
            rows[name] = {**run_job(out, extra), **judge(out)}
            print(name, json.dumps(rows[name]), flush=True)
    lines = [
        f"\n## Default job: `gankit train` vs the reference recipe ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/default_job.py"
        f"{' --steps ' + str(args.steps) if args.steps else ''}`.\n",
        "| job | minutes | peak RSS MB | confident (p>=0.9) | class share min / max | classifier FD |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['minutes']:.1f} | {r['peak_rss_mb']:.0f} | {r['confident_share']:.3f} | "
            f"{r['min_class_share']:.3f} / {r['max_class_share']:.3f} | {r['fd_classifier']:.2f} |"
        )
    lines.append(
        f"\nJudge: gankit's MNIST classifier (held-out accuracy "
        f"{rows['gankit default']['classifier_accuracy']:.4f}).\n"
    )
    text = "\n".join(lines)
    publish(text, write=not args.no_write)


if __name__ == "__main__":
    main()
