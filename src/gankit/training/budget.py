"""A wall-clock budget for a run (``--minutes``): measure this machine, then plan a step count.

A run under a budget is planned once, before its first step: a throwaway copy of the run (same
networks, data, phases and precision, in a temporary directory) times a few training steps and one
of each piece of bookkeeping the run will do (a preview grid, an evaluation, a checkpoint with its
export); the plan is the largest step count whose steps and bookkeeping fit the budget, capped by
``train.steps``. The run is then exactly the run ``--steps N`` would make: every schedule (learning
rate, instance-noise annealing, sample/eval/checkpoint cadence, a family's stages) follows the
planned length, so a short budget is a complete run rather than a truncated long one, and the run
stays bit-reproducible from its seed, its checkpoints and its recorded step count. Timing during
the run would make the run depend on the machine's load; a plan made once does not.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.config import Config, copy_config
from gankit.errors import GankitError
from gankit.training import distributed

# The first iterations allocate buffers and pick kernels: time the ones after them.
_WARMUP_STEPS = 2
_MIN_TIMED_STEPS = 4


@dataclass
class Plan:
    minutes: float
    steps: int  # the planned step count (what `--steps` reproduces)
    cap: int  # train.steps before planning: the plan never exceeds it
    start_step: int  # 0 for a fresh run; the resumed step when a resume is given new --minutes
    step_s: float  # measured seconds per training step
    overhead_s: float  # planned bookkeeping: grids, evaluations, checkpoints and exports
    calibration_s: float  # the measurement itself (counted against the budget)
    timing: dict[str, float] = field(default_factory=dict)  # seconds: step, export, preview, eval, save
    replans: list[list[int]] = field(default_factory=list)  # [step, new length] while it ran

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_steps(
    user_cfg: Config,
    resolve,
    data,
    minutes: float,
    state: dict[str, Any] | None = None,
    started: float | None = None,
    resolved: Config | None = None,
) -> tuple[Config, Plan]:
    """The resolved config of a run that fits ``minutes``, and its plan.

    ``resolve(cfg)`` resolves a config as the run would (so the planned run is `--steps N` exactly);
    ``state`` is the checkpoint being resumed (the budget then covers the steps after it); ``started``
    is when the clock started (``time.perf_counter()``), default now; ``resolved`` is ``user_cfg``
    already resolved, when the caller has it.
    """
    started = time.perf_counter() if started is None else started
    if not (minutes > 0 and math.isfinite(minutes)):
        raise GankitError(f"--minutes {minutes} is not a time budget", "give a positive number of minutes")
    cfg = resolved if resolved is not None else resolve(copy_config(user_cfg))
    # the lengths tried below re-resolve the config: a measured --batch-size auto is measured once
    user_cfg = copy_config(user_cfg)
    user_cfg.train.batch_size = cfg.train.batch_size
    cap, start = cfg.train.steps, int(state["step"]) if state is not None else 0
    timing = _measure(cfg, data, state, minutes)
    budget_s = minutes * 60 - elapsed_since(started)
    steps = start + max(0, _whole(budget_s / timing["step_s"]))
    for _ in range(3):  # the bookkeeping depends on the length (cadences follow it): settle it
        candidate = _with_steps(user_cfg, resolve, max(start + 1, min(steps, cap)))
        overhead = _overhead_s(candidate, timing, start)
        steps = start + max(0, _whole((budget_s - overhead) / timing["step_s"]))
    steps = distributed.from_main(lambda: min(steps, cap))  # every rank stops at rank 0's step
    if steps <= start:
        raise GankitError(
            f"--minutes {minutes:g} leaves no time to train: one step takes {timing['step_s']:.2f} s here "
            f"and bookkeeping {overhead:.0f} s",
            "give more --minutes, or make the model smaller (--set model.width=N)",
        )
    cfg = _with_steps(user_cfg, resolve, steps)
    plan = Plan(
        minutes=minutes, steps=steps, cap=cap, start_step=start, step_s=round(timing["step_s"], 6),
        overhead_s=round(_overhead_s(cfg, timing, start), 2), calibration_s=round(timing["total_s"], 2),
        timing={k: round(v, 6) for k, v in timing.items() if k != "total_s"},
    )  # fmt: skip
    cfg.train.minutes = minutes
    return cfg, plan


def _whole(steps: float) -> int:
    """The steps that fit, as a whole number (0.4 / 0.02 is 19.999999999999996 in floats)."""
    return math.floor(steps + 1e-6)


def _clock() -> float:
    return time.perf_counter()


def elapsed_since(since: float) -> float:
    return _clock() - since


class Budget:
    """A budgeted run's clock while it trains. The plan is a measurement of a few seconds; a shared or
    throttled machine can drift by 10-20% over a run, so at each tick after the first tenth of the
    session the loop asks :meth:`new_length`: when the pace of the recent steps (the last tenth of
    the session) says the run would end more than 2% away from its budget, it gets a new length
    (``Progress.change_length`` keeps the schedules continuous). Re-plans are recorded in
    budget.json and the checkpoints: a resume continues the remaining minutes with the length the
    checkpoint had."""

    CHECK_AFTER = 0.1  # of the session's steps: a pace measured over less is noise
    TOLERANCE = 0.02

    def __init__(self, plan: Plan, used_s: float) -> None:
        self.plan, self.used_before = plan, used_s
        self.begin(0)

    def begin(self, step: int) -> None:
        """A session starts training at ``step``."""
        self.t0, self.s0, self.bookkeeping_s = _clock(), step, 0.0
        self._marks: deque[tuple[int, float]] = deque([(step, 0.0)])  # (step, training seconds)

    def bookkeeping(self, work) -> None:
        """Run grids, evaluations or a checkpoint, kept out of the measured training pace."""
        t0 = _clock()
        work()
        self.bookkeeping_s += _clock() - t0

    def used_s(self) -> float:
        return self.used_before + _clock() - self.t0

    def new_length(self, cfg: Config, step: int) -> int | None:
        n, done = cfg.train.steps, step - self.s0
        window = max(10, self.CHECK_AFTER * (n - self.s0))
        if done < window or step >= n:
            return None
        # the pace of the last `window` steps, not of the whole session: a family whose later stage
        # costs more a step (SRGAN's GAN stage after its SRResNet stage) would otherwise be planned at
        # the cheap stage's pace long after it ended, and overrun its budget
        work = _clock() - self.t0 - self.bookkeeping_s
        self._marks.append((step, work))
        while len(self._marks) > 2 and step - self._marks[1][0] >= window:
            self._marks.popleft()
        first_step, first_work = self._marks[0]
        pace = (work - first_work) / (step - first_step)
        if pace <= 0:  # a clock that went backwards (suspended machine, changed time): keep the plan
            return None
        left = self.plan.minutes * 60 - self.used_s() - _overhead_s(cfg, self.plan.timing, step)
        new = min(self.plan.cap, step + max(1, _whole(left / pace)))
        return new if abs(new - n) > self.TOLERANCE * n else None

    def state_dict(self) -> dict[str, Any]:
        return {"used_s": self.used_s(), "replans": self.plan.replans}


def _with_steps(user_cfg: Config, resolve, steps: int) -> Config:
    cfg = copy_config(user_cfg)
    cfg.train.steps, cfg.train.epochs = steps, None
    return resolve(cfg)


def _event_steps(every: int, start: int, end: int) -> set[int]:
    """Steps in (start, end] at which a cadence of ``every`` fires (the last step always does)."""
    if every <= 0:
        return set()
    first = (start // every + 1) * every
    return {*range(first, end + 1, every), end}


def _overhead_s(cfg: Config, timing: dict[str, float], start: int) -> float:
    """Seconds of bookkeeping a run of ``cfg`` does after ``start``: each export built once a step."""
    t, end = cfg.train, cfg.train.steps
    previews = _event_steps(t.sample_every, start, end)
    evals = _event_steps(cfg.monitor.eval_every, start, end)
    saves = _event_steps(t.checkpoint_every, start, end)
    exports = previews | evals | saves
    return (
        (len(exports) + 3) * timing["export_s"]  # the final export recomputes its statistics over 4x more
        + len(previews) * timing["preview_s"]
        + len(evals) * timing["eval_s"]
        + len(saves) * timing["save_s"]
    )


def _measure(cfg: Config, data, state: dict[str, Any] | None, minutes: float) -> dict[str, float]:
    """Seconds per step and per piece of bookkeeping, from a throwaway copy of the run."""
    from gankit.training.loop import Trainer

    t0 = time.perf_counter()
    target = min(max(2.0, 0.02 * minutes * 60), 0.1 * minutes * 60)  # seconds of timed steps
    probe = copy_config(cfg)
    if distributed.world() > 1:
        probe.train.log_every = 1  # ranks agree on stopping at ticks: make every step one
    threads = torch.get_num_threads()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    try:
        with tempfile.TemporaryDirectory(prefix="gankit-plan-") as tmp:
            trainer = Trainer(probe, data, Path(tmp), progress=False)
            marks: list[float] = []

            def timed(step: int, stats) -> bool:
                marks.append(time.perf_counter())
                timed_s = marks[-1] - marks[min(_WARMUP_STEPS, len(marks) - 1)]
                return not (len(marks) > _WARMUP_STEPS + _MIN_TIMED_STEPS and timed_s >= target)

            trainer.checkpoint = lambda: None  # timed below, on its own
            trainer.observe = lambda: None
            trainer.run(copy.deepcopy(state), [timed])  # an optimiser's state loads by reference
            if len(marks) <= _WARMUP_STEPS + 1:  # the cap is tiny: time what there was
                step_s = (marks[-1] - t0) / max(1, len(marks)) if marks else 1.0
            else:
                step_s = (marks[-1] - marks[_WARMUP_STEPS]) / (len(marks) - 1 - _WARMUP_STEPS)
            costs = distributed.from_main(lambda: _bookkeeping(trainer))
    finally:
        torch.set_num_threads(threads)
    return {"step_s": step_s, **costs, "total_s": time.perf_counter() - t0}


def _bookkeeping(trainer) -> dict[str, float]:
    """Seconds for an export, a preview grid, an evaluation and a checkpoint (rank 0's work)."""
    out, step = trainer.outputs, trainer.step

    def clock(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    out.clear()
    export_s = clock(lambda: _export(out, step))
    preview_s = clock(lambda: out.preview(step))
    clock(lambda: out.evaluate(step))  # the first evaluation pays one-off costs (extractors, features)
    eval_s = clock(lambda: out.evaluate(step))
    save_s = clock(lambda: type(trainer).checkpoint(trainer))
    return {"export_s": export_s, "preview_s": preview_s, "eval_s": eval_s, "save_s": save_s}


def _export(out, step: int) -> None:
    with contextlib.suppress(NotImplementedError):  # a family whose outputs build no export
        out.export(step)


def write_plan(run_dir: Path, plan: Plan) -> None:
    """``budget.json``: the plan; the loop's end adds what the run actually took."""
    (run_dir / "budget.json").write_text(json.dumps(plan.to_dict(), indent=2) + "\n")


def read_plan(run_dir: Path) -> Plan | None:
    path = run_dir / "budget.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    names = {f for f in Plan.__dataclass_fields__}
    return Plan(**{k: v for k, v in record.items() if k in names})


def record_end(run_dir: Path, trained_s: float, steps: int) -> None:
    path = run_dir / "budget.json"
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    record.update(trained_s=round(trained_s, 2), steps_run=steps)  # trained_s: this session's
    path.write_text(json.dumps(record, indent=2) + "\n")
