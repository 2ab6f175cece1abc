"""Shared by the benchmark commands: the machine line and appending a section to docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from gankit.machine import one_line

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    return f"Machine: {one_line()}"


def publish(text: str, write: bool = True) -> None:
    """Print a section and append it to docs/benchmarks.md."""
    print(text)
    if write:
        if not BENCHMARKS_MD.exists():
            BENCHMARKS_MD.write_text("# Benchmarks\n\nEach section is written by the command it names.\n")
        with BENCHMARKS_MD.open("a") as f:
            f.write(text)
