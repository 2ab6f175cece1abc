"""The two-player game of a generator ``G(z, y)`` and a discriminator ``D(x, y)``: its terms and phases.

Shared by every family whose networks are one such pair (mlp, dcgan, ...). D's phase sums the
adversarial term and the regularisers asked for (gradient penalty, R1, R2) ``n_critic`` times; G's
phase sums the adversarial term. A family with more networks or terms writes its own objective
(see docs/design.md); this one is also a worked example.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.latent import sample_latent
from gankit.losses import LOSSES, gradient_penalty
from gankit.models.ada import AdaptiveAugment, parse_augment
from gankit.training.augment import diff_augment
from gankit.training.objective import Objective, Phase, Stage, Term, TrainContext, clip_weights, warmup_stage


class Game(Objective):
    """Real batches, fakes (with the D phase's forward reused by the G phase), D's inputs."""

    shown = ("loss/D", "loss/G", "D(x)", "D(G(z))", "ada/p")  # ada/p: only when ADA is on

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        cfg = ctx.cfg
        self.loss = LOSSES.get(cfg.loss.name)
        self.probabilistic = self.loss.probabilistic
        self.conditional = cfg.model.conditional
        self.augment, adaptive = parse_augment(cfg.loss.augment)
        self.ada: AdaptiveAugment | None = None
        if adaptive:  # the ops go with ADA's probability p instead of always (models/ada.py)
            lc = cfg.loss
            images = cfg.train.batch_size * ctx.world
            self.ada = AdaptiveAugment(
                self.augment, lc.ada_target, lc.ada_kimg, lc.ada_interval, images, ctx.device
            )
            self.augment = []
        self._real: tuple[Tensor, Tensor | None] | None = None
        self._labels: Tensor | None = None
        self._fake_graph: Tensor | None = None
        self.last_fake: Tensor | None = None  # D's fakes of this repeat, for penalty terms
        self.real_scored: tuple[Tensor, Tensor] | None = None  # (real input, D's scores), for R1

    @property
    def G(self):
        return self.ctx.nets["G"]

    @property
    def D(self):
        return self.ctx.nets["D"]

    def stages(self) -> list[Stage]:
        """D (n_critic times: adversarial term [+ penalties]), then G; after a D-only warm-up if asked."""
        cfg = self.cfg
        d_terms: list[Term] = [d_adversarial]
        if self.loss.gradient_penalty:
            d_terms.append(d_gradient_penalty)
        if cfg.loss.r1 > 0:
            d_terms.append(d_r1_penalty)
        if cfg.loss.r2 > 0:
            d_terms.append(d_r2_penalty)
        d_after = [clip_weights("D", cfg.loss.clip)] if self.loss.clip_weights else []
        d = Phase("D", "d", ("D",), d_terms, repeats=cfg.optim.n_critic, keeps=("G",), after_step=d_after)
        g = Phase("G", "g", ("G",), [g_adversarial])
        return [*warmup_stage(d, cfg.optim.d_warmup), Stage("main", [d, g])]

    # --- batches -------------------------------------------------------------------------------
    def new_repeat(self) -> None:
        self._real = None
        self.real_scored = None

    def regularise_now(self) -> bool:
        """Is this iteration one of the lazy R1/R2 ones? (Counted in generator steps, so a resumed run
        regularises on the same steps as an uninterrupted one.)"""
        return self.step % self.cfg.loss.reg_every == 0

    def real(self) -> tuple[Tensor, Tensor | None]:
        """This repeat's real batch (drawn once, shared by all its terms)."""
        if self._real is None:
            x, y = self.ctx.data.batch(self.ctx.batches.next())
            x = x.to(self.device, non_blocking=True)
            if self.ctx.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            self._real = (x, y.to(self.device) if y is not None else None)
            self._labels = self._real[1]
        return self._real

    def fake_labels(self) -> Tensor | None:
        """Fakes are asked for the labels of the latest real batch, so classes follow the data."""
        if not self.conditional:
            return None
        if self._labels is None:
            self.real()
        return self._labels

    def fake(self, for_generator: bool = False) -> Tensor:
        """Generated batch. D gets it detached; when ``keep_graph`` is set the graph is kept so the
        following G phase reuses this forward pass instead of running G again (as the reference
        DCGAN loop does: G's weights have not changed in between)."""
        if for_generator:
            if self._fake_graph is not None:
                fake, self._fake_graph = self._fake_graph, None
                return fake
            return self._generate()
        if self.ctx.keep_graph:
            self._fake_graph = self._generate()
            return self._fake_graph.detach()
        with torch.no_grad():
            return self._generate()

    def _generate(self) -> Tensor:
        n, world, rank = self.cfg.train.batch_size, self.ctx.world, self.ctx.rank
        # every rank draws the global batch's latents from the shared generator and keeps its slice:
        # distinct noise per rank, and N ranks at batch B compute what one process does at N*B
        z = sample_latent(n * world, self.cfg.model.latent_dim, self.cfg.model.prior, self.rng, self.device)
        if world > 1:
            z = z[rank * n : (rank + 1) * n]
        return self.G(z, self.fake_labels())

    # --- discriminator inputs ------------------------------------------------------------------
    def d_input(self, x: Tensor) -> Tensor:
        """DiffAugment, then instance noise (Sonderby et al. 2017), annealed linearly to 0."""
        if self.augment:
            x = diff_augment(x, self.augment, self.local_rng)
        if self.ada is not None:
            x = self.ada(x, self.local_rng)
        std = self.cfg.loss.instance_noise * max(0.0, 1.0 - self.ctx.progress(self.step))
        if std > 0:
            x = x + std * torch.randn(x.shape, generator=self.local_rng, device=x.device, dtype=x.dtype)
        return x

    def judge(self, x: Tensor, y: Tensor | None) -> Tensor:
        return self.D(self.d_input(x), y)

    def state_dict(self) -> dict:
        return {"ada": self.ada.state_dict()} if self.ada is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])


