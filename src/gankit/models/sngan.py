"""SNGAN (Miyato et al. 2018): a ResNet generator with class-conditional batch norm and a spectrally
normalised ResNet discriminator with a projection head (Miyato & Koyama 2018), trained with the
hinge loss; networks in nn/resnet.py.

The family's defaults come through its recipe (filled only into fields left on auto, after the
loss's recommendations): spectral norm in D, Adam(2e-4, betas (0, 0.9)) as in the paper's ResNet
runs, a generator EMA. The hinge loss comes through :meth:`SNGAN.resolve`: ``loss.name`` is never
on auto, so its default ``nonsat`` is read as "the family's loss" (another loss, named, is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from gankit.errors import GankitError
from gankit.models.base import Net, Shape, model_view, register_model
from gankit.models.generator import GeneratorFamily
from gankit.nn.resnet import (
    ResNetDiscriminator,
    ResNetGenerator,
    init_resnet,
    levels,
    pyramid,
    spectral_norm_layers,
)

InitScheme = Literal["xavier", "orthogonal", "normal"]


@dataclass
class SNGANOptions:
    # a step at width 16 costs about 3x one at 8 on a 2-core CPU at 32x32 (the full-size 3x3 convs)
    width: int = field(default=8, metadata={"help": "channels at the output size (4x at the smallest)"})
    attention: int = field(
        default=0, metadata={"help": "resolution of a self-attention block in G and D, e.g. 16 (0: off)"}
    )
    weight_init: InitScheme = field(
        default="xavier", metadata={"help": "the family's init: xavier (SNGAN), orthogonal, normal"}
    )


# What both ResNet families start from on any data (the loss's recommendations come first): spectral
# norm in D, Adam betas (0, 0.9) as in SNGAN's ResNet runs (BigGAN: (0, 0.999)), one D step per G
# step (the papers take 2-5; on a CPU each costs a G step's time), a generator EMA
_DEFAULTS: dict[str, Any] = {
    "model.spectral_norm": True,
    "model.latent_dim": 64,
    "optim.lr_g": 2e-4,
    "optim.lr_d": 2e-4,
    "optim.betas_g": (0.0, 0.9),
    "optim.betas_d": (0.0, 0.9),
    "optim.n_critic": 1,
    "optim.ema": 0.999,
    "train.batch_size": 64,
}


# MNIST (and the 8x8 digits) at 32x32, class-conditional: a step of these ResNets costs about ten of
# dcgan's, so the recipe is a short run with a fast optimiser rather than a long one: width 8, batch 32,
# Adam 2e-3 for both networks and an EMA of 0.98 (0.999 still averages in the untrained start after
# 600 steps: 0.11 of the digits of the class asked for, where the raw weights drew digits). Measured
# on a 2-core AVX-512 EPYC shared with other jobs, one thread, 500 steps (tests/test_learning.py):
# biggan 0.90 of the digits of the asked-for class (weakest class 0.60) in 102-170 s of training,
# sngan 0.90 (0.66) in 91-100 s; 300 steps gave 0.33; Adam 1e-3 with EMA 0.99 needed 800 steps for 0.90. The
# 8x8 digits at --resolution 32: biggan 0.996 by the digits classifier (weakest class 0.98), 163 s.
RECIPE_32 = {
    "model.conditional": True,
    "model.width": 8,
    "train.batch_size": 32,
    "optim.lr_g": 2e-3,
    "optim.lr_d": 2e-3,
    "optim.ema": 0.98,
    "train.steps": 500,
}

# A wall-clock budget (--minutes without --steps) runs thousands of steps, not the recipe's 500. At
# the recipe's constant 2e-3 for ten minutes BigGAN drifted (a class at 1.3% of the samples, another
# at 28%; 0.19 drawn with confidence); the rate decaying linearly to 0 over the planned length and an
# EMA of 0.995 instead of 0.98: 0.64 confident, classes 8.7-11.1%, classifier FD 2.5 (one core of an
# AVX2 EPYC, 5,011 steps; docs/benchmarks.md). Width 16 at the same budget ran a third of the steps
# and scored lower (0.60).
BUDGET_32 = {"optim.schedule": "linear", "optim.ema": 0.995}


def check_resnet_shape(name: str, shape: Shape) -> str | None:
    if len(shape) != 3:
        return f"{name} models images; for points or tables use --model mlp"
    c, h, w = shape
    base, n = pyramid(h)
    if h != w or n < 1 or base > 7:
        return (
            f"{name} needs square images of size b*2^k with b in 4..7 (e.g. 8, 28, 32, 64), got {h}x{w}; "
            "set --set data.resolution=32"
        )
    return None


@register_model
class SNGAN(GeneratorFamily):
    name = "sngan"
    description = "SNGAN: ResNet G with class-conditional BN, spectrally normalised ResNet D, hinge loss"
    Options = SNGANOptions
    data_kinds = ("images",)
    convolutional = True
    defaults = _DEFAULTS
    recipes: dict[str, dict[str, Any]] = {"mnist": RECIPE_32, "digits": RECIPE_32}
    budget_recipes: dict[str, dict[str, Any]] = {"mnist": BUDGET_32, "digits": BUDGET_32}

    def check_shape(self, shape: Shape) -> str | None:
        return check_resnet_shape(self.name, shape)

    def recipe(self, data_name: str, data: Any) -> dict[str, Any]:
        return {**self.defaults, **self.recipes.get(data_name, {})}

    def resolve(self, cfg, data) -> None:
        m = cfg.model
        if cfg.loss.name == "nonsat":  # the config's default, not a choice gankit can tell apart
            cfg.loss.name = "hinge"
        if m.d_norm == "auto":
            m.d_norm = "none"
        errors = []
        if m.d_norm != "none":
            errors.append(f"{self.name}'s D has no norm layers (spectral norm instead): drop model.d_norm")
        if m.init != "normal":
            errors.append(f"{self.name} initialises its own way: set model.weight_init, not model.init")
        reached = levels(data.shape[-1])
        if m.attention and m.attention not in reached:
            errors.append(f"model.attention={m.attention} is not a resolution of these networks: use one of "
                          f"{', '.join(map(str, reached))} (or 0: off)")  # fmt: skip
        if m.width < 1:
            errors.append("model.width must be >= 1")
        errors += self.check_options(cfg, data)
        for message in errors:
            raise GankitError(f"invalid config: {message}", "fix the value in --config or --set")

    def check_options(self, cfg, data) -> list[str]:
        return []

    # --- networks ------------------------------------------------------------------------------
    def networks(self, cfg, data) -> dict[str, Net]:
        # the family's own init (not GeneratorFamily's model.init), then spectral norm over it
        spec = model_view(cfg.model)
        k = data.num_classes if cfg.model.conditional else 0
        g = self.build_generator(spec, data.shape, k)
        d = init_resnet(self.build_discriminator(spec, data.shape, k, cfg.model.d_norm), spec.weight_init)
        if cfg.model.spectral_norm:
            spectral_norm_layers(d)
        return {"G": Net(g, "g", ema=True, export=True), "D": Net(d, "d")}

    def build_generator(self, spec, shape: Shape, num_classes: int) -> nn.Module:
        """Also rebuilds the export, so G's spectral norm (BigGAN) is part of its architecture."""
        g = ResNetGenerator(shape, num_classes, spec.latent_dim, spec.width, spec.attention)
        return init_resnet(g, spec.weight_init)

    def build_discriminator(self, spec, shape: Shape, num_classes: int, norm: str) -> nn.Module:
        return ResNetDiscriminator(
            shape, num_classes, spec.width, spec.attention, spec.cond_d, spec.pack, spec.mbstd
        )
