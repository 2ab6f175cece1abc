"""Shared by the benchmark commands: the machine line and appending a section to docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    isa = torch.backends.cpu.get_cpu_capability()
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (
        f"Machine: {cpu_model()} ({platform.machine()}, torch CPU capability {isa}"
        + (f", ONEDNN_MAX_CPU_ISA={cap}" if cap else "")
        + f"), {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )


def publish(text: str, write: bool = True) -> None:
    """Print a section and append it to docs/benchmarks.md."""
    print(text)
    if write:
        if not BENCHMARKS_MD.exists():
            BENCHMARKS_MD.write_text("# Benchmarks\n\nEach section is written by the command it names.\n")
        with BENCHMARKS_MD.open("a") as f:
            f.write(text)
