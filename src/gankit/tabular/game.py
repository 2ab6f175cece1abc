"""The CTGAN game (Xu et al. 2019) as phases the training loop runs: a WGAN-GP critic on PacGAN packs
of conditioned rows, then a generator with the conditional cross-entropy.

The critic phase has two implementations of one objective: the plain one (a term), and DP-SGD
(:mod:`gankit.tabular.dp`, a phase step of its own that clips and noises per-row gradients).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.losses import gradient_penalty
from gankit.tabular.model import CondLayout, SpanLayout, activate, cond_loss
from gankit.training.objective import Objective, Phase, Stage, TrainContext


class TableGame(Objective):
    probabilistic = False  # a critic: raw scores
    shown = ("wasserstein", "loss_g")

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        options, data = ctx.cfg.model.options, ctx.data
        self.tau = options["tau"]
        self.sampler, self.data = data.sampler, data.x
        self.layout = SpanLayout(data.transformer.spans, ctx.device)
        self.cond_layout = CondLayout(self.sampler.data_offsets, self.sampler.sizes, ctx.device)
        self._kept: tuple | None = None
        self.dp = None
        if options["dp_epsilon"] is not None:
            from gankit.tabular.dp import DPCritic

            t = ctx.cfg.train
            self.dp = DPCritic(
                self, options["dp_epsilon"], options["dp_delta"], options["dp_max_grad_norm"],
                batch_size=t.batch_size, total_steps=t.steps * ctx.cfg.optim.n_critic,
                gp_weight=ctx.cfg.loss.gp_weight,
            )  # fmt: skip

    @property
    def G(self):
        return self.ctx.nets["G"]

    @property
    def D(self):
        return self.ctx.nets["D"]

    def stages(self) -> list[Stage]:
        n_critic = self.cfg.optim.n_critic
        if self.dp is not None:  # DP: conditions never read off the data for the generator either
            d = Phase("D", "d", ("D",), custom=lambda game: game.dp.step(), repeats=n_critic)
        else:  # as the reference DCGAN loop does: one G forward serves the last critic step and G's
            d = Phase("D", "d", ("D",), [critic_loss], repeats=n_critic, keeps=("G",))
        return [Stage("main", [d, Phase("G", "g", ("G",), [generator_loss])])]

    def state_dict(self) -> dict:
        return self.dp.state_dict() if self.dp is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.dp is not None and state:
            self.dp.load_state_dict(state)

    def epsilon_spent(self) -> float | None:
        return self.dp.epsilon_spent() if self.dp is not None else None

    # --- batches ---------------------------------------------------------------------------------
    def conds(self, n: int, uniform: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if not self.sampler.n_columns:
            return torch.zeros(n, 0, device=self.device), None, None
        return self.sampler.uniform_cond(n) if uniform else self.sampler.train_cond(n)

    def sampler_cond(self, n: int) -> Tensor:
        """Conditions as sampling draws them (frequencies, or uniform when nothing may be read)."""
        if not self.sampler.n_columns:
            return torch.zeros(n, 0, device=self.device)
        return self.sampler.sample_cond(n)

    def fake(self, cond: Tensor, net=None) -> tuple[Tensor, Tensor]:
        z = torch.randn(len(cond), self.cfg.model.latent_dim, device=self.device)
        raw = (net or self.G)(z, cond)
        return raw, activate(raw, self.layout, self.tau)


def critic_loss(game: TableGame) -> Tensor:
    """WGAN-GP on a conditioned batch: real rows drawn to match the fakes' conditions."""
    n, sampler = game.cfg.train.batch_size, game.sampler
    if sampler.n_columns:
        cond, col, cat = sampler.train_cond(n)
        perm = torch.randperm(n, device=game.device)  # real rows match a shuffled copy of the conds
        real = game.data[sampler.real_rows(col[perm], cat[perm])]
        cond_real = cond[perm]
    else:
        col = cat = None
        cond = cond_real = torch.zeros(n, 0, device=game.device)
        real = game.data[torch.randint(len(game.data), (n,), device=game.device)]
    keep = game.ctx.keep_graph
    with torch.set_grad_enabled(keep):
        raw, fake = game.fake(cond)
    game._kept = (raw, fake, cond, col, cat) if keep else None
    x_real, x_fake = torch.cat([real, cond_real], 1), torch.cat([fake.detach(), cond], 1)
    scores = game.D(torch.cat([x_real, x_fake]))  # one pass; packs never straddle the halves
    gap = scores[: len(scores) // 2].mean() - scores[len(scores) // 2 :].mean()
    gp = gradient_penalty(game.D, x_real, x_fake)
    game.stats.report("wasserstein", gap.detach())
    game.stats.report("gp", gp.detach())
    return -gap + game.cfg.loss.gp_weight * gp


def generator_loss(game: TableGame) -> Tensor:
    if game._kept is not None:
        raw, fake, cond, col, cat = game._kept
        game._kept = None
    else:
        cond, col, cat = game.conds(game.cfg.train.batch_size, uniform=game.dp is not None)
        raw, fake = game.fake(cond)
    adv = -game.D(torch.cat([fake, cond], 1)).mean()
    ce = (
        cond_loss(raw, col, cat, game.cond_layout) if col is not None else torch.zeros((), device=game.device)
    )
    game.stats.report("loss_g", adv.detach())
    game.stats.report("cond_ce", ce.detach())
    return adv + ce
