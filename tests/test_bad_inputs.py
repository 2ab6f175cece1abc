"""Bad input ends in one line naming the problem and the fix, exit code 2 — never a traceback."""

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from gankit.cli import main as cli


def one_line_error(capsys, *argv):
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli([*map(str, argv)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_an_empty_array_is_named(tmp_path, capsys):
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    assert "holds no samples" in one_line_error(
        capsys, "train", "--data", tmp_path / "empty.npy", "--out", tmp_path / "r"
    )


def test_an_object_array_is_refused_as_a_pickle(tmp_path, capsys):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "pickle" in one_line_error(
        capsys, "train", "--data", tmp_path / "obj.npy", "--out", tmp_path / "r"
    )


def test_networks_too_large_for_memory_say_how_to_shrink_them(tmp_path, capsys):
    huge = ["--set", "model.width=2000000000"]
    err = one_line_error(capsys, "train", "--data", "ring8", "--model", "mlp", *huge, "--steps", "2",
                         "--out", tmp_path / "r", "--no-progress")  # fmt: skip
    assert "do not fit" in err and "model.width" in err


def test_a_table_model_whose_weights_are_a_pickle_is_refused(tmp_path, capsys):
    from gankit.tabular.synthesizer import TabularGAN

    fixture = Path(__file__).parent / "fixtures" / "release-0.1.0" / "tab-iris"
    shutil.copytree(fixture, tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))
    err = one_line_error(capsys, "tabular", "sample", tmp_path / "m", "-n", "5", "--out", tmp_path / "s.csv")
    assert "not this model's weights" in err
    with pytest.raises(Exception, match="not this model's weights"):
        TabularGAN.load(tmp_path / "m")
