"""How far through its run a step is: what every schedule over the run follows.

Without a time budget this is ``step / train.steps``. A budgeted run (``--minutes``) may change its
length while it runs (training/budget.py re-plans when the machine turns out faster or slower than
measured); the fraction is then piecewise linear through the points where the length changed, so
the learning rate and the annealings keep decaying smoothly to their end at the new last step.
"""

from __future__ import annotations

import math
from typing import Any

from gankit.config import Config
from gankit.errors import GankitError


class Progress:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.anchors: list[tuple[int, float]] = []  # (step, fraction) where the length changed

    def __call__(self, step: int) -> float:
        n = self.cfg.train.steps
        if not self.anchors:
            return step / n
        s0, p0 = next(((s, p) for s, p in reversed(self.anchors) if s <= step), (0, 0.0))
        return p0 + (1.0 - p0) * min(1.0, (step - s0) / max(1, n - s0))

    def change_length(self, step: int, steps: int) -> None:
        """The run now ends at ``steps``: the fraction continues from where it is at ``step``."""
        self.anchors.append((step, min(1.0, self(step))))
        self.cfg.train.steps = steps

    def state_dict(self) -> dict[str, Any]:
        return {"anchors": [list(a) for a in self.anchors], "steps": self.cfg.train.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.anchors = [(int(s), float(p)) for s, p in state.get("anchors", [])]
        if self.anchors:  # the length the run had when it was saved
            self.cfg.train.steps = int(state["steps"])


def lr_factor(schedule: str, steps: int, progress: Progress | None = None):
    """LambdaLR factor over generator steps: constant, linear decay to 0, or cosine to 0. With
    ``progress``, the length is read at each step (it may change under a time budget)."""

    def length() -> int:
        return progress.cfg.train.steps if progress is not None else steps

    def fraction(s: int) -> float | None:  # None: the run never changed length
        return progress(s) if progress is not None and progress.anchors else None

    def linear(s: int) -> float:
        p = fraction(s)
        return max(0.0, 1.0 - s / length()) if p is None else max(0.0, 1.0 - p)

    def cosine(s: int) -> float:
        p = fraction(s)
        if p is None:  # the same float operations as before budgets existed
            n = length()
            return 0.5 * (1 + math.cos(math.pi * min(s, n) / n))
        return 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    schedules = {"constant": lambda s: 1.0, "linear": linear, "cosine": cosine}
    if schedule not in schedules:
        raise GankitError(f"unknown schedule '{schedule}'", "use constant, linear or cosine")
    return schedules[schedule]
