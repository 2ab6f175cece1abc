"""StyleGAN2 (Karras et al. 2020) as a family: a mapping network z (+ label) -> w, a skip generator of
modulated/demodulated convolutions with noise inputs and a learned constant, a residual D with
minibatch std, equalised learning rates (networks in nn/stylegan.py); class-conditional through
the mapping network and a projection in D, as StyleGAN2-ADA (Karras et al. 2020b).

The game is the standard one (models/adversarial.py, non-saturating loss by default) with:
style-mixing regularisation (two latents' ws split at a random layer, ``model.mixing`` of the
batches), lazy R1 (``loss.r1`` is gamma; on every ``model.r1_every``-th step, weighted by it, on the
D forward pass of that step), and optional path-length regularisation (``model.pl_weight``; its
own phase on every ``model.pl_every``-th step, its running mean saved with the objective). G tracks
the mean w per class; ``gankit sample --truncation`` truncates around it (the export says
``"truncation": "w"``), and ``gankit style-mix`` / ``gankit project`` use the two halves
``mapping`` and ``synthesis`` (gankit/latent_tools.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.latent import sample_latent
from gankit.models.adversarial import Game, d_r1_penalty
from gankit.models.base import Net, Shape, model_view, register_model
from gankit.models.generator import GeneratorFamily
from gankit.nn.stylegan import StyleDiscriminator, StyleGenerator, stylegan_levels
from gankit.training.objective import Phase, Stage, TrainContext


@dataclass
class StyleGANOptions:
    width: int = field(default=16, metadata={"help": "channels at the output size (doubling per halving)"})
    max_width: int = field(default=64, metadata={"help": "most channels at any resolution (G and D)"})
    # w must hold z and the label apart: at 64 (below z's 64 + the label's) the classes came slowly
    w_dim: int = field(default=128, metadata={"help": "size of w, the mapping network's output"})
    mapping_layers: int = field(default=2, metadata={"help": "layers of the mapping MLP (StyleGAN2: 8)"})
    # the label's share of the mapping input: at its default (as wide as w, twice z) a conditional
    # mnist run drew one digit per class whatever z was (recall 0.003); see the budget recipe
    label_dim: int = field(
        default=0, metadata={"help": "size of the label embedding fed to the mapping (0: w_dim)"}
    )
    mapping_lr: float = field(default=0.01, metadata={"help": "learning-rate multiplier of the mapping MLP"})
    noise: bool = field(default=True, metadata={"help": "per-pixel noise inputs of learned strength"})
    mixing: float = field(default=0.9, metadata={"help": "share of batches with style mixing (0: off)"})
    r1_every: int = field(default=16, metadata={"help": "lazy R1: every N steps, weighted by N"})
    pl_weight: float = field(default=0.0, metadata={"help": "path-length regularisation weight (0: off)"})
    pl_every: int = field(default=4, metadata={"help": "path-length regularisation every N steps"})
    pl_decay: float = field(default=0.01, metadata={"help": "rate of the path length's running mean"})
    w_avg_beta: float = field(default=0.995, metadata={"help": "decay of the tracked mean w"})


# On any data: StyleGAN2's optimiser (Adam 2e-3, betas (0, 0.99)), minibatch std over groups of 4,
# R1 gamma 1 (StyleGAN2-ADA's settings run from 0.01 at 32 px to 10 at 256 px) and a G EMA
_DEFAULTS: dict[str, Any] = {
    "model.latent_dim": 64,
    "model.mbstd": 4,
    "model.spectral_norm": False,
    "loss.r1": 1.0,
    "optim.lr_g": 2e-3,
    "optim.lr_d": 2e-3,
    "optim.betas_g": (0.0, 0.99),
    "optim.betas_d": (0.0, 0.99),
    "optim.n_critic": 1,
    "optim.ema": 0.999,
    "train.batch_size": 32,
}

# MNIST (and the 8x8 digits) at 32x32, class-conditional, sized for a 2-core CPU. Equalised learning
# rates make Adam's step the same share of every weight, so 2e-3 moves the networks too slowly for a
# 500-step run; 1e-2 learns, with R1 strong and frequent enough to hold D (gamma 4 every 4 steps).
# Measured on a 2-core AVX-512 EPYC shared with other jobs, pinned to one core, one thread: 500 steps
# (102 s of training) drew 0.97 of the digits of the class asked for (weakest class 0.90); 400 steps
# 0.86 (0.48), 300 steps 0.74 (0.42; tests/test_stylegan.py). At 400 steps, Adam 2e-3 drew 0.23;
# 1e-2 with gamma 1 every 4 steps 0.48, with gamma 0.1 every 16 steps 0.32; an untrained G ~0.1.
RECIPE_32: dict[str, Any] = {
    "model.conditional": True,
    "model.width": 8,
    "model.max_width": 32,
    "model.r1_every": 4,
    "loss.r1": 4.0,
    "optim.lr_g": 1e-2,
    "optim.lr_d": 1e-2,
    "optim.ema": 0.98,
    "train.steps": 500,
}

# A wall-clock budget (--minutes without --steps): the recipe with a narrow label embedding. With the
# embedding as wide as w (twice z) a ten-minute conditional run drew one digit per class whatever z
# was (recall 0.01, classifier FD 10.5); at 16 dims: recall 0.52, FD 1.36, confident 0.58, classes
# 9.3-11.8% (one core of an AVX2 EPYC, 4,101 steps; docs/benchmarks.md). A linear rate decay with an
# EMA of 0.995 on top gave FD 1.06 but classes 8.6-13.1%.
BUDGET_32: dict[str, Any] = {"model.label_dim": 16}


class StyleGame(Game):
    """The standard game plus style mixing, lazy R1 and the path-length phase."""

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        self.pl_mean = torch.zeros((), device=ctx.device)

    def stages(self) -> list[Stage]:
        m = self.cfg.model
        stages = super().stages()
        for stage in stages:
            for phase in stage.phases:  # R1 weighted by the family's own lazy interval
                phase.terms = [d_r1_lazy if t is d_r1_penalty else t for t in phase.terms]
            if m.pl_weight > 0 and stage.counts:
                stage.phases.append(Phase("Greg", "g", ("G",), [g_path_length], every=m.pl_every))
        return stages

    def regularise_now(self) -> bool:
        return self.step % self.cfg.model.r1_every == 0

    def _generate(self) -> Tensor:
        n, world, rank = self.cfg.train.batch_size, self.ctx.world, self.ctx.rank
        m = self.cfg.model
        z = sample_latent(n * world, m.latent_dim, m.prior, self.rng, self.device)
        mix = None
        if m.mixing > 0:  # drawn on the device, no host sync: a cutoff of num_ws mixes nothing
            num_ws = self.ctx.plain["G"].num_ws
            z2 = sample_latent(n * world, m.latent_dim, m.prior, self.rng, self.device)
            cutoff = torch.randint(1, num_ws, (), generator=self.rng, device=self.rng.device)
            on = torch.rand((), generator=self.rng, device=self.rng.device) < m.mixing
            mix = (z2[rank * n : (rank + 1) * n], torch.where(on, cutoff, num_ws).to(self.device))
        return self.G(z[rank * n : (rank + 1) * n], self.fake_labels(), mix=mix)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pl_mean": self.pl_mean.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "pl_mean" in state:
            self.pl_mean = state["pl_mean"].to(self.device)


def d_r1_lazy(game: StyleGame) -> Tensor:
    """R1 on the reals of this step's D pass, on every r1_every-th step, weighted by r1_every."""
    if game.real_scored is None:
        return torch.zeros((), device=game.device)
    x, out = game.real_scored
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    penalty = grad.pow(2).flatten(1).sum(1).mean()
    game.stats.report("loss/r1", penalty)
    return 0.5 * game.cfg.loss.r1 * game.cfg.model.r1_every * penalty


