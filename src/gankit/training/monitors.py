"""Watching a run: warnings for mode collapse and instability, an event log, rollback records.

Each check looks at the numbers the loop already has at a tick (no extra passes over data):

* ``discriminator_wins``: D(x) -> 1 and D(G(z)) -> 0 for ``collapse_ticks`` ticks in a row: the
  generator gets no useful gradient (Arjovsky & Bottou 2017) — often the start of collapse.
* ``low_diversity``: the fixed-latent sample grid's mean pairwise distance falls below a third of
  the real data's, or to under half of its own best: the generator maps many latents to few outputs
  (judged after the first fifth of the run: early samples are naturally alike).
* ``class_collapse``: the classifier labels over half the samples with one class, or finds fewer
  than half the classes (from the in-training evaluation, when a classifier exists).
* ``exploding_gradients``: a network's gradient norm jumps above 20x the largest it had in the last
  ``GRAD_WINDOW`` ticks. A window, not the whole run: norms that grow slowly as the discriminator
  sharpens (toy runs grow ~50x over 36,000 steps) are healthy and must not warn. The largest, not
  the median: when the game engages after a quiet start, G's norm climbs ~30x over a few ticks
  (grid25, steps 2,600-3,400), which a median of the quiet ticks would call an explosion.
* ``oscillation``: loss/G swings direction at most ticks with amplitude comparable to its size.

A warning is logged once when it starts (and again if it stops and comes back), to the progress
bar, to ``events.jsonl`` and to the stats record of that tick; the report lists them.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.training.stats import JsonlWriter

log = logging.getLogger(__name__)

GRAD_WINDOW = 20  # ticks of gradient-norm history an explosion is judged against


def mean_pairwise_distance(x: Tensor, max_n: int = 256) -> float:
    """Mean Euclidean distance between distinct pairs of samples (flattened)."""
    x = x[:max_n].detach().float().flatten(1).cpu()
    n = len(x)
    if n < 2:
        return 0.0
    d = torch.cdist(x, x)
    return float(d.sum() / (n * (n - 1)))


class EventLog:
    """``events.jsonl``: warnings, rollbacks and best-model saves, one JSON object per line."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, step: int, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"step": step, "event": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        return record

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def truncate_after(self, step: int) -> None:
        """On resume: drop the events after the checkpoint's step (the resumed run meets them again)
        and a line a kill cut short; a rollback stays, whatever its step — it happened, and the
        checkpoint already holds its lowered learning rates, so it will not be met again."""
        JsonlWriter(self.path).truncate_after(step, always=_is_rollback)


def _is_rollback(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:  # torn by a kill
        return False
    return isinstance(record, dict) and record.get("event") == "rollback"


class Monitor:
    """Turns tick values into warnings; ``check`` returns the warnings that started at this tick."""

    def __init__(self, probabilistic: bool, real_diversity: float, collapse_ticks: int = 5):
        self.probabilistic = probabilistic
        self.real_diversity = real_diversity
        self.collapse_ticks = collapse_ticks
        self.active: set[str] = set()
        self._d_wins = 0
        self._best_diversity = 0.0
        self._grad_norms: dict[str, deque[float]] = {}
        self._loss_g: deque[float] = deque(maxlen=9)

    def state_dict(self) -> dict[str, Any]:
        """Plain values, so a resumed run warns exactly as the uninterrupted one would."""
        return {
            "active": sorted(self.active),
            "d_wins": self._d_wins,
            "best_diversity": self._best_diversity,
            "grad_norms": {k: list(v) for k, v in self._grad_norms.items()},
            "loss_g": list(self._loss_g),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.active = set(state["active"])
        self._d_wins, self._best_diversity = int(state["d_wins"]), float(state["best_diversity"])
        self._grad_norms = {k: deque(v, maxlen=GRAD_WINDOW) for k, v in state["grad_norms"].items()}
        self._loss_g = deque(state["loss_g"], maxlen=self._loss_g.maxlen)

    def check(self, values: dict[str, float], diversity: float | None = None, eval_results=None) -> list[str]:
        now: dict[str, str] = {}
        # the discriminator wins outright, tick after tick
        if self.probabilistic and "D(x)" in values and "D(G(z))" in values:
            wins = values["D(x)"] > 0.99 and values["D(G(z))"] < 0.01
            self._d_wins = self._d_wins + 1 if wins else 0
            if self._d_wins >= self.collapse_ticks:
                now["discriminator_wins"] = (
                    f"D(x)={values['D(x)']:.3f}, D(G(z))={values['D(G(z))']:.3f} for {self._d_wins} ticks: "
                    "G gets little gradient (try --lr-d lower, label smoothing, or R1)"
                )
        if diversity is not None:
            self._best_diversity = max(self._best_diversity, diversity)
            if self.real_diversity > 0 and diversity < self.real_diversity / 3:
                now["low_diversity"] = (
                    f"the sample grid's diversity is {diversity / self.real_diversity:.0%} of the real "
                    "data's: possible mode collapse"
                )
            elif diversity < self._best_diversity / 2:
                now["low_diversity"] = (
                    f"sample diversity fell to {diversity:.3g} from {self._best_diversity:.3g}: "
                    "possible mode collapse"
                )
        for name, value in values.items():
            if name.startswith("grad_norm/"):
                history = self._grad_norms.setdefault(name, deque(maxlen=GRAD_WINDOW))
                if len(history) >= 3 and value > 20 * max(history):
                    now["exploding_gradients"] = (
                        f"{name} is {value:.3g}, over 20x its recent largest {max(history):.3g}"
                    )
                history.append(value)
        if "loss/G" in values:
            self._loss_g.append(values["loss/G"])
            if len(self._loss_g) == self._loss_g.maxlen:
                seq = list(self._loss_g)
                diffs = [b - a for a, b in zip(seq, seq[1:], strict=False)]
                flips = sum(1 for a, b in zip(diffs, diffs[1:], strict=False) if a * b < 0)
                swing = statistics.pstdev(seq)
                if flips >= len(diffs) - 2 and swing > 0.5 * abs(statistics.fmean(seq)) + 1e-8:
                    now["oscillation"] = f"loss/G oscillates (std {swing:.3g} over {len(seq)} ticks)"
        if eval_results:
            for result in eval_results.values():
                shares = result.get("class_shares") if isinstance(result, dict) else None
                if shares:
                    k = len(shares)
                    present = sum(1 for s in shares if s > 0.5 / k)
                    if max(shares) > 0.5 or present < k / 2:
                        now["class_collapse"] = (
                            f"the classifier finds {present}/{k} classes, the largest at {max(shares):.0%}"
                        )
        started = [f"{name}: {msg}" for name, msg in now.items() if name not in self.active]
        # class_collapse and low_diversity are only re-judged when their inputs arrive
        keep = {"class_collapse"} if not eval_results else set()
        if diversity is None:
            keep.add("low_diversity")
        self.active = set(now) | (self.active & keep)
        for message in started:
            log.warning("monitor: %s", message)
        return started


def grad_norm(params) -> Tensor:
    """Total L2 norm of the gradients (a device tensor: no host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
