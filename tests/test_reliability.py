"""A fast, seeded subset of benchmarks/reliability.py: runs SIGKILLed at the riskiest moments resume
to the bit-identical end of an uninterrupted run (the long version writes docs/reliability.md)."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reliability():
    spec = importlib.util.spec_from_file_location("reliability", ROOT / "benchmarks" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def references(reliability, tmp_path_factory):
    """Each subject's uninterrupted run (and its data folder), made once."""
    made = {}

    def reference(subject):
        if subject not in made:
            where = tmp_path_factory.mktemp(subject.split()[0])
            made[subject] = where, reliability.reference_run(where, subject)
        return made[subject]

    return reference


# (subject, moment, occurrence): half-way through the second checkpoint, between the two renames of
# an export swap, inside a stats.jsonl line, in a training step at a seeded random step; SRGAN in its
# second (adversarial) stage, CycleGAN's four networks half-way through a checkpoint; after the last
# checkpoint, before its export is whole (the resume redoes the export, then the report)
rng = random.Random(15)
TRIALS = [("ring8 mlp", "checkpoint write", 2), ("ring8 mlp", "export swap", 2),
          ("ring8 mlp", "manifest write", 5), ("ring8 mlp", "export swap", 4),
          ("ring8 mlp", "stats.jsonl line", 3), ("ring8 mlp", "training step", rng.randint(1, 40)),
          ("srgan (2 stages)", "training step", 17),
          ("cyclegan (4 networks)", "checkpoint write", 3)]  # fmt: skip


@pytest.mark.parametrize("subject, moment, nth", TRIALS)
def test_a_run_killed_at_a_bad_moment_resumes_bit_identically(reliability, references, subject, moment, nth):
    where, reference = references(subject)
    assert reliability.trial(moment, nth, 0.5, reference, where, subject=subject) == "identical"
