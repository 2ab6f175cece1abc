"""Checkpoints and exports that heal: files land whole, a manifest catches damage, a full disk loses
nothing and says so in one line."""

import errno
import json
import os
import shutil

import pytest
import torch

import gankit
from gankit import durable
from gankit.cli import main as cli
from gankit.training.checkpoint import MANIFEST, list_checkpoints, load_checkpoint, read_manifest

SETTINGS = ["model.width=16", "train.batch_size=32", "train.log_every=2", "train.checkpoint_every=4",
            "train.keep_checkpoints=2", "monitor.eval_every=0"]  # fmt: skip
RUN = dict(data="ring8", model="mlp", steps=12, progress=False, overrides=SETTINGS)
CLI_RUN = ["--data", "ring8", "--model", "mlp", "--steps", "12", "--no-progress",
           *[a for s in SETTINGS for a in ("--set", s)]]  # fmt: skip


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """An uninterrupted run: what every healed or resumed run must end as, bit for bit."""
    return gankit.train(out=tmp_path_factory.mktemp("whole") / "run", **RUN).run_dir


def weights(run_dir):
    from safetensors.torch import load_file

    return load_file(durable.readable_dir(run_dir / "model") / "model.safetensors")


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def stats(run_dir):
    timing = {"time_s", "img_per_s"}
    lines = (run_dir / "stats.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in timing} for line in lines]


def leftovers(run_dir):
    """Temporary files or staging directories a write left behind."""
    return [p for p in run_dir.rglob("*") if durable.TMP in p.name or p.name.endswith((".new", ".old"))]


# --- files land whole -------------------------------------------------------------------------------
def failing_writes(monkeypatch, match: str, after: int = 0, err: int = errno.ENOSPC, model=None):
    """The disk fills up: the writes to files whose name contains ``match`` fail from the ``after``-th
    on (after half their bytes, as a real full disk does). Other writes go through. With ``model``
    (an export directory), its weights are kept as they were when each checkpoint began ("cycle")
    and when the disk filled up ("failure")."""
    real_write, seen = os.write, {"n": 0}

    def snapshot(key):
        if model is not None and (model / "model.safetensors").is_file() and key not in seen:
            seen[key] = (model / "model.safetensors").read_bytes()

    def write(fd, data):
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        first = os.lseek(fd, 0, os.SEEK_CUR) == 0  # a file's first write (fds and inodes are reused)
        if "ckpt-" in name and first:
            seen.pop("cycle", None)
            snapshot("cycle")
        if match in name:
            seen["n"] += first
            if seen["n"] > after:
                snapshot("failure")
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(err, os.strerror(err))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return seen


def test_a_write_that_fails_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    durable.write_bytes(target, b"old" * 1000)
    failing_writes(monkeypatch, "f.bin")
    with pytest.raises(OSError) as e:
        durable.write_bytes(target, b"new" * 1000)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert target.read_bytes() == b"old" * 1000
    assert list(tmp_path.iterdir()) == [target]


def test_a_directory_replaced_halfway_keeps_the_old_one(tmp_path):
    target = tmp_path / "model"
    with durable.replace_dir(target) as d:
        (d / "a").write_text("1")
    with pytest.raises(RuntimeError), durable.replace_dir(target) as d:
        (d / "a").write_text("2")
        raise RuntimeError("killed mid-export")
    assert (target / "a").read_text() == "1" and not leftovers(tmp_path)
    with durable.replace_dir(target) as d:
        (d / "a").write_text("3")
    assert (target / "a").read_text() == "3" and not leftovers(tmp_path)


def test_an_export_swap_cut_between_its_renames_is_read_and_healed(whole, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    os.replace(run / "model", run / "model.old")  # the crash: old moved aside, new not yet in place
    (run / "model.new").mkdir()
    (run / "model.new" / "config.json").write_text("{")  # half a new export
    assert gankit.load(run).sample(4, seed=1).shape == (4, 2)  # readers use the previous export
    durable.heal_dir(run / "model")
    assert (run / "model" / "model.safetensors").is_file() and not leftovers(run)
    assert same_weights(whole, run)


# --- checkpoints: manifest and healing -------------------------------------------------------------
def test_the_manifest_lists_each_kept_checkpoint_with_size_and_sha256(whole):
    directory = whole / "checkpoints"
    kept = list_checkpoints(directory)
    assert [p.name for p in kept] == ["ckpt-0000008.pt", "ckpt-0000012.pt"]  # keep_checkpoints=2
    manifest = read_manifest(directory)
    assert sorted(manifest) == [p.name for p in kept]
    for p in kept:
        assert manifest[p.name] == {"size": p.stat().st_size, "sha256": durable.file_sha256(p)}
    assert not leftovers(whole)


def test_a_checkpoint_failing_its_checksum_is_skipped_for_the_previous_one(whole, tmp_path, caplog):
    run = tmp_path / "cut"
    gankit.train(out=run, callbacks=[lambda step, last: step < 8], **RUN)
    newest = list_checkpoints(run / "checkpoints")[-1]
    assert newest.name == "ckpt-0000008.pt"
    blob = bytearray(newest.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped bit in the tensor data: the file still loads
    newest.write_bytes(bytes(blob))
    load_checkpoint(newest, torch.device("cpu"))
    with caplog.at_level("WARNING"):
        gankit.train(resume=run)
    skipped = [r for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and "sha256" in skipped[0].getMessage()
    assert same_weights(whole, run) and stats(whole) == stats(run)


def test_a_run_without_a_manifest_still_resumes(whole, tmp_path):
    run = tmp_path / "cut"
    gankit.train(out=run, callbacks=[lambda step, last: step < 6], **RUN)
    (run / "checkpoints" / MANIFEST).unlink()  # as a run written before manifests
    gankit.train(resume=run)
    assert same_weights(whole, run) and stats(whole) == stats(run)


def test_a_torn_stats_line_from_a_kill_is_dropped_on_resume(whole, tmp_path):
    run = tmp_path / "cut"
    gankit.train(out=run, callbacks=[lambda step, last: step < 6], **RUN)
    with (run / "stats.jsonl").open("a") as f:
        f.write('{"step": 8, "loss/D": 1.2')  # killed mid-append
    gankit.train(resume=run)
    assert stats(whole) == stats(run)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start_by_the_cli(whole, tmp_path):
    run = tmp_path / "killed"
    run.mkdir()
    shutil.copy(whole / "config.yaml", run / "config.yaml")  # all the kill left
    cli(["train", "--resume", str(run), "--no-progress"])  # returns: exit code 0
    assert same_weights(whole, run) and stats(whole) == stats(run)


# --- a full disk -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fails", ["ckpt-0000008.pt", "manifest.json", "model.safetensors", "config.json", "fakes_"]
)
def test_a_full_disk_stops_in_one_line_and_resume_finishes(fails, whole, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    # the first checkpoint, manifest and export land; the disk is full at the next write of `fails`
    after = {"ckpt-0000008.pt": 0, "fakes_": 0}.get(fails, 1)
    seen = failing_writes(monkeypatch, fails, after=after, model=run / "model")
    with pytest.raises(SystemExit) as e:
        cli(["train", *CLI_RUN, "--out", str(run)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: no space left on ") and " while writing " in err
    assert err.endswith(f"free space and run gankit train --resume {run}")
    assert fails in err.split(" while writing ")[1]
    assert not leftovers(run)
    # the export is the one before: as it was when the checkpoint began, when the export failed
    exporting = fails in ("model.safetensors", "config.json")
    assert (run / "model" / "model.safetensors").read_bytes() == seen["cycle" if exporting else "failure"]
    # what was on disk before the failed write is whole: every checkpoint loads and matches its
    # manifest entry (one written just before a failed manifest write is whole but unlisted), and
    # the export loads
    monkeypatch.undo()
    manifest = read_manifest(run / "checkpoints")
    for path in list_checkpoints(run / "checkpoints"):
        assert path.name not in manifest or manifest[path.name]["sha256"] == durable.file_sha256(path)
        load_checkpoint(path, torch.device("cpu"))
    assert gankit.load(run).sample(4, seed=0).isfinite().all()
    cli(["train", "--resume", str(run), "--no-progress"])
    assert same_weights(whole, run) and stats(whole) == stats(run)


def test_a_run_killed_while_writing_its_last_report_is_finished_by_resume(whole, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    (run / "report.html").unlink()
    (run / f".report.html{durable.TMP}4242").write_text("<html><bo")  # what the kill left
    cli(["train", "--resume", str(run), "--no-progress"])
    assert "</html>" in (run / "report.html").read_text() and not leftovers(run)
    assert same_weights(whole, run)
