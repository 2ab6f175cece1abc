"""Resume is exact: an interrupted-and-resumed run ends with the same weights and stats."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import gankit
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint

TIMING = {"time_s", "img_per_s", "eval_s"}

CASES = {
    "mlp-ring8": dict(
        data="ring8",
        model="mlp",
        steps=30,
        overrides=["model.width=32", "train.batch_size=32", "train.log_every=4"],
    ),
    # batch norm, EMA, conditioning and the gradient penalty's random interpolates
    "dcgan-digits-cond-wgangp": dict(
        data="digits",
        model="dcgan",
        steps=12,
        conditional=True,
        loss="wgan-gp",
        overrides=[
            "model.width=8",
            "train.batch_size=16",
            "train.log_every=4",
            "optim.ema=0.9",
            "optim.n_critic=2",
        ],
    ),
}


def final_state(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir), torch.device("cpu"))


def stats_without_timing(run_dir):
    lines = (run_dir / "stats.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def assert_same_run(a, b):
    sa, sb = final_state(a), final_state(b)
    assert sa["step"] == sb["step"]
    for net in ("G", "D", "G_ema"):
        assert sa[net].keys() == sb[net].keys()
        for k in sa[net]:
            assert torch.equal(sa[net][k], sb[net][k]), f"{net}.{k} differs"
    assert stats_without_timing(a) == stats_without_timing(b)


@pytest.mark.parametrize("case", CASES)
def test_interrupted_and_resumed_run_matches_uninterrupted(case, tmp_path):
    kwargs = CASES[case]
    gankit.train(out=tmp_path / "full", **kwargs)
    stop_at = 7  # between ticks and between checkpoints: pending stats must survive too
    part = gankit.train(out=tmp_path / "part", callbacks=[lambda step, stats: step < stop_at], **kwargs)
    assert part.interrupted and part.step == stop_at
    assert final_state(tmp_path / "part")["step"] == stop_at
    resumed = gankit.train(resume=tmp_path / "part")
    assert resumed.step == kwargs["steps"] and not resumed.interrupted
    assert_same_run(tmp_path / "full", tmp_path / "part")


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_identically(tmp_path):
    args = [
        "--data",
        "ring8",
        "--model",
        "mlp",
        "--steps",
        "3000",
        "--no-progress",
        "--set",
        "model.width=64",
        "--set",
        "train.log_every=10",
        "--set",
        "train.threads=1",
    ]
    cmd = [sys.executable, "-m", "gankit", "train"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(cmd + args + ["--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)

    proc = subprocess.Popen(
        cmd + args + ["--out", str(tmp_path / "part")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stats = tmp_path / "part" / "stats.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (stats.exists() and stats.read_text().count("\n") >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, f"expected an interrupted run, got exit {proc.returncode}: {err[-500:]}"
    assert "Traceback" not in err
    assert "gankit train --resume" in out
    stopped = final_state(tmp_path / "part")["step"]
    assert 0 < stopped < 3000

    done = subprocess.run(
        cmd + ["--resume", str(tmp_path / "part"), "--no-progress"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert_same_run(tmp_path / "full", tmp_path / "part")


def test_divergence_stops_with_the_last_good_checkpoint_intact(tmp_path):
    run_dir = tmp_path / "run"
    gankit.train(data="ring8", model="mlp", steps=20, out=run_dir, overrides=["model.width=16"])
    good = final_state(run_dir)
    with pytest.raises(gankit.GankitError, match="diverged") as info:  # an absurd learning rate
        gankit.train(
            resume=run_dir,
            steps=300,
            lr_g=1e12,
            lr_d=1e12,
            overrides=["train.log_every=5", "train.checkpoint_every=5"],
        )
    assert "last good checkpoint" in str(info.value)
    state = final_state(run_dir)
    assert state["step"] >= good["step"]
    for net in ("G", "D"):
        assert all(torch.isfinite(t).all() for t in state[net].values())
    assert gankit.load(run_dir).sample(10).isfinite().all()


HEAL_SETTINGS = ["model.width=16", "train.batch_size=32", "train.log_every=2", "train.checkpoint_every=4",
                 "train.keep_checkpoints=3", "monitor.eval_every=0"]  # fmt: skip
HEAL = dict(data="ring8", model="mlp", steps=12, progress=False, overrides=HEAL_SETTINGS)


def _model_weights(run_dir):
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "model.safetensors")


def _same_export(a, b):
    wa, wb = _model_weights(a), _model_weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_damaged_newest_checkpoint_is_skipped_for_the_one_before(tmp_path, caplog):
    gankit.train(out=tmp_path / "whole", **HEAL)
    gankit.train(out=tmp_path / "cut", callbacks=[lambda step, last: step < 8], **HEAL)
    newest = latest_checkpoint(tmp_path / "cut")
    assert newest.name == "ckpt-0000008.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated, as by a crash mid-write on a bad disk
    with caplog.at_level("WARNING"):
        gankit.train(resume=tmp_path / "cut")
    assert "skipping ckpt-0000008.pt" in caplog.text
    assert _same_export(tmp_path / "whole", tmp_path / "cut")
    assert stats_without_timing(tmp_path / "whole") == stats_without_timing(tmp_path / "cut")


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path):
    import shutil

    gankit.train(out=tmp_path / "whole", **HEAL)
    gankit.train(out=tmp_path / "cut", callbacks=[lambda step, last: step < 3], **HEAL)
    shutil.rmtree(tmp_path / "cut" / "checkpoints")  # what a kill before the first checkpoint leaves
    gankit.train(resume=tmp_path / "cut")
    assert _same_export(tmp_path / "whole", tmp_path / "cut")
    assert stats_without_timing(tmp_path / "whole") == stats_without_timing(tmp_path / "cut")


def test_a_planted_pickle_is_refused_in_one_line_without_torch_warnings(tmp_path):
    import warnings

    gankit.train(out=tmp_path / "r", callbacks=[lambda step, last: step < 4], **HEAL)
    for ckpt in (tmp_path / "r" / "checkpoints").glob("*.pt"):
        torch.save({"format": "gankit-checkpoint-2", "payload": object.__new__(Evil)}, ckpt)
    with warnings.catch_warnings(record=True) as seen, pytest.raises(gankit.GankitError, match="damaged"):
        warnings.simplefilter("always")
        gankit.train(resume=tmp_path / "r")
    assert not [w for w in seen if "pickle" in str(w.message).lower()]


class Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))
