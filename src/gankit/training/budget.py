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
from dataclasses import asdict, dataclass
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_steps(
    user_cfg: Config,
    resolve,
    data,
    minutes: float,
    state: dict[str, Any] | None = None,
    started: float | None = None,
) -> tuple[Config, Plan]:
    """The resolved config of a run that fits ``minutes``, and its plan.

    ``resolve(cfg)`` resolves a config as the run would (so the planned run is `--steps N` exactly);
    ``state`` is the checkpoint being resumed (the budget then covers the steps after it); ``started``
    is when the clock started (``time.perf_counter()``), default now.
    """
    started = time.perf_counter() if started is None else started
    if not (minutes > 0 and math.isfinite(minutes)):
        raise GankitError(f"--minutes {minutes} is not a time budget", "give a positive number of minutes")
    cfg = resolve(copy_config(user_cfg))
    cap, start = cfg.train.steps, int(state["step"]) if state is not None else 0
    timing = _measure(cfg, data, state, minutes)
    budget_s = minutes * 60 - _elapsed(started)
    steps = start + max(0, int(budget_s / timing["step_s"]))
    for _ in range(3):  # the bookkeeping depends on the length (cadences follow it): settle it
        candidate = _with_steps(user_cfg, resolve, max(start + 1, min(steps, cap)))
        overhead = _overhead_s(candidate, timing, start)
        steps = start + max(0, int((budget_s - overhead) / timing["step_s"]))
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
    )  # fmt: skip
    cfg.train.minutes = minutes
    return cfg, plan


def _elapsed(since: float) -> float:
    return time.perf_counter() - since


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
        len(exports) * timing["export_s"]
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


def record_end(run_dir: Path, trained_s: float, steps: int) -> None:
    path = run_dir / "budget.json"
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    record.update(trained_s=round(trained_s, 2), steps_run=steps)
    path.write_text(json.dumps(record, indent=2) + "\n")
