"""The catalogue of bad inputs: each kind writes its files and names the command a user would run, and
says how it must end — correct output ("ok") or a one-line error with exit code 2 ("error") whose
text names the problem. tests/test_fuzz_inputs.py runs every case; benchmarks/reliability.py counts
them for docs/reliability.md.

All cases run in-process (``gankit.cli.main``) and train for a step or two on tiny networks, so the
whole catalogue takes seconds, not minutes.
"""

from __future__ import annotations

import io
import pickle
import struct
import traceback
import warnings
import zlib
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures" / "release-0.1.0"
TINY = [
    "--steps",
    "2",
    "--no-progress",
    "--set",
    "model.width=8",
    "--set",
    "train.batch_size=4",
    "--set",
    "monitor.eval_every=0",
]
IMAGES = ["--model", "dcgan", "--resolution", "16", *TINY]


@dataclass
class Case:
    surface: str  # arrays, images, config, cli, models, runs, tables
    kind: str
    make: Callable[[Path], list[str]]  # writes its inputs under a fresh directory; returns the argv
    expect: str  # "ok" or "error"
    says: str = ""  # a piece of the error line


CASES: list[Case] = []


def case(surface: str, kind: str, expect: str, says: str = ""):
    def register(make):
        CASES.append(Case(surface, kind, make, expect, says))
        return make

    return register


def run_cli(argv: list[str]) -> tuple[object, str, str]:
    """(exit code, stdout, stderr) of ``gankit ARGV`` run in this process; an exception that escapes
    the CLI is exit code "crash" with its traceback in stderr."""
    from gankit.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("default")  # a warning printed above an error is a second line
        try:
            main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001  (what a user would see as a traceback)
            traceback.print_exc(file=err)
            code = "crash"
    return code, out.getvalue(), err.getvalue()


def outcome(c: Case, tmp: Path) -> tuple[str, str]:
    """("ok" | "error" | "crash", detail) of one case in the empty directory ``tmp``."""
    code, out, err = run_cli(c.make(tmp))
    lines = [line for line in err.strip().splitlines() if line.strip()]
    if code == 0:
        return "ok", out.strip().splitlines()[-1] if out.strip() else ""
    if code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err:
        return "error", lines[0]
    return "crash", f"exit {code}: {err[-3000:]}"


