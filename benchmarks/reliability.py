"""Never lose a run, never crash on input: SIGKILL trials and the bad-input catalogue.

    python benchmarks/reliability.py --trials 100          # writes docs/reliability.md
    python benchmarks/reliability.py --trials 8 --no-write

Each trial trains a tiny run in a child process that SIGKILLs itself at a chosen moment — inside a
training step, half-way through writing a checkpoint, the manifest, the export (a file, or between
the two renames that swap it in), a sample grid, a stats.jsonl line or the report, or during an
evaluation — or that the parent kills after a random time. The run is then resumed with
``gankit train --resume`` (in this process) and must end bit-identical to an uninterrupted run:
every network's weights in the final checkpoint, the export, and stats.jsonl without its timings.
The hooks live in the child's ``python -c`` prelude only: gankit has no test hooks.

Then every case of the bad-input catalogue (tests/bad_input_cases.py) runs as the user's command.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELIABILITY_MD = ROOT / "docs" / "reliability.md"
SETTINGS = ["model.width=16", "train.batch_size=32", "train.log_every=4", "train.checkpoint_every=8",
            "train.sample_every=8", "train.keep_checkpoints=2", "monitor.eval_every=16", "monitor.eval_n=256",
            "train.threads=1"]  # fmt: skip
STEPS = 40
ARGS = ["train", "--data", "ring8", "--model", "mlp", "--steps", str(STEPS), "--no-progress",
        *[a for s in SETTINGS for a in ("--set", s)]]  # fmt: skip
TIMING = {"time_s", "img_per_s", "eval_s"}

# moment -> how many times it happens in a run (the trial picks one of them) and its hook
MOMENTS = {
    "training step": 40,
    "checkpoint write": 5,
    "manifest write": 5,
    "export write": 5,
    "export swap": 4,  # the first export has nothing to swap with
    "grid write": 5,
    "stats.jsonl line": 10,
    "report write": 1,
    "evaluation": 3,
    "random time": 1,
}

# The child: install the moment's hook, then run the CLI. A write hook writes part of the bytes first,
# as a kill in the middle of a write leaves them.
CHILD = r"""
import os, signal, sys, json
moment, nth, frac, argv = json.loads(sys.argv[1])
count = {"n": 0}

def due():
    count["n"] += 1
    return count["n"] == nth

def die():
    os.kill(os.getpid(), signal.SIGKILL)

FILES = {"checkpoint write": "ckpt-", "manifest write": "manifest.json", "export write": "model.safetensors",
         "grid write": "fakes_", "report write": "report.html"}
if moment in FILES:
    real_write = os.write
    def write(fd, data):
        path = os.readlink(f"/proc/self/fd/{fd}")
        # a file's first write starts at offset 0 (inode and fd numbers are reused, offsets are not)
        if FILES[moment] in os.path.basename(path) and "best" not in path and os.lseek(fd, 0, 1) == 0:
            if due():
                real_write(fd, bytes(data)[: int(len(data) * frac)])
                die()
        return real_write(fd, data)
    os.write = write
elif moment == "export swap":
    real_replace = os.replace
    def replace(src, dst, *a, **k):
        result = real_replace(src, dst, *a, **k)
        if str(src).endswith("model") and str(dst).endswith("model.old") and due():
            die()  # the old export moved aside, the new one not yet in place
        return result
    os.replace = replace
elif moment == "stats.jsonl line":
    from gankit.training import stats
    real = stats.JsonlWriter.write
    def line(self, record):
        if due():
            text = json.dumps(record) + "\n"
            with self.path.open("a") as f:
                f.write(text[: int(len(text) * frac)])
            die()
        real(self, record)
    stats.JsonlWriter.write = line
elif moment == "evaluation":
    from gankit.training import evaluation
    real_eval = evaluation.TrainingEvaluator.__call__
    def evaluate(self, *a, **k):
        if due():
            die()
        return real_eval(self, *a, **k)
    evaluation.TrainingEvaluator.__call__ = evaluate
elif moment == "training step":
    from gankit.training import loop
    real_iterate = loop.iterate
    def iterate(*a, **k):
        result = real_iterate(*a, **k)
        if due():
            die()  # the step's weights changed in memory, the step counter not yet advanced
        return result
    loop.iterate = iterate
from gankit.cli import main
main(argv)
"""


def child(moment: str, nth: int, frac: float, argv: list[str], timeout: float = 600) -> int:
    """Run the child; returns its exit code (-9: killed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps([moment, nth, frac, argv])], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # "random time": the parent kills it
        proc.communicate()
    return proc.returncode


def final(run: Path) -> dict:
    """What must match: the final checkpoint's networks, the export, stats.jsonl without timings."""
    import torch
    from safetensors.torch import load_file

    from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(run), torch.device("cpu"))
    nets = {k: v for k, v in state.items() if isinstance(v, dict) and k in ("G", "D", "G_ema")}
    lines = (run / "stats.jsonl").read_text().splitlines()
    return {
        "step": state["step"],
        "nets": nets,
        "export": load_file(run / "model" / "model.safetensors"),
        "stats": [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines],
    }


