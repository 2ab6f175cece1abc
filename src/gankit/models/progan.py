"""ProGAN (Karras et al. 2018): progressive growing as a family with stages, on the one loop.

Stage 0 trains G and D at ``model.start_resolution`` (4x4 or 8x8); each later stage's ``enter()``
grows both networks by a 2x block (nn/progan.py) and returns True, so the loop rebuilds optimisers
(ProGAN resets Adam at each new resolution too), EMAs and wrappers. The new block fades in: alpha
goes 0 -> 1 over the first ``model.fade`` of its stage, computed from the step and the step the stage
began (objective state), so a run resumed mid-fade is bit-identical. D sees reals average-pooled to
its resolution and, during a fade, blended with their half-size version as G's output is; fakes are
pooled the same way, so R1 and augmentation act at the resolution being trained.

The schedule is in images per stage (``model.stage_kimg``, ProGAN's 600k fading + 600k stabilising),
but the growing stages take at most ``model.grow_share`` of the run together: a shorter run (a small
``--steps`` or a ``--minutes`` budget) shortens every stage alike. Stage lengths are read when the loop
asks (as SRGAN's stage share is), so a budget's re-plan moves the stages still to come.

The loss: the non-saturating one with R1 on the reals (Mescheder et al. 2018), as the same authors'
StyleGAN uses, rather than ProGAN's WGAN-GP with its drift term: R1 needs no interpolates between
real and fake images (which straddle the fade's blend), converges locally, and leaves D(x) a
probability the monitor reads. Another loss, named with --loss, is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import LOSSES
from gankit.models.adversarial import Game
from gankit.models.base import Net, Shape, model_view, register_model
from gankit.models.generator import GeneratorFamily
from gankit.nn.progan import ProDiscriminator, ProGenerator, resolutions
from gankit.training.objective import Phase, Stage, TrainContext


@dataclass
class ProGANOptions:
    width: int = field(
        default=8, metadata={"help": "channels at the data's size (2x per halving, at most 8x)"}
    )
    start_resolution: int = field(default=4, metadata={"help": "resolution of the first stage: 4 or 8"})
    stage_kimg: float = field(
        default=1200.0, metadata={"help": "thousands of real images per stage (ProGAN: 600 fading + 600)"}
    )
    fade: float = field(default=0.5, metadata={"help": "share of a new stage over which its block fades in"})
    grow_share: float = field(
        default=0.5, metadata={"help": "most of the run the growing stages take (shorter runs shrink them)"}
    )


# What progan starts from on any data: ProGAN's Adam (lr 1e-3, betas (0, 0.99)), minibatch std over
# groups of 4, R1 on the reals, a generator EMA
_DEFAULTS: dict[str, Any] = {
    "model.mbstd": 4,
    "model.spectral_norm": False,
    "model.latent_dim": 64,
    "loss.r1": 1.0,
    "optim.lr_g": 1e-3,
    "optim.lr_d": 1e-3,
    "optim.betas_g": (0.0, 0.99),
    "optim.betas_d": (0.0, 0.99),
    "optim.n_critic": 1,
    "optim.ema": 0.999,
    "train.batch_size": 32,
}

# MNIST (and the 8x8 digits) at 32x32, class-conditional, sized for a 2-core CPU: stages 4 -> 8 -> 16
# -> 32 in the first half of the run, then 32x32 to the end. Equalised lr makes Adam's step a share
# lr of each weight's N(0, 1) scale, so ProGAN's 1e-3 (meant for millions of images) barely moves a
# 600-step run: at 300 steps and width 8, 1e-3 drew 0.09 of the digits of the class asked for (chance),
# 5e-3 0.54, 1e-2 0.81. Width 4 (32 channels at 4x4 down to 4 at 32x32) halves a step's time for a
# little less: 0.76 (seed 1: 0.66) at 300 steps in 52 s of training. The recipe's 600 steps: 0.91 of
# the digits of the class asked for, the weakest class 0.62, in 113 s of training. Measured with
# gankit's MNIST classifier on a 2-core AVX-512 EPYC shared with two other jobs, pinned to one core,
# one thread (load average about 3). The 8x8 digits at --resolution 32, the same 600 steps: 0.994 by
# the digits classifier at 32x32 (weakest class 0.96), 219 s with a third job on the core.
RECIPE_32 = {
    "model.conditional": True,
    "model.width": 4,
    "optim.lr_g": 1e-2,
    "optim.lr_d": 1e-2,
    "optim.ema": 0.99,
    "train.steps": 600,
}


class GrowStage(Stage):
    """A stage whose length the game computes when asked (it follows the run's length)."""

    def __init__(self, name: str, phases: list[Phase], game: ProGANGame, enter=None):
        super().__init__(name, phases, enter=enter)
        self._game = game

    @property
    def length(self) -> int:  # type: ignore[override]
        return self._game.stage_length()

    @length.setter
    def length(self, value) -> None:  # the dataclass __init__ sets it; the game decides
        pass


def grow(game: ProGANGame) -> bool:
    """Enter the next resolution: both networks gain a block, faded in from this step on."""
    index = len(game.ctx.plain["G"].blocks) + 1
    g = torch.Generator().manual_seed(game.cfg.train.seed + 1000 + index)  # not the run's RNG streams
    game.ctx.plain["G"].grow(g)
    game.ctx.plain["D"].grow(g)
    # the loop enters a stage after the step that ended the previous one (ctx.step is that step)
    game.stage_start = game.ctx.step + 1
    return True


class ProGANGame(Game):
    """The standard game at the resolution of the current stage, with the fade-in's alpha."""

    shown = (*Game.shown, "resolution", "alpha")

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        o = ctx.options
        self.resolutions = resolutions(o["start_resolution"], ctx.data.shape[-1])
        self.stage_start = 0

    def stage_length(self) -> int:
        """Steps of each growing stage: stage_kimg's images, or less when the run is short."""
        o, t = self.ctx.options, self.cfg.train
        images = round(o["stage_kimg"] * 1000 / (t.batch_size * self.ctx.world))
        share = int(o["grow_share"] * t.steps / max(1, len(self.resolutions) - 1))
        return max(1, min(images, share))

    def alpha(self, step: int | None = None) -> float:
        """The fade-in weight of the newest block at ``step`` (this step by default)."""
        step = self.step if step is None else step
        fade = round(self.ctx.options["fade"] * self.stage_length())
        if not self.ctx.plain["G"].blocks or fade <= 0:
            return 1.0
        return min(1.0, (step - self.stage_start) / fade)

    def stages(self) -> list[Stage]:
        *_, main = super().stages()  # D (adversarial + R1 ...), then G
        stages: list[Stage] = []
        for i, res in enumerate(self.resolutions):
            name, enter = f"{res}x{res}", grow if i else None
            last = i == len(self.resolutions) - 1
            stages.append(
                Stage(name, main.phases, enter=enter) if last else GrowStage(name, main.phases, self, enter)
            )
        return stages

    def new_repeat(self) -> None:
        super().new_repeat()
        a = self.alpha()
        self.ctx.plain["G"].alpha.fill_(a)
        self.ctx.plain["D"].alpha.fill_(a)
        self.stats.report("alpha", a)  # host floats: no sync
        self.stats.report("resolution", self.resolution)

    @property
    def resolution(self) -> int:
        return self.ctx.plain["D"].resolution

    def real(self) -> tuple[Tensor, Tensor | None]:
        """This repeat's reals at the stage's resolution, blended like G's output while fading."""
        if self._real is None:
            x, y = super().real()
            if x.shape[-1] > self.resolution:
                x = F.adaptive_avg_pool2d(x, self.resolution)
            a = self.alpha()
            if a < 1:
                low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
                x = x + (1 - a) * (low - x)
            self._real = (x, y)
        return self._real

    def _generate(self) -> Tensor:
        x = super()._generate()  # G draws at the data's size: back to its own resolution
        return F.adaptive_avg_pool2d(x, self.resolution) if x.shape[-1] > self.resolution else x

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "stage_start": self.stage_start}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.stage_start = int(state.get("stage_start", 0))


