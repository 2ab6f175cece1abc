"""Every bad input ends in correct output or one line with exit code 2 — never a traceback.

The catalogue (tests/bad_input_cases.py) holds one case per kind of bad input, run through the
command a user would type; the hypothesis tests below throw generated values at each surface's parser
(derandomized: the same examples every run, so CI stays fast and failures reproduce).
"""

import json
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from bad_input_cases import CASES, outcome, png_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gankit.config import Config, DataConfig, apply_overrides
from gankit.errors import GankitError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_the_catalogue_holds_fifty_kinds_of_bad_input():
    kinds = {(c.surface, c.kind) for c in CASES}
    assert len(kinds) == len(CASES) and len(kinds) >= 50
    assert {c.surface for c in CASES} >= {"arrays", "images", "config", "cli", "models", "runs", "tables"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.surface}: {c.kind}" for c in CASES])
def test_bad_input(case, tmp_path):
    got, detail = outcome(case, tmp_path)
    assert got == case.expect, detail
    assert case.says in detail, detail


def one_line(e: GankitError) -> bool:
    return "\n" not in str(e) and bool(str(e).strip())


# --- config values ---------------------------------------------------------------------------------
SECTIONS = Config().to_dict()
KEYS = [f"{s}.{k}" for s, d in SECTIONS.items() for k in d] + ["train", "x.y", "model.nosuch", ""]
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308]),
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = sorted({k for d in SECTIONS.values() for k in d}) + ["nosuch"]
CONFIGS = st.dictionaries(  # sections of fields (any section's), or a section that is not a mapping
    st.sampled_from([*SECTIONS, "nosuch"]),
    st.one_of(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4), VALUES),
    max_size=3,
)


@pytest.fixture(scope="module")
def ring8():
    from gankit.data import load_data

    return load_data(DataConfig(name="ring8"))


@FUZZ
@given(CONFIGS)
def test_any_config_values_are_accepted_or_refused_in_one_line(ring8, sections):
    from gankit.api import make_config
    from gankit.training.setup import resolve_config

    try:
        cfg = make_config(sections)
        if isinstance(cfg.train.batch_size, str):
            return  # "auto" measures memory: a slow path with tests of its own
        cfg.model.name, cfg.data.name = "mlp", "ring8"
        resolve_config(cfg, ring8)
    except GankitError as e:
        assert one_line(e)


@FUZZ
@given(st.sampled_from(KEYS), st.text(string.printable, max_size=20))
def test_any_set_string_is_accepted_or_refused_in_one_line(key, value):
    try:
        apply_overrides(Config(), [f"{key}={value}"])
    except GankitError as e:
        assert one_line(e)


@FUZZ
@given(st.text(max_size=200))
def test_any_yaml_text_is_read_or_refused_in_one_line(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, errors="surrogatepass")
    try:
        Config.load_yaml(path)
    except GankitError as e:
        assert one_line(e)


# --- arrays ----------------------------------------------------------------------------------------
DTYPES = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.boolean_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.datetime64_dtypes(),
    hnp.byte_string_dtypes(max_len=3),
)


@FUZZ
@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)))
def test_any_array_loads_or_is_refused_in_one_line(tmp_path, array):
    from gankit.data.files import load_array

    try:
        data = load_array(tmp_path / "x.npy", array, None, DataConfig(name="x.npy", resolution=8))
    except GankitError as e:
        assert one_line(e)
        return
    assert len(data) == len(array) and torch.isfinite(data.all_x).all()


# --- image files -----------------------------------------------------------------------------------
GOOD = png_bytes((12, 10), seed=1)


@FUZZ
@given(st.data())
def test_any_damaged_image_is_skipped_by_name(tmp_path_factory, data):
    """A good image's bytes, cut, overwritten or extended anywhere: the folder trains on the good ones
    and names the bad one, or reads it (some damage leaves a readable image)."""
    from gankit.data.files import load_image_folder

    blob = bytearray(GOOD)
    cut = data.draw(st.integers(0, len(blob)))
    spots = data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)), max_size=4))
    for i, v in spots:
        blob[i] = v
    blob = blob[:cut] + data.draw(st.binary(max_size=64))
    root = tmp_path_factory.mktemp("imgs")
    for i in range(2):
        (root / f"good{i}.png").write_bytes(png_bytes(seed=i))
    (root / "odd.png").write_bytes(bytes(blob))
    loaded = load_image_folder(root, DataConfig(name=str(root), resolution=8))
    skipped = loaded.info.get("skipped", [])
    assert len(loaded) + len(skipped) == 3 and all(s.startswith("odd.png") for s in skipped)
    assert torch.isfinite(loaded.all_x).all()


# --- tables ----------------------------------------------------------------------------------------
CELLS = st.one_of(
    st.integers(-5, 5).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["", "NA", "nan", "2024-01-05", "x", "é", '"', "1e400", "True"]),
)


@FUZZ
@given(
    st.lists(st.text(max_size=4), min_size=1, max_size=4), st.lists(st.lists(CELLS, max_size=5), max_size=6)
)
def test_any_csv_is_read_and_encoded_or_refused_in_one_line(tmp_path, header, rows):
    from gankit.tabular.cli import read_table
    from gankit.tabular.transformer import DataTransformer

    path = tmp_path / "t.csv"
    lines = [",".join(json.dumps(h) for h in header)] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", errors="surrogatepass")
    try:
        df = read_table(path)
        encoded = DataTransformer().fit(df).transform(df)
    except GankitError as e:
        assert one_line(e)
        return
    assert np.isfinite(encoded).all()  # what the networks train on


# --- checkpoints -----------------------------------------------------------------------------------
FIXTURE_CKPT = Path(__file__).parent / "fixtures" / "release-0.1.0" / "mlp-ring8" / "checkpoints"


@FUZZ
@given(st.data())
def test_any_damaged_checkpoint_is_loaded_or_refused_in_one_line(tmp_path_factory, data):
    from gankit.training.checkpoint import load_latest_good

    blob = bytearray((FIXTURE_CKPT / "ckpt-0000010.pt").read_bytes())
    cut = data.draw(st.integers(0, len(blob)))
    for i in data.draw(st.lists(st.integers(0, len(blob) - 1), max_size=3)):
        blob[i] ^= 0xFF
    run = tmp_path_factory.mktemp("run")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "ckpt-0000010.pt").write_bytes(bytes(blob[:cut]))
    try:
        state = load_latest_good(run, torch.device("cpu"))
    except GankitError as e:
        assert one_line(e) and "can be loaded" in str(e)
        return
    assert state["step"] == 10
