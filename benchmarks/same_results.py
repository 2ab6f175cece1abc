"""Does this tree compute what an earlier release computed? Each case trains with its dataset's recipe
(fewer steps) under both trees, same seed, and compares the exported weights bit for bit.

    python benchmarks/same_results.py --against 3d246a8          # appends a table to docs/benchmarks.md
    python benchmarks/same_results.py --against 3d246a8 --cases ring8 --no-write

The earlier tree is checked out with ``git worktree`` into a temporary folder and imported from
there in a subprocess; the case runs the same Python API calls in both (``gankit.train`` for image
and point families, ``TabularGAN.fit`` for tables).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _report import machine, publish

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # name -> (what it is, python run inside the tree; prints the model file's path)
    "mnist-default": ("default job: conditional DCGAN, MNIST recipe", "train(data='mnist', steps=300)"),
    "stacked-mnist": ("PacGAN-2, extra convs, nearest upsampling", "train(data='stacked-mnist', steps=150)"),
    "ring8": ("MLP, PacGAN-2, linear schedule, EMA", "train(data='ring8', steps=3000)"),
    "grid25": ("MLP + R1, batch 512", "train(data='grid25', steps=1500)"),
    "digits-wgan-gp": (
        "WGAN-GP critic, n_critic 5, D warm-up",
        "train(data='digits', loss='wgan-gp', steps=100, overrides=['optim.d_warmup=10'])",
    ),  # fmt: skip
    "iris-table": ("TabularGAN (CTGAN) fit", "table('iris', 100)"),
    "autompg-table": ("TabularGAN fit", "table('autompg', 60)"),
    "iris-table-dp": ("TabularGAN fit with DP-SGD (ε = 3)", "table('iris', 40, dp_epsilon=3.0)"),
}
PRELUDE = """
import sys, gankit
out = sys.argv[1]
def train(**kw):
    r = gankit.train(out=out, progress=False, **kw)
    print(r.run_dir / 'model' / 'model.safetensors')
def table(name, epochs, **kw):
    from gankit.tabular.datasets import TABLES
    from gankit.tabular.synthesizer import TabularGAN
    t = TABLES.get(name)
    TabularGAN(epochs=epochs, **kw).fit(t.load(), discrete_columns=list(t.discrete)).save(out)
    print(out + '/model.safetensors')
"""


def run_case(src: Path, code: str, out: Path) -> tuple[str, float]:
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", PRELUDE + code, str(out)], env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if r.returncode != 0:
        raise SystemExit(f"{code} failed under {src}:\n{r.stderr[-2000:]}")
    path = Path(r.stdout.strip().splitlines()[-1])
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", required=True, help="the earlier commit or tag")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old), args.against],
                       check=True)  # fmt: skip
        try:
            for name in args.cases.split(","):
                what, code = CASES[name]
                before, t_old = run_case(old / "src", code, Path(tmp) / f"{name}-old")
                after, t_new = run_case(ROOT / "src", code, Path(tmp) / f"{name}-new")
                rows.append((name, what, before, after, t_new / t_old))
                print(rows[-1], flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    lines = [
        f"\n## Same results as {args.against} ({date.today()})\n",
        f"{machine()}. Command: `python benchmarks/same_results.py --against {args.against}` "
        f"(this tree: {head.stdout.strip()}). sha256 of the exported weights, same seed.\n",
        "| case | what | before | after | identical | time after / before |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | {w} | `{b}` | `{a}` | {'yes' if a == b else '**no**'} | {r:.2f} |"
            for n, w, b, a, r in rows
        ),
        "",
    ]
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