# --- files -----------------------------------------------------------------------------------------
def png_bytes(size=(16, 16), mode="RGB", seed=0, **save) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    bands = {"L": 1, "RGB": 3, "RGBA": 4, "CMYK": 4}.get(mode)
    if mode in ("L", "RGB", "RGBA", "CMYK"):
        array = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
        im = Image.fromarray(array[..., 0] if bands == 1 else array, mode if mode != "CMYK" else None)
        im = im if mode != "CMYK" else Image.frombytes("CMYK", size, array.tobytes())
    elif mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (size[1], size[0]), dtype=np.uint16))
    elif mode == "P":
        im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert("P")
    elif mode == "1":
        im = Image.fromarray(rng.integers(0, 2, (size[1], size[0]), dtype=np.uint8) * 255).convert("1")
    else:
        raise ValueError(mode)
    buffer = io.BytesIO()
    im.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def bomb_png(width=20000, height=20000) -> bytes:
    """A small PNG whose header claims width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def good_folder(root: Path, n=6, size=(16, 16), mode="RGB") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"good{i}.png").write_bytes(png_bytes(size, mode, seed=i))
    return root


def train_on(path: Path, tmp: Path, *extra: str, model="mlp") -> list[str]:
    rest = IMAGES if model == "dcgan" else ["--model", model, *TINY]
    return ["train", "--data", str(path), *rest, *extra, "--out", str(tmp / "run")]


def npy(tmp: Path, array, name="x.npy", **kw) -> Path:
    np.save(tmp / name, array, **kw)
    return tmp / name


def points(n=64, d=2) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)


# --- arrays ----------------------------------------------------------------------------------------
def _array_case(kind, array, expect, says="", name="x.npy", **kw):
    case("arrays", kind, expect, says)(lambda tmp: train_on(npy(tmp, array, name, **kw), tmp))


_nan, _inf = points(), points()
_nan[3, 1], _inf[5, 0] = np.nan, np.inf
_array_case("NaN values", _nan, "error", "NaN")
_array_case("infinite values", _inf, "error", "infinite")
_array_case("integer dtype points", np.arange(128).reshape(64, 2), "ok")
_array_case("boolean dtype", np.random.default_rng(0).random((64, 2)) > 0.5, "ok")
_array_case("float16 dtype", points().astype(np.float16), "ok")
_array_case("a single sample", points(1), "ok")
_array_case("empty array", np.zeros((0, 2)), "error", "no samples")
_array_case("0-d scalar", np.array(3.0), "error", "no samples")
_array_case("1-d vector", np.arange(10.0), "error", "neither points nor images")
_array_case("rank 5", np.zeros((2, 1, 2, 4, 4)), "error", "neither points nor images")
_array_case("2-channel images", np.zeros((4, 2, 8, 8), np.float32), "error", "channels")
_array_case("images out of range", np.full((4, 8, 8), 1000.0, np.float32), "error", "span")
_array_case("complex dtype", points().astype(np.complex64), "error", "not numeric")
_array_case("string dtype", np.array([["a", "b"]] * 4), "error", "not numeric")
_array_case("structured dtype", np.zeros(4, dtype=[("a", "f4"), ("b", "f4")]), "error", "not numeric")
_array_case(
    "object dtype (a pickle)", np.array([{"a": 1}], dtype=object), "error", "pickle", allow_pickle=True
)


@case("arrays", "a pickle named .npy", "error", "x.npy")
def _pickle_npy(tmp):
    (tmp / "x.npy").write_bytes(pickle.dumps({"x": [1, 2]}))
    return train_on(tmp / "x.npy", tmp)


@case("arrays", "zero-byte .npy", "error", "x.npy")
def _empty_npy(tmp):
    (tmp / "x.npy").write_bytes(b"")
    return train_on(tmp / "x.npy", tmp)


@case("arrays", "truncated .npy", "error", "x.npy")
def _truncated_npy(tmp):
    path = npy(tmp, points(1000))
    path.write_bytes(path.read_bytes()[:300])
    return train_on(path, tmp)


@case("arrays", "garbage .npz", "error", "x.npz")
def _garbage_npz(tmp):
    (tmp / "x.npz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    return train_on(tmp / "x.npz", tmp)


@case("arrays", "object array inside .npz", "error", "x.npz")
def _pickle_npz(tmp):
    np.savez(tmp / "x.npz", x=np.array([{"a": 1}, {"b": 2}], dtype=object))
    return train_on(tmp / "x.npz", tmp)


@case("arrays", ".npz without a data array", "error", "name the data array")
def _npz_no_x(tmp):
    np.savez(tmp / "x.npz", a=points(), b=points())
    return train_on(tmp / "x.npz", tmp)


@case("arrays", "empty .npz", "error", "x.npz")
def _npz_empty(tmp):
    np.savez(tmp / "x.npz")
    return train_on(tmp / "x.npz", tmp)


@case("arrays", ".npz labels of the wrong length", "error", "labels")
def _npz_labels_len(tmp):
    np.savez(tmp / "x.npz", x=points(), y=np.arange(3))
    return train_on(tmp / "x.npz", tmp)


@case("arrays", ".npz negative labels", "error", "negative labels")
def _npz_labels_neg(tmp):
    np.savez(tmp / "x.npz", x=points(), y=-np.ones(64, np.int64))
    return train_on(tmp / "x.npz", tmp)


@case("arrays", ".npz float labels", "error", "labels")
def _npz_labels_float(tmp):
    np.savez(tmp / "x.npz", x=points(), y=np.zeros(64))
    return train_on(tmp / "x.npz", tmp)


@case("arrays", "an unsupported file type", "error", "unsupported")
def _txt(tmp):
    (tmp / "x.txt").write_text("1,2\n3,4\n")
    return train_on(tmp / "x.txt", tmp)


@case("arrays", "a data path that does not exist", "error", "not found")
def _missing(tmp):
    return train_on(tmp / "nowhere.npy", tmp)


# --- image folders ---------------------------------------------------------------------------------
def _folder_case(kind, expect, says="", **folder):
    def register(add):
        def make(tmp):
            root = good_folder(tmp / "imgs", **folder) if folder.get("n", 1) else tmp / "imgs"
            root.mkdir(parents=True, exist_ok=True)
            add(root)
            return train_on(root, tmp, model="dcgan")

        case("images", kind, expect, says)(make)
        return add

    return register


@_folder_case("a zero-byte image among good ones", "ok")
def _(root):
    (root / "empty.png").write_bytes(b"")


@_folder_case("a truncated image among good ones", "ok")
def _(root):
    (root / "cut.png").write_bytes(png_bytes(seed=9)[:60])


@_folder_case("garbage after a valid PNG signature", "ok")
def _(root):
    (root / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)


@_folder_case("garbage after a valid header, alone", "error", "none of the", n=0)
def _(root):
    (root / "garbage.png").write_bytes(png_bytes()[:33] + bytes(range(256)) * 8)


@_folder_case("a CMYK JPEG", "ok")
def _(root):
    (root / "cmyk.jpg").write_bytes(png_bytes(mode="CMYK", format="JPEG"))


@_folder_case("16-bit grayscale PNGs", "ok", n=0)
def _(root):
    for i in range(4):
        (root / f"deep{i}.png").write_bytes(png_bytes(mode="I;16", seed=i))


@_folder_case("a palette PNG", "ok")
def _(root):
    (root / "palette.png").write_bytes(png_bytes(mode="P"))


@_folder_case("a PNG with alpha", "ok")
def _(root):
    (root / "alpha.png").write_bytes(png_bytes(mode="RGBA"))


@_folder_case("a 1-bit image", "ok")
def _(root):
    (root / "bits.png").write_bytes(png_bytes(mode="1"))


@_folder_case("grayscale and colour mixed", "ok")
def _(root):
    (root / "gray.png").write_bytes(png_bytes(mode="L"))


@_folder_case("an animated GIF alone", "ok", n=0)
def _(root):
    from PIL import Image

    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)


@_folder_case("a decompression bomb among good ones", "ok")
def _(root):
    (root / "bomb.png").write_bytes(bomb_png())


@_folder_case("a decompression bomb alone", "error", "none of the", n=0)
def _(root):
    (root / "bomb.png").write_bytes(bomb_png())


@_folder_case("images of mixed sizes", "ok")
def _(root):
    (root / "wide.png").write_bytes(png_bytes((40, 17)))
    (root / "tiny.png").write_bytes(png_bytes((1, 1)))


@_folder_case("non-image files beside the images", "ok")
def _(root):
    (root / "notes.txt").write_text("hello")
    (root / ".DS_Store").write_bytes(b"\0\1\2")
    (root / "data.csv").write_text("a,b\n1,2\n")


@_folder_case("a directory named like an image", "ok")
def _(root):
    (root / "folder.png").mkdir()


@_folder_case("a broken symlink named like an image", "ok")
def _(root):
    (root / "dangling.png").symlink_to(root / "nowhere.png")


@_folder_case("a symlink loop", "ok")
def _(root):
    (root / "loop").symlink_to(root, target_is_directory=True)


@_folder_case("an empty folder", "error", "no images", n=0)
def _(root):
    pass


@_folder_case("only non-image files", "error", "no images", n=0)
def _(root):
    (root / "readme.md").write_text("# nothing here")


# --- config files and --set ------------------------------------------------------------------------
def _yaml_case(kind, text, expect, says=""):
    def make(tmp):
        (tmp / "c.yaml").write_text(text)
        return [
            *f"train --config {tmp}/c.yaml --data ring8 --model mlp".split(),
            *TINY,
            "--out",
            f"{tmp}/run",
        ]

    case("config", kind, expect, says)(make)


_yaml_case("YAML that is a list", "- a\n- b\n", "error", "c.yaml")
_yaml_case("YAML syntax error", "train: {steps: [1, 2\n", "error", "c.yaml")
_yaml_case("an unknown section", "trian:\n  steps: 3\n", "error", "trian")
_yaml_case("an unknown key", "train:\n  stpes: 3\n", "error", "stpes")
_yaml_case("a section that is a scalar", "train: 5\n", "error", "train")
_yaml_case("a wrong type", "optim:\n  lr_g: fast\n", "error", "lr_g")
_yaml_case("deep nesting", "model:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(60)), "error", "k0")
_yaml_case("a Python object tag", "train: !!python/object/apply:os.system ['true']\n", "error", "c.yaml")
_yaml_case("an empty file", "", "ok")
_yaml_case("binary garbage", "\x00\x01\x02\x03\xff", "error", "c.yaml")


@case("config", "a config file that does not exist", "error", "not found")
def _no_config(tmp):
    return ["train", "--config", str(tmp / "nope.yaml"), "--data", "ring8", *TINY, "--out", str(tmp / "r")]


def _set_case(kind, setting, expect, says=""):
    case("config", kind, expect, says)(
        lambda tmp: [
            "train",
            "--data",
            "ring8",
            "--model",
            "mlp",
            *TINY,
            "--set",
            setting,
            "--out",
            f"{tmp}/run",
        ]
    )


_set_case("--set without '='", "train.steps", "error", "train.steps")
_set_case("--set of an unknown key", "train.stpes=3", "error", "stpes")
_set_case("--set of a whole section", "train=3", "error", "train")
_set_case("--set of a wrong type", "train.batch_size=many", "error", "batch_size")
_set_case("--set of NaN", "optim.lr_g=nan", "error", "learning rates")
_set_case("--set of infinity", "optim.lr_d=inf", "error", "learning rates must be finite")
_set_case("--set of a negative learning rate", "optim.lr_g=-0.1", "error", "learning rates must be > 0")
_set_case("--set of a zero batch size", "train.batch_size=0", "error", "batch_size")
_set_case("--set of a huge network", "model.width=2000000000", "error", "do not fit")
_set_case("--set of a huge step count", "train.log_every=99999999999999999999999", "ok")
_set_case("--set of an unknown family option", "model.depthh=3", "error", "depthh")


# the cases of commands, saved models, run directories and tables (registered on import)
import bad_input_cases_more  # noqa: E402, F401
