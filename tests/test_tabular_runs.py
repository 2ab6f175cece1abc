"""Table fits run in the one training loop: a run directory, exact resume (after SIGKILL too),
the public commands around it."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.cli import main as cli
from gankit.models.ctgan import default_batch, epoch_steps
from gankit.tabular.datasets import TABLES
from gankit.tabular.synthesizer import TabularGAN
from gankit.tabular.table import TableData
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

GANKIT = [sys.executable, "-m", "gankit"]


def same_weights(a, b):
    wa, wb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_sigkill_mid_fit_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    fit = [*GANKIT, "tabular", "fit", "iris", "--epochs", "60", "--no-progress", "--out"]
    subprocess.run([*fit, str(whole)], check=True, capture_output=True)
    proc = subprocess.Popen([*fit, str(cut)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while (
        not list((cut / "checkpoints").glob("ckpt-*.pt")) and time.time() < deadline and proc.poll() is None
    ):
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the fit ended before it could be killed"
    step = load_checkpoint(latest_checkpoint(cut), torch.device("cpu"))["step"]
    assert 0 < step < 180  # 60 epochs x 3 steps
    r = subprocess.run(
        [*GANKIT, "tabular", "fit", "--resume", str(cut), "--no-progress"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert same_weights(whole, cut)


def test_a_fit_writes_a_run_directory_that_the_commands_use(tmp_path, capsys):
    run = tmp_path / "T"
    cli(["tabular", "fit", "iris", "--epochs", "4", "--out", str(run), "--no-progress"])
    for name in ("config.yaml", "stats.jsonl", "checkpoints", "model/config.json", "model/transformer.json",
                 "report.html"):  # fmt: skip
        assert (run / name).exists(), name
    assert len((run / "stats.jsonl").read_text().splitlines()) == 4  # a record per epoch
    cli(["tabular", "sample", str(run), "-n", "30", "--out", str(tmp_path / "s.csv")])
    assert len(TabularGAN.load(run).sample(30)) == 30
    assert isinstance(gankit.load(run), TabularGAN)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli(["sample", str(run), "-n", "5", "--out", str(tmp_path / "x.npy")])
    assert e.value.code == 2 and "gankit tabular sample" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --out of an existing run is refused, never overwritten
        cli(["tabular", "fit", "iris", "--epochs", "1", "--out", str(run), "--no-progress"])


def test_dp_fit_resumes_with_its_privacy_accounting(tmp_path):
    df = TABLES.get("iris").load()
    kw = dict(epochs=6, dp_epsilon=3.0, g_dims=(16,), d_dims=(16,), latent_dim=8)
    whole = TabularGAN(**kw).fit(df, out=tmp_path / "whole")
    gan = TabularGAN(**kw)
    table = TableData.prepare(df, None, None, gan.max_modes, gan.seed, "dataframe")
    gankit.train(gan.config(table), out=tmp_path / "cut", real_data=table, callbacks=[lambda s, last: s < 7])
    resumed = TabularGAN(**kw).fit(df, resume=tmp_path / "cut")
    assert same_weights(tmp_path / "whole", tmp_path / "cut")
    assert resumed.dp_epsilon_spent == pytest.approx(whole.dp_epsilon_spent, rel=1e-12)
    assert 0 < whole.dp_epsilon_spent <= 3.0 + 1e-6


def test_a_table_trains_through_gankit_train_as_a_family(tmp_path):
    result = gankit.train(model="ctgan", data="iris", out=tmp_path / "r", progress=False,
                          overrides=["train.epochs=2", "model.g_dims=16", "model.d_dims=16"])  # fmt: skip
    assert result.step == 2 * epoch_steps(150, default_batch(150))
    assert TabularGAN.load(result.run_dir).sample(10, seed=0).shape == (10, 5)
