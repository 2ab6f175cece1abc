"""The rest of the bad-input catalogue (tests/bad_input_cases.py): command-line arguments, saved models,
run directories and tables."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

from bad_input_cases import FIXTURES, case


# --- command-line arguments ------------------------------------------------------------------------
def _run_dir(tmp: Path, name="mlp-ring8") -> Path:
    """A copy of a run of gankit 0.1 (tests/fixtures): checkpoints, config.yaml and model/."""
    shutil.copytree(FIXTURES / name, tmp / "m")
    return tmp / "m"


def _cli_case(kind, command, expect, says="", fixture="mlp-ring8"):
    """``command``: the words a user types ({run}: a copy of a trained run, {tmp}: a fresh folder)."""

    def make(tmp):
        run = _run_dir(tmp, fixture)
        return [a.format(run=run, tmp=tmp) for a in command.split()]

    case("cli", kind, expect, says)(make)


RING = "train --data ring8 --model mlp --steps 2 --no-progress"
_cli_case("train --steps 0", "train --data ring8 --steps 0 --out {tmp}/r", "error", "steps")
_cli_case("train --steps -5", "train --data ring8 --steps -5 --out {tmp}/r", "error", "steps")
_cli_case("train --batch-size -3", "train --data ring8 --batch-size -3 --out {tmp}/r", "error", "batch")
_cli_case("train --batch-size abc", "train --data ring8 --batch-size abc --out {tmp}/r", "error", "abc")
_cli_case("train --steps not-a-number", "train --steps ten", "error", "--steps")
_cli_case("train --out an existing file", f"{RING} --out {{run}}/config.yaml", "error", "config.yaml")
_cli_case("train --out under a file", f"{RING} --out {{run}}/config.yaml/r", "error", "config.yaml")
_cli_case("train --resume of a missing directory", "train --resume {tmp}/none", "error", "none")
_cli_case("train --resume with --out", "train --resume {run} --out {tmp}/x", "error", "--out")
_cli_case("sample -n 0", "sample {run} -n 0 --out {tmp}/s.png", "error", "-n 0")
_cli_case("sample -n -5", "sample {run} -n -5 --out {tmp}/s.png", "error", "-n -5")
_cli_case(
    "sample --labels, unconditional", "sample {run} --labels 1 --out {tmp}/s.png", "error", "not conditional"
)
_cli_case("sample --labels not numbers", "sample {run} --labels a,b --out {tmp}/s.png", "error", "--labels")
_cli_case("sample --labels out of range", "sample {run} --labels 99 --out {tmp}/s.png", "error", "in 0..9",
          fixture="dcgan-digits")  # fmt: skip
_cli_case("sample --truncation 0", "sample {run} --truncation 0 --out {tmp}/s.png", "error", "truncation")
_cli_case("sample --truncation -1", "sample {run} --truncation -1 --out {tmp}/s.png", "error", "truncation")
_cli_case("sample --out with a bad suffix", "sample {run} --out {tmp}/s.gif", "error", ".gif")
_cli_case("sample --out in a missing directory", "sample {run} -n 4 --out {tmp}/a/b/s.npy", "ok")
_cli_case(
    "sample --out under a file", "sample {run} -n 4 --out {run}/config.yaml/s.png", "error", "config.yaml"
)
_cli_case("evaluate -n 1", "evaluate {run} -n 1", "error", "-n 1")
_cli_case("evaluate an unknown metric", "evaluate {run} --metrics fidd", "error", "fidd")
_cli_case("an unknown command", "trian", "error", "trian")


# --- model and run directories ---------------------------------------------------------------------
def _model_case(kind, damage, expect, says="", fixture="mlp-ring8"):
    def make(tmp):
        run = _run_dir(tmp, fixture)
        damage(run / "model", run)
        return ["sample", str(run), "-n", "4", "--out", str(tmp / "s.npy")]

    case("models", kind, expect, says)(make)


def _edit_config(edit):
    def damage(model, run):
        config = json.loads((model / "config.json").read_text())
        edit(config)
        (model / "config.json").write_text(json.dumps(config))

    return damage


_model_case(
    "truncated config.json",
    lambda m, r: (m / "config.json").write_text('{"format": "gan'),
    "error",
    "config.json",
)
_model_case(
    "config.json that is a list",
    lambda m, r: (m / "config.json").write_text("[1, 2]"),
    "error",
    "config.json",
)
_model_case(
    "config.json of another family",
    _edit_config(lambda c: c["model"].update(name="nosuch")),
    "error",
    "nosuch",
)
_model_case(
    "config.json of another shape",
    _edit_config(lambda c: c["model"].update(width=7)),
    "error",
    "does not fit",
)
_model_case(
    "config.json without its model section", _edit_config(lambda c: c.pop("model")), "error", "config.json"
)
_model_case(
    "weights replaced by a pickle",
    lambda m, r: (m / "model.safetensors").write_bytes(pickle.dumps({"w": 1})),
    "error",
    "model.safetensors",
)
_model_case(
    "truncated weights",
    lambda m, r: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:100]),
    "error",
    "model.safetensors",
)
_model_case("missing weights", lambda m, r: (m / "model.safetensors").unlink(), "error", "no trained model")
_model_case("missing model directory", lambda m, r: shutil.rmtree(m), "error", "no trained model")


def _resume_case(kind, damage, expect, says=""):
    def make(tmp):
        run = _run_dir(tmp)
        damage(run)
        return ["train", "--resume", str(run), "--no-progress"]

    case("runs", kind, expect, says)(make)


def _all_checkpoints(write):
    return lambda run: [write(p) for p in (run / "checkpoints").glob("*.pt")]


_resume_case(
    "every checkpoint truncated",
    _all_checkpoints(lambda p: p.write_bytes(p.read_bytes()[:500])),
    "error",
    "can be loaded",
)
_resume_case(
    "every checkpoint a planted pickle",
    _all_checkpoints(lambda p: p.write_bytes(pickle.dumps([1]))),
    "error",
    "can be loaded",
)
_resume_case("config.yaml missing", lambda run: (run / "config.yaml").unlink(), "error", "config.yaml")
_resume_case(
    "config.yaml garbage", lambda run: (run / "config.yaml").write_text("{{{"), "error", "config.yaml"
)
_resume_case(
    "config.yaml of another model",
    lambda run: (run / "config.yaml").write_text(
        (run / "config.yaml").read_text().replace("width: 16", "width: 24")
    ),
    "error",
    "another model",
)
_resume_case(
    "a finished run",
    lambda run: (run / "config.yaml").write_text(
        (run / "config.yaml").read_text().replace("steps: 20", "steps: 10")
    ),
    "error",
    "already finished",
)


# --- tables ----------------------------------------------------------------------------------------
def _table_case(kind, text, expect, says="", name="t.csv", extra=()):
    def make(tmp):
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["tabular", "fit", str(path), "--epochs", "1", "--no-progress", *extra, "--out", f"{tmp}/run"]

    case("tables", kind, expect, says)(make)


def _csv(header: str, rows: list[str]) -> str:
    return header + "\n" + "".join(r + "\n" for r in rows)


_ROWS = [f"{i % 7},{(i * 37) % 11 / 3:.3f},{'abc'[i % 3]}" for i in range(40)]
_table_case("a good table", _csv("a,b,c", _ROWS), "ok")
_table_case("one row", _csv("a,b,c", _ROWS[:1]), "ok")
_table_case("one column", _csv("a", [r.split(",")[1] for r in _ROWS]), "ok")
_table_case("an all-missing column", _csv("a,b,c,d", [r + "," for r in _ROWS]), "ok")
_table_case(
    "mixed types in a column", _csv("a,b,c", [r if i % 5 else "x,y,z" for i, r in enumerate(_ROWS)]), "ok"
)
_table_case("unicode headers", _csv("α,β 列,ç", _ROWS), "ok")
_table_case("duplicate headers", _csv("a,a,a", _ROWS), "ok")
_table_case("a constant column", _csv("a,b,c,k", [r + ",5" for r in _ROWS]), "ok")
_table_case(
    "a date column with garbage",
    _csv(
        "a,b,c,when", [r + (",2024-01-0" + str(i % 9 + 1) if i % 6 else ",soon") for i, r in enumerate(_ROWS)]
    ),
    "ok",
)
_table_case("a header and no rows", "a,b,c\n", "error", "t.csv")
_table_case("a zero-byte file", b"", "error", "t.csv")
_table_case("binary garbage", bytes(range(256)) * 8, "error", "t.csv")
_table_case("a .parquet that is not one", b"PAR1 garbage", "error", "t.parquet", name="t.parquet")
_table_case("an unsupported suffix", "a,b\n1,2\n", "error", ".xlsx", name="t.xlsx")
_table_case("an unknown --discrete column", _csv("a,b,c", _ROWS), "error", "zz", extra=("--discrete", "zz"))
