"""Never lose a run, never crash on input: SIGKILL trials and the bad-input catalogue.

    python benchmarks/reliability.py --trials 100          # writes docs/reliability.md
    python benchmarks/reliability.py --trials 8 --no-write

Each trial trains a tiny run (ring8, a two-stage SRGAN, a four-network CycleGAN or a table fit) in
a child process that SIGKILLs itself at a chosen moment — inside a training step, half-way through
writing a checkpoint, the manifest, the export (a file, or between the two renames that swap it in), a
sample grid, a stats.jsonl line or the report, or during an evaluation — or that the parent kills
after a random time. The run is then resumed with ``gankit train --resume`` (``gankit tabular fit
--resume``) and must end bit-identical to an uninterrupted run: every network and objective tensor in
the final checkpoint, every exported weights file, and stats.jsonl without its timings.
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
from collections.abc import Callable
from dataclasses import dataclass
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
TRANSLATOR = ["--steps", "24", "--resolution", "16", "--no-progress", *[a for s in (
    "train.batch_size=4", "train.log_every=2", "train.checkpoint_every=4", "train.sample_every=8",
    "train.keep_checkpoints=2", "monitor.eval_every=0", "train.threads=1", "model.width=4", "model.blocks=1",
) for a in ("--set", s)]]  # fmt: skip
FEW = {"training step": 24, "checkpoint write": 6, "manifest write": 6, "export write": 3, "export swap": 2,
       "grid write": 3, "stats.jsonl line": 12, "random time": 1}  # fmt: skip


@dataclass
class Subject:
    """A kind of run the trials kill: its command (``{data}``: the folder made by ``data``), how it
    resumes, and the moments that happen in it with how often."""

    args: list[str]
    moments: dict[str, int]
    resume: tuple[str, ...] = ("train", "--resume")
    data: Callable[[Path], None] | None = None
    in_process: bool = True  # False: its commands run as child processes (threads not pinned by a flag)

    def argv(self, tmp: Path) -> list[str]:
        return [a.replace("{data}", str(tmp / "data")) for a in self.args]


def sr_folder(tmp: Path) -> None:
    """Eight smooth 24x24 colour images: an SR training folder (inputs are their reductions)."""
    import numpy as np
    from PIL import Image

    rng, root = np.random.default_rng(0), tmp / "data"
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:24, 0:24] / 24
    for i in range(8):
        f = rng.uniform(1, 4, 3)
        img = np.stack([np.sin(f[c] * (xx + yy * c) + i) for c in range(3)], -1) * 127 + 128
        Image.fromarray(img.astype("uint8")).save(root / f"{i}.png")


def unpaired_folders(tmp: Path) -> None:
    """trainA/ (thin bars) and trainB/ (thick bars), eight 16x16 grey images each."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for domain, width in (("trainA", 1), ("trainB", 4)):
        (tmp / "data" / domain).mkdir(parents=True, exist_ok=True)
        for i in range(8):
            img = np.zeros((16, 16), "uint8")
            c = int(rng.integers(2, 12))
            img[:, c : c + width] = 255
            Image.fromarray(img).save(tmp / "data" / domain / f"{i}.png")


SUBJECTS = {
    "ring8 mlp": Subject(ARGS, MOMENTS),
    # a family with stages: the SRResNet stage for half the steps, then the adversarial one
    "srgan (2 stages)": Subject(["train", "--data", "{data}", "--model", "srgan", *TRANSLATOR,
                                 "--set", "model.pretrain=0.5", "--set", "model.perceptual=random"],
                                FEW, data=sr_folder),
    # four networks (two generators, two critics) and an image pool that is objective state
    "cyclegan (4 networks)": Subject(["train", "--data", "{data}", "--model", "cyclegan", *TRANSLATOR,
                                      "--set", "model.pool=4"], FEW, data=unpaired_folders),
    "table fit": Subject(["tabular", "fit", "iris", "--epochs", "20", "--no-progress"],
                         {"training step": 60, "checkpoint write": 4, "stats.jsonl line": 20,
                          "random time": 1}, resume=("tabular", "fit", "--resume"), in_process=False),
}  # fmt: skip

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
    """What must match: the final checkpoint's networks (every one the family has), its objective's
    tensors, every exported weights file, stats.jsonl without timings."""
    import torch
    from safetensors.torch import load_file

    from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(run), torch.device("cpu"))
    nets = {
        k: v
        for k, v in state.items()
        if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor) for t in v.values())
    }
    lines = (run / "stats.jsonl").read_text().splitlines()
    events = run / "events.jsonl"  # warnings once each, as the uninterrupted run wrote them
    events = events.read_text().splitlines() if events.exists() else []
    exports = {p.name: load_file(p) for p in sorted((run / "model").glob("*.safetensors"))}
    return {
        "step": state["step"],
        "nets": nets,
        "export": {f"{name}/{k}": v for name, tensors in exports.items() for k, v in tensors.items()},
        "stats": [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines],
        "events": [{k: v for k, v in json.loads(x).items() if k != "time"} for x in events],
    }


