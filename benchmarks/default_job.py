"""The default job (`gankit train`, no arguments): minutes, peak memory and digit quality, side by side
with the reference recipe (the PyTorch DCGAN example's: unconditional, BCE, Adam 2e-4, no EMA) trained
for the same steps on the same network in the same run, and with gankit 0.1's default job.

    python benchmarks/default_job.py            # appends a section to docs/benchmarks.md
    python benchmarks/default_job.py --jobs "gankit default,0.1 default" --avx2   # oneDNN capped at AVX2
    python benchmarks/default_job.py --jobs "gankit default" --minutes 2.25  # a machine 4x slower: the
                                                 # default job's 9 minutes there are 2.25 minutes here
    python benchmarks/default_job.py --time-to-quality   # minutes until each job reaches the bar

Quality is judged by gankit's cached MNIST classifier (held-out accuracy recorded): the share of
2,000 samples it labels with confidence >= 0.9, the spread of class shares, the classifier FD.
"""

from __future__ import annotations

import argparse
import json
import os
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


def confident_share(run_dir: Path) -> float:
    """Share of 2,000 samples the classifier labels with confidence >= 0.9 (the quality bar's measure)."""
    import gankit
    from gankit.metrics.classifier import get_classifier, predict_proba

    x = gankit.load(run_dir).sample(2000, seed=0, raw=True)
    model, _ = get_classifier("mnist")
    return float((predict_proba(model, x).max(dim=1).values >= 0.9).float().mean())


def time_to_quality(out: Path, extra: list[str], bar: float, stage: int, max_steps: int) -> dict:
    """Train in stages of ``stage`` steps (resume is exact, the schedule constant), judging after each;
    training minutes (the run's own clock, stats.jsonl) until the confident share reaches ``bar``."""
    step, history, rss = 0, [], 0.0
    while step < max_steps:
        step += stage
        if step == stage:
            rss = run_job(out, ["--steps", str(step), *extra])["peak_rss_mb"]
        else:
            cmd = [sys.executable, "-c", _CHILD, "train", "--resume", str(out), "--steps", str(step)]
            subprocess.run(
                [*cmd, "--no-progress"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        minutes = json.loads((out / "stats.jsonl").read_text().splitlines()[-1])["time_s"] / 60
        history.append((step, round(minutes, 2), round(confident_share(out), 3)))
        print(out.name, history[-1], flush=True)
        if history[-1][2] >= bar:
            return {"reached": True, "steps": step, "minutes": minutes, "history": history, "rss": rss}
    return {"reached": False, "steps": step, "minutes": minutes, "history": history, "rss": rss}


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


JOBS = {
    "gankit default": [],  # the recipe: width 32, Adam 5e-4, a 9-minute budget
    # the default job before budgets (gankit 0.1's recipe): width 64, Adam 2e-4, 7,000 steps
    "0.1 default": ["--set", "model.width=64", "--lr-g", "2e-4", "--lr-d", "2e-4", "--steps", "7000"],
    "reference recipe": ["--unconditional", "--set", "optim.ema=0"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="override both jobs' steps (default: recipe)")
    parser.add_argument(
        "--jobs", default="gankit default,reference recipe", help=f"comma-separated, of: {', '.join(JOBS)}"
    )
    parser.add_argument("--minutes", type=float, default=None, help="the default job's budget (default: 9)")
    parser.add_argument("--avx2", action="store_true", help="cap oneDNN (and MKL) at AVX2")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--time-to-quality", action="store_true", help="minutes until the quality bar")
    parser.add_argument("--bar", type=float, default=0.8, help="confident share to reach (real digits: 0.90)")
    parser.add_argument("--stage", type=int, default=1000, help="steps between judgements")
    parser.add_argument("--max-steps", type=int, default=14000, help="give up after (2x the default's)")
    args = parser.parse_args()
    if args.time_to_quality:
        return time_to_quality_table(args)
    if args.avx2:
        os.environ |= {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    steps = ["--steps", str(args.steps)] if args.steps else []
    budget = ["--minutes", str(args.minutes)] if args.minutes else []
    jobs = {
        name: [*JOBS[name], *(budget if name == "gankit default" else steps)] for name in args.jobs.split(",")
    }
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in jobs.items():
            out = Path(tmp) / name.replace(" ", "-")
            rows[name] = {**run_job(out, extra), **judge(out)}
            rows[name]["steps"] = json.loads((out / "stats.jsonl").read_text().splitlines()[-1])["step"]
            print(name, json.dumps(rows[name]), flush=True)
    flags = "".join(f" {a}" for a in sys.argv[1:] if a != "--no-write")
    lines = [
        f"\n## Default job: `gankit train` ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/default_job.py{flags}`.\n",
        "| job | wall minutes | steps | peak RSS MB | confident (p>=0.9) | class share min / max "
        "| classifier FD |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['minutes']:.1f} | {r['steps']:,} | {r['peak_rss_mb']:.0f} | "
            f"{r['confident_share']:.3f} | "
            f"{r['min_class_share']:.3f} / {r['max_class_share']:.3f} | {r['fd_classifier']:.2f} |"
        )
    lines.append(
        f"\nJudge: gankit's MNIST classifier (held-out accuracy "
        f"{next(iter(rows.values()))['classifier_accuracy']:.4f}).\n"
    )
    text = "\n".join(lines)
    publish(text, write=not args.no_write)


def time_to_quality_table(args) -> None:
    jobs = {"gankit default": [], "reference recipe": ["--unconditional", "--set", "optim.ema=0"]}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in jobs.items():
            rows[name] = time_to_quality(
                Path(tmp) / name.replace(" ", "-"), extra, args.bar, args.stage, args.max_steps
            )
    lines = [
        f"\n## Time to quality: `gankit train` vs the reference recipe ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/default_job.py --time-to-quality` "
        f"(bar: >= {args.bar:.0%} of "
        f"2,000 samples classified with confidence >= 0.9; judged every {args.stage:,} steps, at most "
        f"{args.max_steps:,}; minutes are the runs' own training clocks).\n",
        "| job | reached the bar | steps | training minutes | peak RSS MB | confident share (step: share) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        trail = ", ".join(f"{s}: {c:.2f}" for s, _, c in r["history"])
        reached = "yes" if r["reached"] else "**no**"
        lines.append(
            f"| {name} | {reached} | {r['steps']:,} | {r['minutes']:.1f} | {r['rss']:.0f} | {trail} |"
        )
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
