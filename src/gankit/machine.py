"""What machine a run or a benchmark ran on: CPU model, the instruction set oneDNN picked, threads.

Timings mean little without it: the same convolutional step runs 3-4x slower on an AVX2-only CPU
than on one with AVX-512, and ``ONEDNN_MAX_CPU_ISA`` can cap the set oneDNN uses.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@functools.lru_cache(maxsize=1)
def onednn_isa() -> str:
    """The ISA oneDNN dispatches to here, read from its verbose line around one tiny convolution
    (``"unknown"`` where oneDNN is absent or prints nothing)."""
    if not torch.backends.mkldnn.is_available():
        return "unknown (no oneDNN)"
    x = torch.randn(2, 16, 16, 16).to(memory_format=torch.channels_last)  # large enough for oneDNN
    w = torch.randn(16, 16, 3, 3).to(memory_format=torch.channels_last)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(1)
        try:
            os.dup2(sink.fileno(), 1)
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                torch.nn.functional.conv2d(x, w)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode(errors="replace")
    found = re.search(r"cpu,isa:([^\n]+)", text)
    return found.group(1).strip() if found else "unknown"


def describe(device: torch.device | str | None = None) -> dict[str, Any]:
    """The machine as a record (run directories keep it as machine.json)."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_isa": onednn_isa(),
    }
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        info["ONEDNN_MAX_CPU_ISA"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    if device is not None and torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def one_line(info: dict[str, Any] | None = None) -> str:
    """``AMD EPYC (x86_64, oneDNN ISA ..., ONEDNN_MAX_CPU_ISA=AVX2), 2 cores, torch 2.13.0, 2 threads``"""
    i = describe() if info is None else info
    cap = f", ONEDNN_MAX_CPU_ISA={i['ONEDNN_MAX_CPU_ISA']}" if i.get("ONEDNN_MAX_CPU_ISA") else ""
    gpu = f", GPU {i['gpu']}" if i.get("gpu") else ""
    return (
        f"{i['cpu']} ({i['arch']}, torch CPU capability {i['torch_cpu_capability']}, oneDNN ISA "
        f"{i['onednn_isa']}{cap}){gpu}, {i['cores']} cores, torch {i['torch']}, {i['threads']} threads"
    )
