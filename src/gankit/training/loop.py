"""The generic training loop: phases, EMA, ticks, sample grids, checkpoints, Ctrl-C, resume.

It knows optimisers, phases and bookkeeping; what the networks compute and which losses they
minimise come from the model family and the phases' terms.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.config import Config
from gankit.data import BatchSampler, RealData
from gankit.errors import GankitError
from gankit.latent import balanced_labels, sample_latent
from gankit.pretrained import save_pretrained
from gankit.training import distributed, performance
from gankit.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from gankit.training.ema import EMA, standing_stats
from gankit.training.evaluation import TrainingEvaluator
from gankit.training.monitors import EventLog, Monitor, grad_norm, mean_pairwise_distance
from gankit.training.phases import Game, standard_phases
from gankit.training.setup import build_networks, build_optimizer, lr_factor, pick_device
from gankit.training.stats import JsonlWriter, Stats, all_finite
from gankit.visual import save_samples_png

GRID_SIZE = 64


@dataclass
class RunResult:
    run_dir: Path
    step: int
    interrupted: bool = False
    last_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"


class _Interrupt:
    """First Ctrl-C asks the loop to checkpoint and stop after the current step; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def model_meta(cfg: Config, data: RealData) -> dict[str, Any]:
    info = {k: v for k, v in data.info.items() if k in ("centres", "std", "class_names")}
    return {
        "model": cfg.to_dict()["model"],
        "shape": list(data.shape),
        "kind": data.kind,
        "num_classes": data.num_classes,
        "data": {"name": cfg.data.name, "resolution": cfg.data.resolution, **info},
    }


def run(
    cfg: Config,
    data: RealData,
    run_dir: Path,
    state: dict[str, Any] | None = None,
    progress: bool = True,
    callbacks: list | None = None,
) -> RunResult:
    """Train ``cfg`` (already resolved) on ``data``, writing into ``run_dir``; ``state`` resumes."""
    threads = torch.get_num_threads()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    try:
        return _run(cfg, data, run_dir, state, progress, callbacks)
    finally:
        torch.set_num_threads(threads)  # a library call leaves the process as it found it