def check_progan_shape(shape: Shape) -> str | None:
    if len(shape) != 3:
        return "progan models images; for points or tables use --model mlp"
    h, w = shape[1:]
    if h != w or h < 4 or h & (h - 1):
        return f"progan grows by 2x from 4x4 or 8x8, got {h}x{w}: set --set data.resolution=32 (or 8, 16, 64)"
    return None


@register_model
class ProGAN(GeneratorFamily):
    name = "progan"
    description = "ProGAN: progressive growing with fade-in, equalised lr, pixel norm, minibatch std, R1"
    Options = ProGANOptions
    data_kinds = ("images",)
    convolutional = True
    recipes: dict[str, dict[str, Any]] = {"mnist": RECIPE_32, "digits": RECIPE_32}

    def check_shape(self, shape: Shape) -> str | None:
        return check_progan_shape(shape)

    def recipe(self, data_name: str, data: Any) -> dict[str, Any]:
        return {**_DEFAULTS, **self.recipes.get(data_name, {})}

    def resolve(self, cfg, data) -> None:
        m = cfg.model
        if m.d_norm == "auto":
            m.d_norm = "none"
        if LOSSES.get(cfg.loss.name).gradient_penalty and cfg.loss.r1 == _DEFAULTS["loss.r1"]:
            cfg.loss.r1 = 0.0  # WGAN-GP (ProGAN's own loss) brings its penalty: not R1 on top of it
        errors = []
        if m.d_norm != "none":
            errors.append("progan's D has no norm layers: drop model.d_norm")
        if m.init != "normal":
            errors.append("progan initialises its own way (equalised learning rate): drop model.init")
        if m.spectral_norm:
            errors.append("progan uses equalised learning rate, not spectral norm: drop model.spectral_norm")
        if m.pack > 1:
            errors.append("progan's D judges one sample at a time: drop model.pack")
        if cfg.optim.d_warmup:
            errors.append("progan has no D warm-up stage: drop optim.d_warmup")
        if m.start_resolution not in (4, 8) or m.start_resolution > data.shape[-1]:
            errors.append(
                f"model.start_resolution={m.start_resolution}: use 4 or 8 (at most the data's size)"
            )
        if m.width < 1 or m.stage_kimg <= 0:
            errors.append("model.width must be >= 1 and model.stage_kimg > 0")
        if not 0 <= m.fade <= 1 or not 0 < m.grow_share <= 1:
            errors.append("model.fade must be in [0, 1] and model.grow_share in (0, 1]")
        for message in errors:
            raise GankitError(f"invalid config: {message}", "fix the value in --config or --set")

    def networks(self, cfg, data) -> dict[str, Net]:
        # equalised learning rate is the init (N(0, 1) weights, scaled at run time): the shared
        # model.init must not overwrite it, so GeneratorFamily.networks is not used
        spec = model_view(cfg.model)
        k = data.num_classes if cfg.model.conditional else 0
        g = self.build_generator(spec, data.shape, k)
        d = ProDiscriminator(data.shape, k, spec.width, spec.start_resolution, spec.cond_d, spec.mbstd)
        return {"G": Net(g, "g", ema=True, export=True), "D": Net(d, "d")}

    def build_generator(self, spec, shape: Shape, num_classes: int) -> nn.Module:
        return ProGenerator(shape, num_classes, spec.latent_dim, spec.width, spec.start_resolution)

    def build_export(self, meta: dict[str, Any]) -> nn.Module:
        g = super().build_export(meta)
        for _ in range(meta.get("stage", 0)):  # the stage it was exported at: its grown blocks
            g.grow(torch.Generator())  # weights come from the file: leave the global RNG be
        return g

    def objective(self, ctx: TrainContext) -> ProGANGame:
        return ProGANGame(ctx)
