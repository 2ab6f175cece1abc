"""The tabular training loop: the CTGAN game (WGAN-GP, PacGAN, training-by-sampling) as two phases.

The critic phase has two implementations of one objective: the plain one, and a DP-SGD one
(:mod:`gankit.tabular.dp`) that clips and noises per-row gradients. The generator phase is shared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gankit.losses import gradient_penalty
from gankit.tabular.model import CondLayout, Critic, Generator, SpanLayout, activate, cond_loss
from gankit.tabular.sampler import CondSampler
from gankit.tabular.transformer import Span
from gankit.training.ema import EMA, standing_stats
from gankit.training.performance import fast_optimizer_kwargs

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    steps_per_epoch: int
    lr_g: float
    lr_d: float
    d_steps: int
    gp_weight: float
    latent_dim: int
    tau: float = 0.2
    ema: float | None = None  # decay of the generator's weight average (None = off)


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one record per epoch
    seconds: float = 0.0
    dp_epsilon: float | None = None


class Game:
    """What the phases share: networks, optimisers, the real data and the conditional sampler."""

    def __init__(self, G: Generator, D: Critic, data: Tensor, sampler: CondSampler, spans: list[Span], s):
        self.G, self.D, self.data, self.sampler, self.spans, self.s = G, D, data, sampler, spans, s
        self.device = data.device
        # CTGAN's optimiser settings: Adam(2e-4, betas (0.5, 0.9), weight decay 1e-6)
        fast = fast_optimizer_kwargs(self.device)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=s.lr_g, betas=(0.5, 0.9), weight_decay=1e-6, **fast)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=s.lr_d, betas=(0.5, 0.9), weight_decay=1e-6, **fast)
        self.layout = SpanLayout(spans, self.device)
        self.cond_layout = CondLayout(sampler.data_offsets, sampler.sizes, self.device)
        self.keep_fakes = False  # set by the loop on the last critic repeat: the G step reuses its fakes
        self._kept: tuple | None = None

    def conds(self, n: int, uniform: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if not self.sampler.n_columns:
            return torch.zeros(n, 0, device=self.device), None, None
        return self.sampler.uniform_cond(n) if uniform else self.sampler.train_cond(n)

    def sampler_cond(self, n: int) -> Tensor:
        """Conditions as sampling draws them (frequencies, or uniform when nothing may be read)."""
        if not self.sampler.n_columns:
            return torch.zeros(n, 0, device=self.device)
        return self.sampler.sample_cond(n)

    def fake(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.randn(len(cond), self.s.latent_dim, device=self.device)
        raw = self.G(z, cond)
        return raw, activate(raw, self.layout, self.s.tau)

    def critic_step(self) -> dict[str, Tensor]:
        """One WGAN-GP critic step on a conditioned batch: real rows drawn to match the fakes' conditions."""
        n = self.s.batch_size
        if self.sampler.n_columns:
            cond, col, cat = self.sampler.train_cond(n)
            perm = torch.randperm(n, device=self.device)  # real rows match a shuffled copy of the conds
            real = self.data[self.sampler.real_rows(col[perm], cat[perm])]
            cond_real = cond[perm]
        else:
            cond = cond_real = torch.zeros(n, 0, device=self.device)
            real = self.data[torch.randint(len(self.data), (n,), device=self.device)]
        with torch.set_grad_enabled(self.keep_fakes):
            raw, fake = self.fake(cond)
        if self.keep_fakes:  # as the reference DCGAN loop does: one G forward serves both phases
            self._kept = (
                raw,
                fake,
                cond,
                col if self.sampler.n_columns else None,
                cat if self.sampler.n_columns else None,
            )
        x_real, x_fake = torch.cat([real, cond_real], 1), torch.cat([fake.detach(), cond], 1)
        scores = self.D(torch.cat([x_real, x_fake]))  # one pass; packs never straddle the halves
        gap = scores[: len(scores) // 2].mean() - scores[len(scores) // 2 :].mean()
        gp = gradient_penalty(self.D, x_real, x_fake)
        self.opt_d.zero_grad(set_to_none=True)
        (-gap + self.s.gp_weight * gp).backward()
        self.opt_d.step()
        return {"wasserstein": gap.detach(), "gp": gp.detach()}

    def generator_step(self, uniform: bool = False) -> dict[str, Tensor]:
        if self._kept is not None:
            raw, fake, cond, col, cat = self._kept
            self._kept = None
        else:
            cond, col, cat = self.conds(self.s.batch_size, uniform)
            raw, fake = self.fake(cond)
        adv = -self.D(torch.cat([fake, cond], 1)).mean()
        ce = (
            cond_loss(raw, col, cat, self.cond_layout)
            if col is not None
            else torch.zeros((), device=self.device)
        )
        self.opt_g.zero_grad(set_to_none=True)
        (adv + ce).backward()
        self.opt_g.step()
        return {"loss_g": adv.detach(), "cond_ce": ce.detach()}


def train(
    game: Game,
    critic_step: Callable[[], dict[str, Tensor]] | None = None,
    uniform_g_cond: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Run ``epochs`` x ``steps_per_epoch`` iterations of (critic x d_steps, generator)."""
    s, result = game.s, TrainResult()
    critic_step = critic_step or game.critic_step
    game.G.train()
    game.D.train()
    ema = EMA(game.G, s.ema) if s.ema else None
    step = 0
    start = time.perf_counter()
    for epoch in range(s.epochs):
        sums: dict[str, Tensor] = {}
        for _ in range(s.steps_per_epoch):
            for i in range(s.d_steps):
                game.keep_fakes = i == s.d_steps - 1 and critic_step == game.critic_step
                stats = critic_step()
            stats = {**stats, **game.generator_step(uniform_g_cond)}
            step += 1
            if ema is not None:
                ema.update(game.G, step)
            for k, v in stats.items():
                sums[k] = sums.get(k, 0) + v
        record = {"epoch": epoch + 1, **{k: float(v) / s.steps_per_epoch for k, v in sums.items()}}
        record["time_s"] = round(time.perf_counter() - start, 3)
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    if ema is not None:  # sample from the average, with batch-norm statistics of its own
        game.G.load_state_dict(ema.shadow.state_dict())
        standing_stats(game.G, lambda i: (torch.randn(s.batch_size, s.latent_dim, device=game.device),
                                          game.sampler_cond(s.batch_size)))  # fmt: skip
    result.seconds = time.perf_counter() - start
    game.G.eval()
    return result
