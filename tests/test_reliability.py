"""A fast, seeded subset of benchmarks/reliability.py: runs SIGKILLed at the riskiest moments resume
to the bit-identical end of an uninterrupted run (the long version writes docs/reliability.md)."""

import importlib.util
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reliability():
    spec = importlib.util.spec_from_file_location("reliability", ROOT / "benchmarks" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference(reliability, tmp_path_factory):
    return reliability.reference_run(tmp_path_factory.mktemp("reference"))


# (moment, occurrence): half-way through the second checkpoint, between the two renames of an export
# swap, inside a stats.jsonl line, and in a training step at a seeded random step
rng = random.Random(15)
TRIALS = [("checkpoint write", 2), ("export swap", 2), ("stats.jsonl line", 3),
          ("training step", rng.randint(1, 40))]  # fmt: skip


@pytest.mark.parametrize("moment, nth", TRIALS)
def test_a_run_killed_at_a_bad_moment_resumes_bit_identically(reliability, reference, moment, nth, tmp_path):
    assert reliability.trial(moment, nth, 0.5, reference, tmp_path) == "identical"
