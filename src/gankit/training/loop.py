"""The generic training loop: stages of phases, EMA, ticks, previews, checkpoints, Ctrl-C, resume.

It runs whatever named networks, optimiser groups and stages the family declares (models/); it
knows optimisers, phases and bookkeeping, not what the networks compute or which losses they
minimise. State lives in named parts (training/parts.py), so checkpoints, resume and rollback cover
every part a family adds.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit import durable
from gankit.config import Config
from gankit.errors import GankitError
from gankit.models.base import family_of
from gankit.training import distributed, performance
from gankit.training.checkpoint import list_checkpoints, load_latest_good, save_checkpoint
from gankit.training.monitors import EventLog, Monitor
from gankit.training.objective import TrainContext
from gankit.training.parts import Parts
from gankit.training.sinks import Interrupt, progress_bar, tensorboard
from gankit.training.stats import JsonlWriter, all_finite
from gankit.training.step import iterate


@dataclass
class RunResult:
    run_dir: Path
    step: int
    interrupted: bool = False
    last_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"


def model_meta(cfg: Config, data) -> dict[str, Any]:  # kept for callers of gankit 0.1
    from gankit.models.generator import model_meta as meta

    return meta(cfg, data)


def run(
    cfg: Config,
    data,
    run_dir: Path,
    state: dict[str, Any] | None = None,
    progress: bool = True,
    callbacks: list | None = None,
    budget=None,
) -> RunResult:
    """Train ``cfg`` (already resolved) on ``data``, writing into ``run_dir``; ``state`` resumes;
    ``budget`` (training/budget.py) keeps a run with ``--minutes`` to its time."""
    threads = torch.get_num_threads()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    try:
        return Trainer(cfg, data, run_dir, progress and distributed.is_main(), budget).run(state, callbacks)
    finally:
        torch.set_num_threads(threads)  # a library call leaves the process as it found it


def build_context(cfg: Config, data, device: torch.device) -> tuple[Any, Parts, TrainContext, Any]:
    """(family, parts, context, objective) of a run: networks initialised from train.seed."""
    family = family_of(cfg.model)
    torch.manual_seed(cfg.train.seed)  # network initialisation
    try:
        nets = family.networks(cfg, data)
        for net in nets.values():
            net.module.to(device)
    except (RuntimeError, MemoryError) as e:  # torch.OutOfMemoryError is a RuntimeError
        if not isinstance(e, MemoryError) and "alloc" not in str(e) and "out of memory" not in str(e).lower():
            raise
        raise GankitError(
            f"the {family.name} networks do not fit in {device.type} memory",
            "make them smaller (e.g. --set model.width=N), or train on a device with more memory",
        ) from None
    data = data.to(device)
    parts = Parts(family, cfg, nets, device)
    ctx = TrainContext(cfg, data, parts.modules, device)
    ctx.progress = parts.progress
    ctx.batches = family.batches(cfg, data, distributed.rank(), distributed.world())
    ctx.rank, ctx.world = distributed.rank(), distributed.world()
    ctx.channels_last = bool(cfg.train.channels_last)
    objective = ctx.objective = family.objective(ctx)
    return family, parts, ctx, objective


class Trainer:
    def __init__(self, cfg: Config, data, run_dir: Path, progress: bool, budget=None):
        self.cfg, self.run_dir, self.t, self.m = cfg, run_dir, cfg.train, cfg.monitor
        self.device = performance.pick_device(cfg.train.device)
        self.family, self.parts, self.ctx, self.objective = build_context(cfg, data, self.device)
        self.stages = self.objective.stages()
        self.main, self.world = distributed.is_main(), distributed.world()
        self.precision = performance.Precision(self.t.precision, self.device)
        self.rewrap()
        self.events = EventLog(run_dir / "events.jsonl")
        self.monitor = Monitor(self.objective.probabilistic, 1.0, self.m.collapse_ticks)
        self.outputs = self.family.outputs(self.ctx, run_dir)
        # observations made between ticks, reported at the next one (kept in checkpoints for exact resume)
        self.diversity, self.eval_results, self.eval_values = None, None, {}
        self.step, self.stage, self.stage_iters = 0, 0, 0
        self.elapsed, self.images, self.rollbacks = 0.0, 0, 0
        self.progress, self.bar, self.writer = progress, None, None
        self.budget = budget  # training/budget.py's Budget when the run has --minutes

    def rewrap(self) -> None:
        self.ctx.plain = self.parts.modules
        self.ctx.nets = self.parts.wrapped(self.ctx.channels_last)
        self.ctx.ema = {name: ema.shadow for name, ema in self.parts.emas.items()}

    # --- stages ---------------------------------------------------------------------------------
    def enter_stage(self, index: int) -> None:
        """Begin stage ``index``; a stage that reshapes networks gets its parts rebuilt."""
        self.stage, self.stage_iters, self.ctx.stage = index, 0, index
        enter = self.stages[index].enter
        if enter is not None and enter(self.objective):
            self.parts.build()
            self.rewrap()

    def advance_stage(self) -> None:
        self.stage_iters += 1
        length = self.stages[self.stage].length
        if length is not None and self.stage_iters >= length and self.stage + 1 < len(self.stages):
            self.enter_stage(self.stage + 1)

    # --- state ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything a resume needs, as tensors and plain values (what a checkpoint holds)."""
        pending = {
            "diversity": self.diversity,
            "eval_results": self.eval_results,
            "eval_values": self.eval_values,
        }
        return {
            **self.parts.state_dict(),
            "sampler": self.ctx.batches.state_dict(),
            "rng": self.ctx.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "stats": self.ctx.stats.state_dict(),
            "objective": self.objective.state_dict(),
            "progress": self.parts.progress.state_dict(),
            **({"budget": self.budget.state_dict()} if self.budget is not None else {}),
            "stage": {"index": self.stage, "iterations": self.stage_iters},
            "step": self.step,
            "elapsed": self.elapsed,
            "images": self.images,
            "rollbacks": self.rollbacks,
            "monitor": {**self.monitor.state_dict(), "pending": pending},
            "config": self.cfg.to_dict(),
        }

    def restore(self, saved: dict[str, Any]) -> None:
        stage = saved["stage"]
        for i in range(self.stage + 1, stage["index"] + 1):  # growth is cumulative
            self.enter_stage(i)
        self.stage, self.stage_iters, self.ctx.stage = stage["index"], stage["iterations"], stage["index"]
        self.parts.progress.load_state_dict(saved.get("progress", {}))  # before the learning rates
        self.parts.load_state_dict(saved)
        self.ctx.batches.load_state_dict(saved["sampler"])
        self.ctx.rng.set_state(saved["rng"].cpu())
        if "torch_rng" in saved:
            torch.set_rng_state(saved["torch_rng"].cpu())
        self.ctx.stats.load_state_dict(saved["stats"], self.device)
        self.objective.load_state_dict(saved.get("objective", {}))
        self.step, self.images = int(saved["step"]), int(saved["images"])
        self.ctx.step = self.step
        if "monitor" in saved:
            self.monitor.load_state_dict(saved["monitor"])
            p = saved["monitor"]["pending"]
            self.diversity, self.eval_results, self.eval_values = (
                p["diversity"],
                p["eval_results"],
                p["eval_values"],
            )
        self.outputs.clear()

    def exported_finite(self) -> bool:
        """Are the weights of the networks the export is made of finite? (One host sync.)"""
        params = [p for net in self.parts.nets.values() if net.export for p in net.module.parameters()]
        return not params or bool(
            torch.stack([p.detach().float().abs().sum() for p in params]).sum().isfinite()
        )

    def checkpoint(self) -> None:
        pending = self.ctx.stats.state_dict()
        if all_finite({k: v[0] for k, v in pending.items()}) is not None or not self.exported_finite():
            return  # never overwrite a good checkpoint with a diverged state
        save_checkpoint(
            self.run_dir / "checkpoints", self.step, self.snapshot(), keep=self.t.keep_checkpoints
        )
        self.export()

    def export(self) -> None:
        """model/ as of this step (deterministic: its draws come from a seeded or forked generator)."""
        with durable.replace_dir(self.run_dir / "model") as staged:  # the previous export stays whole
            self.outputs.save(self.step, staged)

    def roll_back(self, bad: str, value: float) -> None:
        """Back to the last good state with lower learning rates, and say so in events.jsonl."""
        diverged_at, o, f = self.step, self.cfg.optim, self.m.rollback_lr_factor
        good = self.first_good
        if good is None:
            good = load_latest_good(self.run_dir, self.device)
        self.rollbacks += 1
        o.lr_g, o.lr_d = o.lr_g * f, o.lr_d * f
        self.restore(good)
        if not self.main:  # every rank rolls back (they all saw the same averaged stats); rank 0 records it
            return
        self.cfg.save_yaml(self.run_dir / "config.yaml")  # a later --resume keeps the lowered rates
        self.writer.truncate_after(self.step)
        message = f"{bad} was {value}; rolled back to step {self.step}, learning rates x{f}"
        self.events.write(
            diverged_at, "rollback", message=message, to_step=self.step, lr_g=o.lr_g, lr_d=o.lr_d,
            rollback=self.rollbacks,
        )  # fmt: skip
        if self.bar is not None:
            self.bar.n = self.step
            self.bar.refresh()

    # --- the run --------------------------------------------------------------------------------
    def run(self, state: dict[str, Any] | None, callbacks: list | None) -> RunResult:
        self.enter_stage(0)
        if state is not None:
            self.restore(state)
            self.elapsed, self.rollbacks = float(state["elapsed"]), int(state.get("rollbacks", 0))
        elif self.main:
            self.outputs.start()
        if self.main:  # what a kill mid-write left: an export swap cut short, temporary files
            durable.heal_dir(self.run_dir / "model")
            durable.remove_temporaries(self.run_dir)
        # where a rollback goes when no checkpoint is on disk yet: the start of this session
        fresh = not list_checkpoints(self.run_dir / "checkpoints")
        self.first_good = copy.deepcopy(self.snapshot()) if fresh else None
        if self.world > 1:  # each rank its own generator for augmentation/noise (latents: the shared one)
            seed = distributed.local_seed(self.t.seed, self.step)
            self.ctx.local_rng = torch.Generator(self.device).manual_seed(seed)
        self.writer = JsonlWriter(self.run_dir / "stats.jsonl")
        if self.main:  # only rank 0 writes the run directory
            self.writer.truncate_after(self.step)
            self.events.truncate_after(self.step)
        self.tb = tensorboard(self.run_dir) if self.main else None
        self.bar = progress_bar(self.progress, self.step, self.t.steps)
        if self.budget is not None:
            self.budget.begin(self.step)
        try:
            if self.main and state is not None and self.step >= self.t.steps:  # killed after its last
                self.export()  # checkpoint: that step's export may be missing or cut short; redo it
            return self.loop(callbacks)
        except OSError as e:  # a full disk: what is on it is whole; say how to go on
            if not durable.is_no_space(e):
                raise
            raise durable.no_space_error(e, f"run gankit train --resume {self.run_dir}") from None
        finally:
            if self.bar is not None:
                self.bar.close()
            if self.tb is not None:
                self.tb.close()

    def loop(self, callbacks: list | None) -> RunResult:
        t, last, interrupted = self.t, {}, False
        self.tick_start, self.tick_images = time.perf_counter(), 0
        with Interrupt() as interrupt:
            while self.step < t.steps:
                stage = self.stages[self.stage]
                self.ctx.step = self.step
                at_tick = (self.step + 1) % t.log_every == 0 or self.step + 1 == t.steps
                iterate(stage.phases, self.parts, self.objective, self.precision, at_tick)
                n_real = t.batch_size * stage.phases[0].repeats * self.world  # counts are global under DDP
                self.images += n_real
                self.tick_images += n_real
                if not stage.counts:  # a warm-up: no step, no EMA, no schedule
                    self.advance_stage()
                    continue
                self.step += 1
                self.parts.update_emas(self.step)
                self.parts.step_schedules()
                self.advance_stage()
                self.bookkeeping(self.observe)
                tick = self.step % t.log_every == 0 or self.step == t.steps
                if tick:
                    record = self.tick()
                    if record is None:  # rolled back
                        continue
                    last = record
                    if self.budget is not None:
                        self.follow_budget()
                if self.bar is not None:
                    self.bar.update(1)
                for cb in callbacks or []:  # a callback returning False stops the run like Ctrl-C
                    if cb(self.step, last) is False:
                        interrupt.requested = True
                stop = interrupt.requested
                if self.world > 1:  # ranks stop together, agreeing at ticks only (no per-step sync)
                    stop = tick and distributed.any_rank(stop, self.device)
                if self.main and (stop or self.step % t.checkpoint_every == 0 or self.step == t.steps):
                    self.bookkeeping(self.checkpoint)
                if stop and self.step < t.steps:
                    interrupted = True
                    break
        return RunResult(self.run_dir, self.step, interrupted, last)

    def bookkeeping(self, work) -> None:
        """Run grids, evaluations or a checkpoint; a budget measures the training pace without them."""
        if self.budget is not None:
            self.budget.bookkeeping(work)
        else:
            work()

    def follow_budget(self) -> None:
        """A new length when the pace says the run would miss its --minutes (rank 0 decides for all)."""
        new = distributed.from_main(lambda: self.budget.new_length(self.cfg, self.step))
        if new is None:
            return
        self.parts.progress.change_length(self.step, new)
        self.budget.plan.replans.append([self.step, new])
        if self.main:
            from gankit.training.budget import write_plan

            self.cfg.save_yaml(self.run_dir / "config.yaml")
            write_plan(self.run_dir, self.budget.plan)
        if self.bar is not None:
            self.bar.total = new
            self.bar.refresh()

    def observe(self) -> None:
        """Evaluation and preview grids (they see the exported model), on rank 0."""
        step, t, m = self.step, self.t, self.m
        if not self.main:
            return
        if m.eval_every and (step % m.eval_every == 0 or step == t.steps) and self.exported_finite():
            t0 = time.perf_counter()
            evaluated = self.outputs.evaluate(step)
            if evaluated is not None:
                self.eval_results, new_values, best = evaluated
                if best is not None:
                    message = f"best {best['metric']}.{best['key']} = {best['value']:.4g}"
                    self.events.write(step, "best", message=message)
                self.eval_values = {**new_values, "eval_s": round(time.perf_counter() - t0, 2)}
            self.tick_start += time.perf_counter() - t0  # img/s measures training alone
        if step % t.sample_every == 0 or step == t.steps:
            diversity = self.outputs.preview(step)
            if diversity is not None:
                self.diversity = diversity

    def tick(self) -> dict[str, Any] | None:
        """Bookkeeping at a tick (the only host syncs): stats, monitors, rollback, sinks."""
        now = time.perf_counter()
        self.elapsed += now - self.tick_start
        values = distributed.mean_stats(self.ctx.stats.flush(), self.device)
        bad = all_finite(values)
        # early samples are naturally alike: judge diversity after the first fifth of the run
        settled = self.diversity if self.step >= self.t.steps // 5 else None
        warnings = [] if bad else self.monitor.check(values, settled, self.eval_results)
        last = {
            "step": self.step,
            "kimg": round(self.images / 1000, 3),
            "time_s": round(self.elapsed, 2),
            "img_per_s": round(self.tick_images / max(now - self.tick_start, 1e-9), 1),
            **self.parts.lrs(),
            **values,
            **self.eval_values,
            **({"diversity": round(self.diversity, 4)} if self.diversity is not None else {}),
            **({"warnings": warnings} if warnings else {}),
        }
        if self.main:
            for message in warnings:
                self.events.write(self.step, "warning", message=message)
        self.diversity, self.eval_results, self.eval_values = None, None, {}
        if bad is not None:
            if self.rollbacks < self.m.max_rollbacks:
                self.roll_back(bad, values[bad])
                self.tick_start, self.tick_images = time.perf_counter(), 0
                return None
            if self.main:
                self.writer.write(last)
            raise self.diverged(bad, values[bad])
        if self.main:
            self.writer.write(last)
        if self.tb is not None:
            for key, v in last.items():
                if isinstance(v, float) and key not in ("time_s", "kimg"):
                    self.tb.add_scalar(key, v, self.step)
        if self.bar is not None:
            shown = {k: f"{last[k]:.3g}" for k in ("img_per_s", *self.objective.shown) if k in last}
            shown |= {k.split("/")[1]: f"{v:.3g}" for k, v in last.items() if k.startswith("eval/")}
            if self.monitor.active:
                shown["warn"] = ",".join(sorted(self.monitor.active))
            self.bar.set_postfix(shown, refresh=False)
        self.tick_start, self.tick_images = time.perf_counter(), 0
        return last

    def diverged(self, bad: str, value: float) -> GankitError:
        return GankitError(
            f"training diverged at step {self.step}: {bad} is {value}"
            + (f" (after {self.rollbacks} rollbacks)" if self.rollbacks else ""),
            f"the last good checkpoint in {self.run_dir / 'checkpoints'} is intact; lower the "
            "learning rates (--lr-g/--lr-d) and train again, or resume with --resume",
        )