def _run(
    cfg: Config,
    data: RealData,
    run_dir: Path,
    state: dict[str, Any] | None,
    progress: bool,
    callbacks: list | None,
) -> RunResult:
    t = cfg.train
    device = pick_device(t.device)
    torch.manual_seed(t.seed)  # network initialisation
    G, D = build_networks(cfg, data)
    G, D = G.to(device), D.to(device)
    data = data.to(device)
    ema = EMA(G, cfg.optim.ema, cfg.optim.ema_start) if cfg.optim.ema > 0 else None
    opt_g = build_optimizer(cfg, G.parameters(), "G", device)
    opt_d = build_optimizer(cfg, D.parameters(), "D", device)
    factor = lr_factor(cfg.optim.schedule, t.steps)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, factor)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, factor)
    rng = torch.Generator(device).manual_seed(t.seed + 1)
    sampler = BatchSampler(len(data), t.batch_size, t.seed, distributed.rank(), distributed.world())
    stats = Stats()
    game = Game(cfg, G, D, data, sampler, rng, stats, device)
    phases = standard_phases(game, opt_g, opt_d)
    meta = model_meta(cfg, data)
    # --- speed and scale (performance.py, distributed.py): the passes call the networks through
    # channels_last / torch.compile / DDP; G, D stay the plain modules for state, EMA and exports.
    main, world = distributed.is_main(), distributed.world()
    precision = performance.Precision(t.precision, device)
    game.channels_last = performance.use_channels_last(cfg, G, D)
    if game.channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    if t.compile:
        game.G, game.D = performance.compile_net(G), performance.compile_net(D)
    game.G, game.D = distributed.wrap(game.G, device), distributed.wrap(game.D, device)
    game.rank, game.world = distributed.rank(), world
    m = cfg.monitor
    events = EventLog(run_dir / "events.jsonl")
    real_diversity = mean_pairwise_distance(data.batch(torch.arange(min(len(data), 256), device=device))[0])
    monitor = Monitor(game.loss.probabilistic, 1.0, m.collapse_ticks)  # diversity is relative to real
    evaluator = TrainingEvaluator(cfg, data, meta, run_dir) if m.eval_every and main else None
    # observations made between ticks, reported at the next one (kept in checkpoints for exact resume)
    diversity, eval_results, eval_values = None, None, {}

    def pending_observations() -> dict[str, Any]:
        return {"diversity": diversity, "eval_results": eval_results, "eval_values": eval_values}

    def set_lrs() -> None:
        """The config's learning rates win over saved ones (a resume or a rollback may change them)."""
        for opt, sched, lr in ((opt_g, sched_g, cfg.optim.lr_g), (opt_d, sched_d, cfg.optim.lr_d)):
            sched.base_lrs = [lr] * len(opt.param_groups)
            for group in opt.param_groups:
                group["initial_lr"], group["lr"] = lr, lr * factor(sched.last_epoch)

    def restore(saved: dict[str, Any]) -> None:
        nonlocal step, warmup_done, images, diversity, eval_results, eval_values
        G.load_state_dict(saved["G"])
        D.load_state_dict(saved["D"])
        if ema is not None:
            ema.shadow.load_state_dict(saved["G_ema"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        sched_g.load_state_dict(saved["sched_g"])
        sched_d.load_state_dict(saved["sched_d"])
        set_lrs()
        sampler.load_state_dict(saved["sampler"])
        rng.set_state(saved["rng"].cpu())
        stats.load_state_dict(saved["stats"], device)
        step, warmup_done, images = int(saved["step"]), int(saved["warmup_done"]), int(saved["images"])
        if "monitor" in saved:
            monitor.load_state_dict(saved["monitor"])
            pending = saved["monitor"]["pending"]
            diversity, eval_results, eval_values = (
                pending["diversity"],
                pending["eval_results"],
                pending["eval_values"],
            )
        exported.clear()

    def snapshot() -> dict[str, Any]:
        """Everything a resume needs, as tensors and plain values (what a checkpoint holds)."""
        return {
            "G": G.state_dict(),
            "D": D.state_dict(),
            "G_ema": ema.shadow.state_dict() if ema else {},
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "sched_g": sched_g.state_dict(),
            "sched_d": sched_d.state_dict(),
            "sampler": sampler.state_dict(),
            "rng": rng.get_state(),
            "stats": stats.state_dict(),
            "step": step,
            "warmup_done": warmup_done,
            "elapsed": elapsed,
            "images": images,
            "rollbacks": rollbacks,
            "monitor": {**monitor.state_dict(), "pending": pending_observations()},
            "config": cfg.to_dict(),
        }

    exported: dict[int, torch.nn.Module] = {}  # step -> export, so a grid and a checkpoint share one
    step, warmup_done, elapsed, images, rollbacks = 0, 0, 0.0, 0, 0
    if state is not None:
        restore(state)
        elapsed, rollbacks = float(state["elapsed"]), int(state.get("rollbacks", 0))
    elif main:
        save_samples_png(data.all_x[:GRID_SIZE], run_dir / "reals.png", data.info.get("centres"))
    # where a rollback goes when no checkpoint is on disk yet: the start of this session
    first_good = copy.deepcopy(snapshot()) if not list_checkpoints(run_dir / "checkpoints") else None

    def export() -> torch.nn.Module:
        """A frozen copy of the sampling generator (EMA when on), BN stats recomputed for its weights."""
        if step in exported:
            return exported[step]
        exported.clear()
        g = torch.Generator().manual_seed(t.seed + 2)
        n = max(t.batch_size, 256)

        def make_input(i: int):
            z = sample_latent(n, cfg.model.latent_dim, cfg.model.prior, g, device)
            y = balanced_labels(n, data.num_classes, g).to(device) if cfg.model.conditional else None
            return z, y

        exported[step] = standing_stats(copy.deepcopy(ema.shadow if ema else G), make_input)
        return exported[step]

    k = data.num_classes if cfg.model.conditional else 0
    n_grid = k * max(1, round(GRID_SIZE / k)) if 0 < k <= 16 else GRID_SIZE  # whole rows of 0..k-1
    grid_g = torch.Generator().manual_seed(t.seed + 3)
    grid_z = sample_latent(n_grid, cfg.model.latent_dim, cfg.model.prior, grid_g, device)
    grid_y = (torch.arange(n_grid) % k).to(device) if k else None

    def save_grid(net: torch.nn.Module) -> float:
        """Write the fixed-latent grid; returns its diversity relative to the real data's."""
        with torch.no_grad():
            x = net(grid_z, grid_y)
        save_samples_png(
            x,
            run_dir / f"fakes_{step:06d}.png",
            data.info.get("centres"),
            nrow=k if 0 < k <= 16 else None,
        )
        return mean_pairwise_distance(x) / max(real_diversity, 1e-12)

    def checkpoint() -> None:
        pending = stats.state_dict()
        if all_finite({k: v[0] for k, v in pending.items()}) is not None or not weights_finite():
            return  # never overwrite a good checkpoint with a diverged state
        save_checkpoint(run_dir / "checkpoints", step, snapshot(), keep=t.keep_checkpoints)
        save_pretrained(run_dir / "model", export(), meta)

    def report_grad_norm(phase):
        return lambda: stats.report(f"grad_norm/{phase.name}", grad_norm(phase.net.parameters()))

    def weights_finite() -> bool:
        return bool(torch.stack([p.detach().float().abs().sum() for p in G.parameters()]).sum().isfinite())

    def roll_back(bad: str, value: float) -> None:
        """Back to the last good state with lower learning rates, and say so in events.jsonl."""
        nonlocal rollbacks
        diverged_at = step
        good = load_checkpoint(latest_checkpoint(run_dir), device) if first_good is None else first_good
        rollbacks += 1
        cfg.optim.lr_g *= m.rollback_lr_factor
        cfg.optim.lr_d *= m.rollback_lr_factor
        restore(good)
        if not main:  # every rank rolls back (they all saw the same averaged stats); rank 0 records it
            return
        cfg.save_yaml(run_dir / "config.yaml")  # a later --resume keeps the lowered rates
        writer.truncate_after(step)
        events.write(
            diverged_at,
            "rollback",
            message=f"{bad} was {value}; rolled back to step {step}, learning rates x{m.rollback_lr_factor}",
            to_step=step,
            lr_g=cfg.optim.lr_g,
            lr_d=cfg.optim.lr_d,
            rollback=rollbacks,
        )
        if bar is not None:
            bar.n = step
            bar.refresh()

    if world > 1:  # each rank its own generator for augmentation/noise (latents come from the shared one)
        game.local_rng = torch.Generator(device).manual_seed(distributed.local_seed(t.seed, step))
    writer = JsonlWriter(run_dir / "stats.jsonl")
    if main:  # only rank 0 writes the run directory
        writer.truncate_after(step)
    tb = _tensorboard(run_dir) if main else None
    bar = _progress_bar(progress and main, step, t.steps)
    last: dict[str, Any] = {}
    interrupted = False
    tick_start, tick_images = time.perf_counter(), 0

    with _Interrupt() as interrupt:
        while step < t.steps:
            # --- one iteration: the warm-up runs D alone, then every phase in turn ----------------
            todo = phases[:1] if warmup_done < cfg.optim.d_warmup else phases
            game.step = step
            at_tick = (step + 1) % t.log_every == 0 or step + 1 == t.steps
            for i, phase in enumerate(todo):
                for other in phases:
                    if other.net is not G:  # G keeps grads: its forward may be reused by the G phase
                        other.net.requires_grad_(other is phase)
                for r in range(phase.repeats):
                    game.new_repeat()
                    game.keep_graph = r == phase.repeats - 1 and i + 1 < len(todo) and todo[i + 1].net is G
                    with precision.autocast():
                        loss = sum(term(game) for term in phase.terms)
                    phase.opt.zero_grad(set_to_none=True)
                    watch = at_tick and r == phase.repeats - 1  # once per tick: exploding gradients?
                    # backward + step (+ fp16 loss scaling), the gradient norm read in between
                    precision.backward_step(loss, phase.opt, report_grad_norm(phase) if watch else None)
                    for hook in phase.after_step:
                        hook()
            n_real = t.batch_size * phases[0].repeats * world  # counts are global under DDP
            images += n_real
            tick_images += n_real
            if len(todo) < len(phases):
                warmup_done += 1
                continue
            step += 1
            if ema is not None:
                ema.update(G, step)
            sched_g.step()
            sched_d.step()

            # --- evaluation and sample grids (they see the exported sampling generator) ------------
            if main and m.eval_every and (step % m.eval_every == 0 or step == t.steps) and weights_finite():
                t0 = time.perf_counter()
                eval_results, new_values = evaluator(export(), device)
                best = evaluator.keep_if_best(eval_results, export(), step)
                if best is not None:
                    events.write(
                        step, "best", message=f"best {best['metric']}.{best['key']} = {best['value']:.4g}"
                    )
                eval_values = {**new_values, "eval_s": round(time.perf_counter() - t0, 2)}
                tick_start += time.perf_counter() - t0  # img/s measures training alone
            if main and (step % t.sample_every == 0 or step == t.steps):
                diversity = save_grid(export())

            # --- bookkeeping at ticks (the only host syncs) ------------------------------------------
            tick = step % t.log_every == 0 or step == t.steps
            if tick:
                now = time.perf_counter()
                elapsed += now - tick_start
                values = distributed.mean_stats(stats.flush(), device)
                bad = all_finite(values)
                # early samples are naturally alike: judge diversity after the first fifth of the run
                settled = diversity if step >= t.steps // 5 else None
                warnings = [] if bad else monitor.check(values, settled, eval_results)
                last = {
                    "step": step,
                    "kimg": round(images / 1000, 3),
                    "time_s": round(elapsed, 2),
                    "img_per_s": round(tick_images / max(now - tick_start, 1e-9), 1),
                    "lr_g": sched_g.get_last_lr()[0],
                    "lr_d": sched_d.get_last_lr()[0],
                    **values,
                    **eval_values,
                    **({"diversity": round(diversity, 4)} if diversity is not None else {}),
                    **({"warnings": warnings} if warnings else {}),
                }
                if main:
                    for message in warnings:
                        events.write(step, "warning", message=message)
                diversity, eval_results, eval_values = None, None, {}
                if bad is not None:
                    if rollbacks < m.max_rollbacks:
                        roll_back(bad, values[bad])
                        tick_start, tick_images = time.perf_counter(), 0
                        continue
                    if main:
                        writer.write(last)
                    if bar is not None:
                        bar.close()
                    raise GankitError(
                        f"training diverged at step {step}: {bad} is {values[bad]}"
                        + (f" (after {rollbacks} rollbacks)" if rollbacks else ""),
                        f"the last good checkpoint in {run_dir / 'checkpoints'} is intact; lower the "
                        "learning rates (--lr-g/--lr-d) and train again, or resume with --resume",
                    )
                if main:
                    writer.write(last)
                if tb is not None:
                    for key, v in last.items():
                        if isinstance(v, float) and key not in ("time_s", "kimg"):
                            tb.add_scalar(key, v, step)
                if bar is not None:
                    shown = {
                        k: f"{last[k]:.3g}"
                        for k in ("img_per_s", "loss/D", "loss/G", "D(x)", "D(G(z))")
                        if k in last
                    }
                    shown |= {k.split("/")[1]: f"{v:.3g}" for k, v in last.items() if k.startswith("eval/")}
                    if monitor.active:
                        shown["warn"] = ",".join(sorted(monitor.active))
                    bar.set_postfix(shown, refresh=False)
                tick_start, tick_images = time.perf_counter(), 0
            if bar is not None:
                bar.update(1)
            for cb in callbacks or []:  # a callback returning False stops the run like Ctrl-C
                if cb(step, last) is False:
                    interrupt.requested = True
            stop = interrupt.requested
            if world > 1:  # ranks stop together, agreeing at ticks only (no per-step sync)
                stop = tick and distributed.any_rank(stop, device)
            if main and (stop or step % t.checkpoint_every == 0 or step == t.steps):
                checkpoint()
            if stop and step < t.steps:
                interrupted = True
                break
    if bar is not None:
        bar.close()
    if tb is not None:
        tb.close()
    return RunResult(run_dir, step, interrupted, last)


def _progress_bar(enabled: bool, step: int, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=step, unit="step", dynamic_ncols=True, mininterval=1.0)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(run_dir))
