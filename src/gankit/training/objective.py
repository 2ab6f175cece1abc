"""The game as data: phases of terms, stages of phases, and the context the terms read.

A :class:`Phase` steps one optimiser group by the sum of its terms, ``repeats`` times per iteration
(n_critic for a critic), on every ``every``-th iteration (lazy regularisation). A :class:`Stage` is a
run of iterations with its own phases: SRGAN's content-only pre-training, a D warm-up, progressive
growing's resolutions. The family declares them (models/); the loop runs them without knowing what
the terms compute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.training.progress import Progress
from gankit.training.stats import Stats

Term = Callable[["Objective"], Tensor]


@dataclass
class Phase:
    """``trains``: the networks whose parameters this phase updates (the others are frozen while it
    runs); ``keeps``: networks whose forward graph of the last repeat the next phase reuses (so they
    keep their gradients); ``after_step``: hooks after each optimiser step (weight clipping).
    ``custom``: a step of its own instead of backward of the summed terms (DP-SGD's per-row clipped
    gradients): it fills ``.grad`` and returns nothing; the loop then steps the optimiser."""

    name: str
    group: str
    trains: tuple[str, ...]
    terms: list[Term] = field(default_factory=list)
    repeats: int = 1
    every: int = 1
    keeps: tuple[str, ...] = ()
    after_step: list[Callable[[Objective], None]] = field(default_factory=list)
    custom: Callable[[Objective], None] | None = None


@dataclass
class Stage:
    """``length``: iterations of this stage (None: until train.steps). ``counts``: whether its
    iterations are training steps (a warm-up's are not). ``enter(objective)`` runs when the stage
    begins (also on resume); it returns True when it changed networks' shapes, and the loop then
    rebuilds their optimisers, EMAs and compiled/DDP wrappers."""

    name: str
    phases: list[Phase]
    length: int | None = None
    counts: bool = True
    enter: Callable[[Objective], bool] | None = None


class TrainContext:
    """What the loop shares with the family's objective: the networks as the passes call them
    (``nets``: channels_last / compiled / DDP-wrapped) and as plain modules (``plain``), the data,
    the real-batch source, RNGs, stats and the position in the run."""

    def __init__(self, cfg: Config, data: Any, plain: dict[str, nn.Module], device: torch.device):
        self.cfg, self.data, self.plain, self.device = cfg, data, plain, device
        self.nets: dict[str, nn.Module] = dict(plain)
        self.ema: dict[str, nn.Module] = {}  # network name -> its weight average (optim.ema > 0)
        self.options = cfg.model.options
        self.stats = Stats()
        self.rng = torch.Generator(device).manual_seed(cfg.train.seed + 1)  # latents: shared by ranks
        self.local_rng = self.rng  # augmentation / noise / interpolates: a rank's own under DDP
        self.batches: Any = None
        self.objective: Any = None  # the family's, once built
        self.step = 0
        self.progress = Progress(cfg)  # the fraction of the run done at a step (schedules follow it)
        self.stage = 0
        self.keep_graph = False  # set by the loop: the next phase reuses this repeat's forward graph
        self.channels_last = False
        self.rank, self.world = 0, 1


class Objective:
    """The state the terms of one iteration share. Subclasses build the stages; state that belongs
    to the objective (an augmentation probability, an image pool) goes in :meth:`state_dict`."""

    probabilistic = True  # the monitor reads "D(x)" / "D(G(z))" as probabilities (else raw scores)
    shown: tuple[str, ...] = ()  # stats the progress bar shows beside img/s

    def __init__(self, ctx: TrainContext):
        self.ctx = ctx

    def stages(self) -> list[Stage]:
        raise NotImplementedError

    def new_repeat(self) -> None:
        """Called before each repeat of a phase: drop per-repeat caches."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # shortcuts the terms read
    @property
    def cfg(self) -> Config:
        return self.ctx.cfg

    @property
    def stats(self) -> Stats:
        return self.ctx.stats

    @property
    def device(self) -> torch.device:
        return self.ctx.device

    @property
    def step(self) -> int:
        return self.ctx.step

    @property
    def rng(self) -> torch.Generator:
        return self.ctx.rng

    @property
    def local_rng(self) -> torch.Generator:
        return self.ctx.local_rng


def warmup_stage(phase: Phase, iterations: int) -> list[Stage]:
    """``optim.d_warmup`` iterations of ``phase`` alone before the game (not counted as steps)."""
    return [Stage("warmup", [phase], length=iterations, counts=False)] if iterations > 0 else []


def clip_weights(net: str, c: float) -> Callable[[Objective], None]:
    """WGAN's weight clipping of network ``net`` to [-c, c] (Arjovsky et al. 2017)."""

    @torch.no_grad()
    def clip(objective: Objective) -> None:
        params = list(objective.ctx.plain[net].parameters())
        torch._foreach_clamp_min_(params, -c)
        torch._foreach_clamp_max_(params, c)

    return clip