def g_path_length(game: StyleGame) -> Tensor:
    """Path-length regularisation (Karras et al. 2020, sec. 3.2): the Jacobian of the image with
    respect to w, applied to random image-space directions, should have a constant length, the
    running mean of the lengths; on half a batch, weighted by the interval."""
    m = game.cfg.model
    n = max(1, game.cfg.train.batch_size // 2)
    z = sample_latent(n, m.latent_dim, m.prior, game.rng, game.device)
    y = game.fake_labels()
    img, ws = game.G(z, y[:n] if y is not None else None, return_ws=True)
    noise = torch.randn(img.shape, generator=game.local_rng, device=img.device, dtype=img.dtype)
    noise = noise / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grad.float().square().sum(2).mean(1).sqrt()  # (n,)
    game.pl_mean = game.pl_mean.lerp(lengths.mean().detach(), m.pl_decay)
    penalty = (lengths - game.pl_mean).square().mean()
    game.stats.report("loss/pl", penalty)
    return penalty * m.pl_weight * m.pl_every


@register_model
class StyleGAN(GeneratorFamily):
    name = "stylegan"
    description = "StyleGAN2: mapping net, modulated convs, noise, skip G, residual D, R1, style mixing"
    Options = StyleGANOptions
    data_kinds = ("images",)
    convolutional = True
    styles = True  # its exports have per-layer styles (`gankit style-mix`, `gankit project`)
    recipes: dict[str, dict[str, Any]] = {"mnist": RECIPE_32, "digits": RECIPE_32}
    budget_recipes: dict[str, dict[str, Any]] = {"mnist": BUDGET_32, "digits": BUDGET_32}

    def check_shape(self, shape: Shape) -> str | None:
        if len(shape) != 3:
            return "stylegan models images; for points or tables use --model mlp"
        if shape[1] != shape[2] or stylegan_levels(shape[1]) is None:
            return (f"stylegan needs square images of size 4*2^k (8, 16, 32, 64, ...), got "
                    f"{shape[1]}x{shape[2]}; pass --resolution 32")  # fmt: skip
        return None

    def recipe(self, data_name: str, data: Any) -> dict[str, Any]:
        return {**_DEFAULTS, **self.recipes.get(data_name, {})}

    def resolve(self, cfg, data) -> None:
        m, loss = cfg.model, cfg.loss
        if m.d_norm == "auto":
            m.d_norm = "none"
        checks = [
            (m.d_norm == "none", "stylegan's D has no norm layers: drop model.d_norm"),
            (
                m.init == "normal",
                "stylegan initialises its own way (equalised learning rate): drop model.init",
            ),
            (not m.spectral_norm, "stylegan's D uses R1, not spectral norm: drop model.spectral_norm"),
            (m.pack == 1, "stylegan's D judges one image at a time: drop model.pack"),
            (loss.reg_every == 1, "stylegan's lazy R1 interval is model.r1_every: drop loss.reg_every"),
            (loss.r2 == 0, "stylegan regularises D with R1 (loss.r1): drop loss.r2"),
            (m.width >= 1 and m.max_width >= m.width, "model.width must be >= 1 and <= model.max_width"),
            (m.w_dim >= 1 and m.mapping_layers >= 1, "model.w_dim and model.mapping_layers must be >= 1"),
            (m.label_dim >= 0, "model.label_dim must be >= 0 (0: as wide as w)"),
            (m.mapping_lr > 0, "model.mapping_lr must be > 0"),
            (0 <= m.mixing <= 1, "model.mixing must be in [0, 1]"),
            (m.r1_every >= 1 and m.pl_every >= 1, "model.r1_every and model.pl_every must be >= 1"),
            (m.pl_weight >= 0 and 0 < m.pl_decay <= 1, "model.pl_weight must be >= 0, pl_decay in (0, 1]"),
            (0 < m.w_avg_beta < 1, "model.w_avg_beta must be in (0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise GankitError(f"invalid config: {message}", "fix the value in --config or --set")

    def networks(self, cfg, data) -> dict[str, Net]:
        # the family's own init (equalised learning rate), not GeneratorFamily's model.init
        spec = model_view(cfg.model)
        k = data.num_classes if cfg.model.conditional else 0
        g = self.build_generator(spec, data.shape, k)
        d = self.build_discriminator(spec, data.shape, k, cfg.model.d_norm)
        return {"G": Net(g, "g", ema=True, export=True), "D": Net(d, "d")}

    def build_generator(self, spec, shape: Shape, num_classes: int) -> nn.Module:
        s = spec
        sizes = (s.latent_dim, s.w_dim, s.mapping_layers, s.width, s.max_width)
        return StyleGenerator(shape, num_classes, *sizes, s.w_avg_beta, s.mapping_lr, s.noise, s.label_dim)

    def build_discriminator(self, spec, shape: Shape, num_classes: int, norm: str) -> nn.Module:
        return StyleDiscriminator(shape, num_classes, spec.width, spec.max_width, spec.mbstd, spec.cond_d)

    def objective(self, ctx: TrainContext) -> StyleGame:
        return StyleGame(ctx)

    def export_meta(self, ctx: TrainContext) -> dict[str, Any]:
        # what the exported generator offers besides G(z, y): truncation in w, per-layer styles
        num_ws = 2 * len(stylegan_levels(ctx.data.shape[-1]))
        return {**super().export_meta(ctx), "truncation": "w", "styles": num_ws}