# --- terms ---------------------------------------------------------------------------------------
def d_adversarial(game: Game) -> Tensor:
    x, y = game.real()
    fake = game.fake()
    r1 = game.cfg.loss.r1 > 0 and game.regularise_now()
    if r1:  # R1 differentiates this very forward pass instead of running D on the reals again
        x = x.detach().requires_grad_(True)
    real_out, fake_out = game.judge(x, y), game.judge(fake, game.fake_labels())
    if r1:
        game.real_scored = (x, real_out)
    if game.ada is not None:  # r_t = E[sign(D(x_real))] steers ADA's p
        game.ada.observe(real_out, game.step)
        game.stats.report("ada/p", game.ada.p)
        game.stats.report("ada/rt", real_out.detach().sign())
    loss = game.loss.d_loss(real_out, fake_out, game.cfg.loss.label_smoothing)
    s = game.stats
    s.report("loss/D", loss)
    if game.loss.probabilistic:
        s.report("D(x)", torch.sigmoid(real_out))
        s.report("D(G(z))", torch.sigmoid(fake_out))
    else:  # critics: raw scores; their gap estimates the distance being minimised
        s.report("D(x)", real_out)
        s.report("D(G(z))", fake_out)
    game.last_fake = fake
    return loss


def d_gradient_penalty(game: Game) -> Tensor:
    x, y = game.real()
    fake = game.last_fake
    gp = gradient_penalty(lambda v: game.D(v, y), x, fake, game.local_rng)
    game.stats.report("loss/gp", gp)
    return game.cfg.loss.gp_weight * gp


def d_r1_penalty(game: Game) -> Tensor:
    """R1: gamma/2 E||grad_x D(x)||^2 on real data, which makes the game converge locally instead of
    circling the equilibrium (Mescheder, Geiger & Nowozin 2018). The gradient is taken with respect
    to the un-augmented reals, through DiffAugment when it is on (as StyleGAN2-ADA does)."""
    if game.real_scored is None:  # set by d_adversarial on the (lazy) regularisation steps
        return torch.zeros((), device=game.device)
    x, out = game.real_scored  # D's scores of the reals from the adversarial term
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    penalty = grad.pow(2).flatten(1).sum(1).mean()
    game.stats.report("loss/r1", penalty)
    return 0.5 * game.cfg.loss.r1 * game.cfg.loss.reg_every * penalty


def d_r2_penalty(game: Game) -> Tensor:
    """R2: the R1 penalty on generated samples (Mescheder, Geiger & Nowozin 2018)."""
    if not game.regularise_now():
        return torch.zeros((), device=game.device)
    fake = game.last_fake.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(game.D(fake, game.fake_labels()).sum(), fake, create_graph=True)
    penalty = grad.pow(2).flatten(1).sum(1).mean()
    game.stats.report("loss/r2", penalty)
    return 0.5 * game.cfg.loss.r2 * game.cfg.loss.reg_every * penalty


def g_adversarial(game: Game) -> Tensor:
    fake = game.fake(for_generator=True)
    loss = game.loss.g_loss(game.judge(fake, game.fake_labels()))
    game.stats.report("loss/G", loss)
    return loss
