"""Wall-clock budgets: does `gankit train --minutes M` take M minutes, and is the run complete?

    python benchmarks/budget.py                      # ring8 for 2 minutes, MNIST for 3 (the issue's cases)
    python benchmarks/budget.py --avx2               # the same with oneDNN capped at AVX2
    python benchmarks/budget.py --cases ring8:0.5    # any data:minutes[:extra flags] pairs

Each case runs as a whole `gankit train` process. Reported: the budget, the training time the run
recorded (calibration, steps and bookkeeping: what the budget covers), the process's wall time
(start-up, data, the final export, evaluation and report included), the planned and the final step
count, the re-plans, and whether the schedules finished (learning rate at its end, report written).
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

from _report import machine, publish

DEFAULT_CASES = "ring8:2:--model mlp,mnist:3"


def run_case(data: str, minutes: float, extra: list[str], out: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "gankit", "train", "--data", data, "--minutes", str(minutes)]
    cmd += ["--out", str(out), "--no-progress", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    plan = json.loads((out / "budget.json").read_text())
    last = json.loads((out / "stats.jsonl").read_text().splitlines()[-1])
    lrs = [v for k, v in last.items() if k.startswith("lr_")]
    constant = "schedule: constant" in (out / "config.yaml").read_text()  # nothing to decay
    return {
        "data": data,
        "minutes": minutes,
        "trained_s": plan["trained_s"],
        "wall_s": wall,
        "planned": plan["steps"],
        "steps": plan["steps_run"],
        "replans": len(plan.get("replans", [])),
        "finished": last["step"] == plan["steps_run"] and (constant or all(v < 1e-9 for v in lrs)),
        "report": (out / "report.html").is_file(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="data:minutes[:extra flags], comma-separated")
    parser.add_argument("--avx2", action="store_true", help="cap oneDNN (and MKL) at AVX2")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.avx2:
        env |= {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
        os.environ |= env  # the machine line names the cap
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(args.cases.split(",")):
            data, minutes, *extra = case.split(":")
            flags = extra[0].split() if extra else []
            rows.append(run_case(data, float(minutes), flags, Path(tmp) / f"{i}-{data}", env))
            print(json.dumps(rows[-1]), flush=True)
    lines = [
        f"\n## Time budgets: `gankit train --minutes M` ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/budget.py{' --avx2' if args.avx2 else ''}"
        f"{'' if args.cases == DEFAULT_CASES else ' --cases ' + args.cases}`.\n",
        "| data | budget min | trained min | of budget | process wall min | steps planned → run | re-plans "
        "| schedules finished | report |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['minutes']:g} | {r['trained_s'] / 60:.2f} | "
            f"**{r['trained_s'] / 60 / r['minutes']:.1%}** | {r['wall_s'] / 60:.2f} | "
            f"{r['planned']:,} → {r['steps']:,} | {r['replans']} | {'yes' if r['finished'] else 'no'} | "
            f"{'yes' if r['report'] else 'no'} |"
        )
    lines.append(
        "\n'trained' is what the budget covers: the calibration, the steps and the bookkeeping between "
        "them; the process adds start-up, data loading, the final evaluation and the report.\n"
    )
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
