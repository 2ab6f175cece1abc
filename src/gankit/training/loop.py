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
from gankit.training.checkpoint import save_checkpoint
from gankit.training.ema import EMA, standing_stats
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

    step, warmup_done, elapsed, images = 0, 0, 0.0, 0
    if state is not None:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        if ema is not None:
            ema.shadow.load_state_dict(state["G_ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        sched_g.load_state_dict(state["sched_g"])
        sched_d.load_state_dict(state["sched_d"])
        # the config's learning rates win over the saved ones, so a resume can change them
        for opt, sched, lr in ((opt_g, sched_g, cfg.optim.lr_g), (opt_d, sched_d, cfg.optim.lr_d)):
            sched.base_lrs = [lr] * len(opt.param_groups)
            for group in opt.param_groups:
                group["initial_lr"], group["lr"] = lr, lr * factor(sched.last_epoch)
        sampler.load_state_dict(state["sampler"])
        rng.set_state(state["rng"].cpu())
        stats.load_state_dict(state["stats"], device)
        step, warmup_done = int(state["step"]), int(state["warmup_done"])
        elapsed, images = float(state["elapsed"]), int(state["images"])
    elif main:
        save_samples_png(data.all_x[:GRID_SIZE], run_dir / "reals.png", data.info.get("centres"))

    exported: dict[int, torch.nn.Module] = {}  # step -> export, so a grid and a checkpoint share one

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

    def save_grid(net: torch.nn.Module) -> None:
        with torch.no_grad():
            x = net(grid_z, grid_y)
        save_samples_png(
            x,
            run_dir / f"fakes_{step:06d}.png",
            data.info.get("centres"),
            nrow=k if 0 < k <= 16 else None,
        )

    def checkpoint() -> None:
        pending = stats.state_dict()
        if all_finite({k: v[0] for k, v in pending.items()}) is not None:
            return  # never overwrite a good checkpoint with a diverged state
        save_checkpoint(
            run_dir / "checkpoints",
            step,
            {
                "G": G.state_dict(),
                "D": D.state_dict(),
                "G_ema": ema.shadow.state_dict() if ema else {},
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "sched_g": sched_g.state_dict(),
                "sched_d": sched_d.state_dict(),
                "sampler": sampler.state_dict(),
                "rng": rng.get_state(),
                "stats": pending,
                "warmup_done": warmup_done,
                "elapsed": elapsed,
                "images": images,
                "config": cfg.to_dict(),
            },
            keep=t.keep_checkpoints,
        )
        save_pretrained(run_dir / "model", export(), meta)

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
                    precision.backward_step(loss, phase.opt)  # backward + step (+ fp16 loss scaling)
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

            # --- bookkeeping at ticks (the only host syncs) ------------------------------------------
            tick = step % t.log_every == 0 or step == t.steps
            if tick:
                now = time.perf_counter()
                elapsed += now - tick_start
                values = distributed.mean_stats(stats.flush(), device)
                last = {
                    "step": step,
                    "kimg": round(images / 1000, 3),
                    "time_s": round(elapsed, 2),
                    "img_per_s": round(tick_images / max(now - tick_start, 1e-9), 1),
                    "lr_g": sched_g.get_last_lr()[0],
                    "lr_d": sched_d.get_last_lr()[0],
                    **values,
                }
                if main:
                    writer.write(last)
                if tb is not None:
                    for k, v in values.items():
                        tb.add_scalar(k, v, step)
                if bar is not None:
                    bar.set_postfix(
                        {
                            k: f"{last[k]:.3g}"
                            for k in ("img_per_s", "loss/D", "loss/G", "D(x)", "D(G(z))")
                            if k in last
                        },
                        refresh=False,
                    )
                bad = all_finite(values)
                if bad is not None:
                    if bar is not None:
                        bar.close()
                    raise GankitError(
                        f"training diverged at step {step}: {bad} is {values[bad]}",
                        f"the last good checkpoint in {run_dir / 'checkpoints'} is intact; lower the "
                        "learning rates (--lr-g/--lr-d) and train again, or resume with --resume",
                    )
                tick_start, tick_images = time.perf_counter(), 0
            if bar is not None:
                bar.update(1)
            if main and (step % t.sample_every == 0 or step == t.steps):
                save_grid(export())
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