def same(a: dict, b: dict) -> bool:
    import torch

    def equal(x, y):
        return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)

    return (
        a["step"] == b["step"] and a["stats"] == b["stats"] and a["events"] == b["events"]
        and equal(a["export"], b["export"])
        and a["nets"].keys() == b["nets"].keys() and all(equal(a["nets"][n], b["nets"][n]) for n in a["nets"])
    )  # fmt: skip


def gankit_cli(*args: str, in_process: bool = True) -> None:
    """The command as the user runs it; in this process where the run pins its threads (saves a
    start-up per trial), else in a child with the environment a killed child had."""
    if in_process:
        from gankit.cli import main

        try:
            main(list(args))
        except SystemExit as e:
            if e.code:
                raise RuntimeError(f"gankit {' '.join(args)} exited with {e.code}") from e
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-m", "gankit", *args], check=True, capture_output=True, env=env)


def trial(moment: str, nth: int, frac: float, reference: dict, tmp: Path, after_s: float = 600,
          subject: str = "ring8 mlp") -> str:  # fmt: skip
    """One SIGKILL trial at the ``nth`` time of ``moment`` (``frac`` of a write's bytes written first;
    "random time": after ``after_s`` seconds): "identical", "differs", "lost" (the resume failed), or
    "not killed" (the moment came after the run ended; compared all the same). ``tmp`` holds the
    subject's data (made by :func:`reference_run`)."""
    sub = SUBJECTS[subject]
    run = tmp / f"run-{moment.replace(' ', '-')}-{nth}-{frac:.3f}"
    argv = [*sub.argv(tmp), "--out", str(run)]
    code = child(moment, nth, frac, argv, after_s)
    killed = code in (-9, 137) or code is None
    if killed and (run / "report.html").is_file():  # the report is a run's last write: it had ended
        killed = False  # (gankit train --resume rightly says so: nothing to resume)
    try:
        if killed and not (run / "config.yaml").is_file():  # killed before the run had anything:
            gankit_cli(*argv, in_process=sub.in_process)  # rerun
        elif killed:
            gankit_cli(*sub.resume, str(run), "--no-progress", in_process=sub.in_process)
        result = final(run)
    except Exception as e:  # noqa: BLE001  (a lost run is what this counts)
        detail = e.stderr.decode()[-300:] if isinstance(e, subprocess.CalledProcessError) else e
        print(f"  {subject}: {moment} #{nth}: lost ({type(e).__name__}: {detail})", file=sys.stderr)
        return "lost"
    if not same(result, reference):
        return "differs"
    return "identical" if killed else "not killed"


def reference_run(tmp: Path, subject: str = "ring8 mlp") -> dict:
    """The uninterrupted run every trial of ``subject`` must end as (its data made in ``tmp``)."""
    sub = SUBJECTS[subject]
    if sub.data is not None:
        sub.data(tmp)
    gankit_cli(*sub.argv(tmp), "--out", str(tmp / "reference"), in_process=sub.in_process)
    return final(tmp / "reference")


def kill_trials(n: int, seed: int, tmp: Path) -> dict[str, Counter]:
    """``n`` trials spread over the subjects (half on the ring8 run, which has every moment) and,
    within a subject, over its moments in turn, so every moment gets its share."""
    rng, results = random.Random(seed), defaultdict(Counter)
    others = [s for s in SUBJECTS if s != "ring8 mlp"]
    plan = [("ring8 mlp" if i % 2 == 0 else others[(i // 2) % len(others)]) for i in range(n)]
    turn: Counter = Counter()
    for subject in dict.fromkeys(plan):
        where = tmp / subject.split()[0]
        reference = reference_run(where, subject)
        moments = SUBJECTS[subject].moments
        for i in (i for i, s in enumerate(plan) if s == subject):
            moment = list(moments)[turn[subject] % len(moments)]
            turn[subject] += 1
            nth, frac, after_s = rng.randint(1, moments[moment]), rng.random(), rng.uniform(3.0, 12.0)
            outcome = trial(moment, nth, frac, reference, where, after_s if moment == "random time" else 600,
                            subject)  # fmt: skip
            results[f"{subject}: {moment}"][outcome] += 1
            print(f"trial {i + 1}/{n}: {subject}: {moment} #{nth}: {outcome}", flush=True)
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

Four kinds of tiny run are killed once each trial, at a random occurrence of the moment, resumed
with the user's command (`gankit train --resume`, `gankit tabular fit --resume`) and compared with an
uninterrupted run of the same seed: every network and objective tensor of the final checkpoint, every
exported weights file, stats.jsonl and events.jsonl (timings aside) must be bit-identical. The runs:
ring8 (mlp width 16, {STEPS} steps, a tick every 4, checkpoint and grid every 8, evaluation every 16:
half the trials, it has every moment); SRGAN (24 steps at 16x16, the SRResNet stage then the
adversarial one: kills land in either stage); CycleGAN (four networks and an image pool); a table
fit (iris, 20 epochs). "not killed": the moment came after the run ended (the run is still compared).
{total} trials in {kill_s:.0f} s: {bad} lost or different.

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
