"""Speed settings: lazy CLI imports, --batch-size auto, mixed precision on CPU. (Speed itself is
measured by benchmarks/speed.py, not asserted here.)"""

import json
import math
import subprocess
import sys

import pytest

import gankit
from gankit.data import load_data
from gankit.training.setup import resolve_config


def test_help_answers_without_importing_torch():
    code = "import sys; from gankit.cli import main; main(['--help']); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"


def auto_batch(data: str, model: str, budget_mb: int, **options) -> int:
    cfg = gankit.make_config(
        None, [f"train.memory_budget_mb={budget_mb}"], data=data, model=model, batch_size="auto", **options
    )
    return resolve_config(cfg, load_data(cfg.data)).train.batch_size


def test_batch_size_auto_is_the_largest_power_of_two_that_fits_the_budget():
    small = auto_batch("digits", "dcgan", 2, width=16)
    large = auto_batch("digits", "dcgan", 8, width=16)
    assert small < large
    assert auto_batch("digits", "dcgan", 1000, width=16) == 1024  # capped by the 1,797 digits
    assert all(b == 2 ** int(math.log2(b)) for b in (small, large))
    assert auto_batch("ring8", "mlp", 200) % 2 == 0  # a multiple of the recipe's PacGAN pack
    with pytest.raises(gankit.GankitError, match="memory budget"):
        auto_batch("digits", "dcgan", 0, width=16)


def test_bf16_autocast_trains_on_cpu(tmp_path):
    run = gankit.train(
        data="ring8",
        model="mlp",
        steps=4,
        precision="bf16",
        device="cpu",
        out=tmp_path / "bf16",
        overrides=["model.width=32", "train.batch_size=32", "train.log_every=2"],
    )
    last = json.loads((run.run_dir / "stats.jsonl").read_text().splitlines()[-1])
    assert all(math.isfinite(last[k]) for k in ("loss/D", "loss/G"))
