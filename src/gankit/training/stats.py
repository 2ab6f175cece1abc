"""Named training statistics: reported from anywhere, reduced and written once per tick.

``report`` keeps running sums as device tensors, so nothing forces a host sync inside a step;
``flush`` turns them into floats with one transfer at each tick.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from gankit import durable


class Stats:
    def __init__(self) -> None:
        self._sum: dict[str, Tensor] = {}
        self._count: dict[str, int] = {}

    def report(self, name: str, value: Tensor | float) -> None:
        v = value.detach().float().mean() if isinstance(value, Tensor) else torch.tensor(float(value))
        self._sum[name] = self._sum[name] + v if name in self._sum else v
        self._count[name] = self._count.get(name, 0) + 1

    def flush(self) -> dict[str, float]:
        """Means since the last flush (one device->host copy for all of them)."""
        if not self._sum:
            return {}
        names = list(self._sum)
        sums = torch.stack([self._sum[n].to(torch.float32).cpu() for n in names]).tolist()
        out = {n: s / self._count[n] for n, s in zip(names, sums, strict=True)}
        self._sum.clear()
        self._count.clear()
        return out

    def state_dict(self) -> dict[str, list[float]]:
        """Pending sums, so a checkpoint taken between ticks resumes to identical stats."""
        return {n: [float(self._sum[n].item()), float(self._count[n])] for n in self._sum}

    def load_state_dict(self, state: dict[str, list[float]], device: torch.device) -> None:
        self._sum = {n: torch.tensor(s, dtype=torch.float32, device=device) for n, (s, _) in state.items()}
        self._count = {n: int(c) for n, (_, c) in state.items()}


def all_finite(values: dict[str, float]) -> str | None:
    """The first stat that is NaN or infinite, or None."""
    return next((k for k, v in values.items() if not math.isfinite(v)), None)


def _step_of(line: str) -> float:
    """The step of a stats line; a torn or foreign line counts as after every step (dropped)."""
    try:
        record = json.loads(line)
        return float(record["step"]) if isinstance(record, dict) else math.inf
    except (ValueError, KeyError, TypeError):
        return math.inf


class JsonlWriter:
    """Appends one JSON object per line; on resume, drops lines written after the checkpoint."""

    def __init__(self, path: Path):
        self.path = path

    def truncate_after(self, step: int, always: Callable[[str], bool] = lambda line: False) -> None:
        """Keep the lines up to ``step`` (a resume writes the later ones again), and those ``always``
        keeps. A line a kill cut short is dropped; the file is replaced whole, so a kill now loses
        nothing."""
        if not self.path.exists():
            return
        lines = self.path.read_text().splitlines()
        keep = [line for line in lines if _step_of(line) <= step or (line.strip() and always(line))]
        durable.write_text(self.path, "".join(line + "\n" for line in keep), sync=False)

    def write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
