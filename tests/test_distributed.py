"""torchrun + DDP on CPU (gloo, 2 processes): one run directory, the same computation as one process at
twice the batch, resume (also at another world size), and it learns.

Tolerance of the equivalence: per-rank losses are means, DDP averages the ranks' gradients, and each
rank draws its contiguous slice of the global batch and of its latents, so the two runs differ only by
float summation order. Adam divides by sqrt(v), so a near-zero gradient's rounding can move a weight
by up to lr (1e-3 here) per step; after 10 steps we allow 1e-3 (measured: 5e-5 after 20 steps).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src"
TOL = 1e-3


def torchrun(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "gankit", "train", "--data", "ring8", "--no-progress", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def state(run_dir: Path) -> dict:
    return load_checkpoint(latest_checkpoint(run_dir), torch.device("cpu"))


@pytest.mark.slow
def test_two_processes_train_like_one_at_twice_the_batch_and_learn(tmp_path):
    # 2 ranks x batch 128, the ring8 recipe (PacGAN pairs stay within a rank's contiguous slice)
    torchrun("--steps", "10", "--batch-size", "128", "--runs-dir", "runs", cwd=tmp_path)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 wrote nothing of its own
    two = runs[0]

    torch.manual_seed(0)
    one = gankit.train(data="ring8", steps=10, batch_size=256, out=tmp_path / "one").run_dir
    a, b = state(one), state(two)
    assert a["sampler"] == b["sampler"] and a["images"] == b["images"] == 10 * 256
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.allclose(a[net][k], b[net][k], rtol=0, atol=TOL), f"{net}.{k}"
    sa, sb = (json.loads((r / "stats.jsonl").read_text().splitlines()[-1]) for r in (one, two))
    for k in ("loss/D", "loss/G", "D(x)", "D(G(z))"):
        assert sa[k] == pytest.approx(sb[k], rel=1e-4), k  # stats are averaged over the ranks

    # resume under DDP and train on: it learns the ring's modes
    torchrun("--resume", str(two), "--steps", "1500", cwd=tmp_path)
    modes = gankit.evaluate(two, metrics=["modes_ring8"], record=False)["modes_ring8"]
    assert state(two)["step"] == 1500
    print("ring8 after 1,500 steps on 2 processes:", modes)
    assert modes["modes"] >= 6, modes

    # resume at another world size (1 process, same global batch): the global position carries over
    gankit.train(resume=two, steps=1510, batch_size=256)
    after = state(two)
    assert after["step"] == 1510 and after["images"] == 1510 * 256
    assert after["sampler"]["pos"] % 256 == 0


def test_a_budget_under_torchrun_stops_every_rank_at_rank_0s_planned_step(tmp_path):
    torchrun("--minutes", "0.1", "--set", "model.width=32", "--out", "b", cwd=tmp_path)
    plan = json.loads((tmp_path / "b" / "budget.json").read_text())
    planned = plan["replans"][-1][1] if plan["replans"] else plan["steps"]  # re-planned by rank 0 for all
    assert plan["steps_run"] == planned == state(tmp_path / "b")["step"] > 0  # and no rank hung