def same(a: dict, b: dict) -> bool:
    import torch

    def equal(x, y):
        return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)

    return (
        a["step"] == b["step"] and a["stats"] == b["stats"] and equal(a["export"], b["export"])
        and all(equal(a["nets"][n], b["nets"][n]) for n in a["nets"]) and a["nets"].keys() == b["nets"].keys()
    )  # fmt: skip


def trial(moment: str, nth: int, frac: float, reference: dict, tmp: Path, after_s: float = 600) -> str:
    """One SIGKILL trial at the ``nth`` time of ``moment`` (``frac`` of a write's bytes written first;
    "random time": after ``after_s`` seconds): "identical", "differs", "lost" (the resume failed), or
    "not killed" (the moment came after the run ended; compared all the same)."""
    import gankit

    run = tmp / f"run-{moment.replace(' ', '-')}-{nth}-{frac:.3f}"
    argv = [*ARGS, "--out", str(run)]
    code = child(moment, nth, frac, argv, after_s)
    killed = code in (-9, 137) or code is None
    try:
        if killed and not (run / "config.yaml").is_file():  # killed before the run had anything:
            subprocess.run([sys.executable, "-m", "gankit", *argv], check=True, capture_output=True)  # rerun
        elif killed:
            gankit.train(resume=run, progress=False)
        result = final(run)
    except Exception as e:  # noqa: BLE001  (a lost run is what this counts)
        print(f"  {moment} #{nth}: lost ({type(e).__name__}: {e})", file=sys.stderr)
        return "lost"
    if not same(result, reference):
        return "differs"
    return "identical" if killed else "not killed"


def reference_run(tmp: Path) -> dict:
    """The uninterrupted run every trial must end as."""
    import gankit

    gankit.train(out=tmp / "reference", overrides=SETTINGS, data="ring8", model="mlp", steps=STEPS)
    return final(tmp / "reference")


def kill_trials(n: int, seed: int, tmp: Path) -> dict[str, Counter]:
    """``n`` trials spread over the moments (in turn, so every moment gets its share)."""
    reference = reference_run(tmp)
    rng, moments, results = random.Random(seed), list(MOMENTS), defaultdict(Counter)
    for i in range(n):
        moment = moments[i % len(moments)]
        nth, frac, after_s = rng.randint(1, MOMENTS[moment]), rng.random(), rng.uniform(3.0, 12.0)
        outcome = trial(moment, nth, frac, reference, tmp, after_s if moment == "random time" else 600)
        results[moment][outcome] += 1
        print(f"trial {i + 1}/{n}: {moment} #{nth}: {outcome}", flush=True)
    return results


def bad_inputs(tmp: Path) -> dict[str, Counter]:
    sys.path.insert(0, str(ROOT / "tests"))
    from bad_input_cases import CASES, outcome

    results = defaultdict(Counter)
    for i, case in enumerate(CASES):
        where = tmp / f"case-{i}"
        where.mkdir(parents=True)
        got, detail = outcome(case, where)
        right = got == case.expect and (got != "error" or case.says in detail)
        results[case.surface][got if right else f"wrong ({got})"] += 1
        if not right:
            print(f"  {case.surface}: {case.kind}: {got}: {detail[:300]}", file=sys.stderr)
    return results


def table(results: dict[str, Counter], first: str) -> str:
    rows = [f"| {first} | cases | outcomes |", "|---|---:|---|"]
    for name, counts in results.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        rows.append(f"| {name} | {sum(counts.values())} | {outcomes} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="SIGKILL trials (spread over the moments)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print the report; leave docs/ alone")
    args = parser.parse_args()
    import torch

    from gankit.machine import one_line

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        kills = kill_trials(args.trials, args.seed, Path(d) / "kills")
        kill_s = time.perf_counter() - t0
        inputs = bad_inputs(Path(d) / "inputs")
    total = sum(sum(c.values()) for c in kills.values())
    bad = sum(c["lost"] + c["differs"] for c in kills.values())
    command = f"python benchmarks/reliability.py --trials {args.trials} --seed {args.seed}"
    text = f"""# Reliability

Regenerated by `{command}` on {date.today()} ({time.perf_counter() - t0:.0f} s).
Machine: {one_line()}

## SIGKILL at random moments

A tiny run (ring8, mlp width 16, {STEPS} steps, a tick every 4, checkpoint and grid every 8, evaluation
every 16) is killed once at a random occurrence of the moment, resumed with `gankit train --resume`,
and compared with an uninterrupted run of the same seed: the final checkpoint's networks, the export
and stats.jsonl (timings aside) must be bit-identical. "not killed": the moment came after the run
ended (the run is still compared). {total} trials in {kill_s:.0f} s: {bad} lost or different.

{table(kills, "killed during")}

## Bad inputs

Each kind of bad input in tests/bad_input_cases.py, run as the user's command: "ok" is correct output,
"error" one line with exit code 2 naming the problem; anything else is counted as wrong.

{table(inputs, "input")}
"""
    print(text)
    if not args.no_write:
        RELIABILITY_MD.write_text(text)


if __name__ == "__main__":
    main()
