"""The command line: outputs of sample/evaluate, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import gankit


def gankit_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gankit", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ring"
    gankit.train(
        data="ring8", model="mlp", steps=20, out=out, overrides=["model.width=16", "train.batch_size=32"]
    )
    return out


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cdigits"
    gankit.train(
        data="digits",
        model="dcgan",
        steps=4,
        conditional=True,
        out=out,
        overrides=["model.width=8", "train.batch_size=16"],
    )
    return out


def test_sample_writes_npy_png_npz(toy_run, cond_run, tmp_path):
    r = gankit_cli("sample", toy_run, "-n", 50, "--out", tmp_path / "s.npy", "--seed", 3)
    assert r.returncode == 0, r.stderr
    pts = np.load(tmp_path / "s.npy")
    assert pts.shape == (50, 2) and pts.dtype == np.float32
    again = gankit.load(toy_run).sample(50, seed=3).numpy()
    np.testing.assert_array_equal(pts, again)

    assert gankit_cli("sample", toy_run, "-n", 50, "--out", tmp_path / "s.png").returncode == 0
    assert (tmp_path / "s.png").stat().st_size > 0

    r = gankit_cli("sample", cond_run, "-n", 20, "--labels", "3,5", "--out", tmp_path / "c.npz")
    assert r.returncode == 0, r.stderr
    z = np.load(tmp_path / "c.npz")
    assert z["samples"].shape == (20, 1, 8, 8)
    assert z["samples"].min() >= 0.0 and z["samples"].max() <= 1.0
    assert z["labels"].tolist() == [3, 5] * 10
    r = gankit_cli("sample", cond_run, "-n", 30, "--out", tmp_path / "c.npy")
    assert np.load(tmp_path / "c.npy").shape == (30, 1, 8, 8)


def test_unconditional_sample_without_labels_rejects_labels(toy_run, tmp_path):
    r = gankit_cli("sample", toy_run, "-n", 5, "--labels", "1", "--out", tmp_path / "x.npy")
    assert r.returncode == 2 and "not conditional" in r.stderr


def test_conditional_sampling_balances_classes(cond_run):
    _, y = gankit.load(cond_run).sample(1000, seed=0, return_labels=True)
    assert torch.bincount(y, minlength=10).tolist() == [100] * 10


def test_evaluate_prints_json_and_appends_metrics(toy_run):
    r = gankit_cli("evaluate", toy_run, "-n", 500)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert set(result["modes_ring8"]) >= {"modes", "high_quality", "reverse_kl", "provenance"}
    assert result["modes_ring8"]["provenance"]["n_fake"] == 500
    lines = (toy_run / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["results"] == result


def test_train_refuses_non_empty_out(toy_run):
    r = gankit_cli("train", "--data", "ring8", "--out", toy_run)
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (toy_run / "model" / "model.safetensors").exists()  # nothing was lost


def test_numbered_run_directories_are_never_reused(tmp_path):
    for _ in range(2):
        gankit.train(data="ring8", model="mlp", steps=2, runs_dir=tmp_path, overrides=["model.width=8"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000-mlp-ring8", "00001-mlp-ring8"]


ERROR_CASES = [
    (["train", "--data", "nope"], "unknown dataset 'nope'"),
    (["train", "--model", "gan9"], "unknown model 'gan9'"),
    (["train", "--loss", "hingee"], "did you mean 'hinge'"),
    (["train", "--set", "model.widht=3"], "unknown option 'model.widht'"),
    (["train", "--set", "optim.schedule=wavy"], "not a valid option"),
    (["train", "--data", "/no/such/dir"], "data path not found"),
    (["train", "--config", "/no/such.yaml"], "config file not found"),
    (["train", "--data", "ring8", "--model", "dcgan"], "dcgan models images"),
    (["train", "--data", "ring8", "--conditional", "--steps", "0"], "train.steps must be >= 1"),
    (["train", "--resume", "/no/such/run"], "not a gankit run directory"),
    (["sample", "/no/such/run", "--out", "x.png"], "not found"),
    (["sample", ".", "--out", "x.png"], "holds no trained model"),
    (["train", "--no-such-flag"], "No such option"),
    (["train", "--data", "ring8", "--device", "cpu", "--precision", "fp16"], "fp16 needs a CUDA device"),
    (["train", "--data", "ring8", "--precision", "fp8"], "not a valid option"),
    (["train", "--data", "ring8", "--batch-size", "lots"], "train.batch_size='lots' is not a valid int"),
]


@pytest.mark.parametrize("args,message", ERROR_CASES)
def test_errors_are_one_line_with_exit_code_2(args, message, tmp_path):
    r = gankit_cli(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr


def test_debug_shows_the_traceback(tmp_path):
    r = gankit_cli("--debug", "train", "--data", "nope", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_incompatible_and_corrupt_checkpoints(toy_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    r = gankit_cli("train", "--resume", run, "--set", "model.width=99", "--steps", "40")
    assert r.returncode == 2 and "another model" in r.stderr
    for ckpt in (run / "checkpoints").glob("*.pt"):  # a damaged newest one alone is skipped (test_resume)
        ckpt.write_bytes(b"not a checkpoint")
    r = gankit_cli("train", "--resume", run, "--steps", "40")
    assert r.returncode == 2 and "damaged" in r.stderr and "can be loaded" in r.stderr
    (run / "model" / "config.json").write_text("{broken")
    r = gankit_cli("sample", run, "--out", tmp_path / "x.npy")
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_help_lists_commands():
    r = gankit_cli("--help")
    assert r.returncode == 0
    for command in ("train", "sample", "evaluate", "datasets", "models", "losses"):
        assert command in r.stdout


def test_run_directory_layout_and_report(toy_run):
    import yaml

    names = {p.name for p in toy_run.iterdir()}
    assert {"config.yaml", "stats.jsonl", "reals.png", "checkpoints", "model", "report.html"} <= names
    assert any(n.startswith("fakes_") for n in names)
    assert {p.name for p in (toy_run / "model").iterdir()} == {"config.json", "model.safetensors"}
    resolved = yaml.safe_load((toy_run / "config.yaml").read_text())
    assert resolved["model"]["name"] == "mlp" and resolved["train"]["steps"] == 20
    assert all(
        v is not None
        for section in resolved.values()
        for k, v in section.items()
        # None as a value: the data as stored (image pairs' load_size; flip and rotate: translation
        # tasks resolve them)
        if k
        not in (
            "resolution",
            "channels",
            "threads",
            "discrete",
            "metadata",
            "epochs",
            "minutes",
            "load_size",
            "flip",
            "rotate",
        )
    )  # every auto field was resolved
    page = (toy_run / "report.html").read_text()
    assert page.count("<svg") >= 2 and "data:image/png;base64," in page
