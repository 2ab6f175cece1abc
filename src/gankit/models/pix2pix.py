"""pix2pix (Isola et al. 2017): a U-Net generator ``G(a)``, a PatchGAN ``D(a, b)`` judging pairs,
and L1 + adversarial loss — colourisation, sketch -> image, inpainting, any paired translation.

``gankit train --data mnist-edges --model pix2pix``, ``--data photos-color``, ``--data
photos-inpaint``, or a folder with ``A/`` and ``B/`` (or side-by-side A|B images). Dropout is
pix2pix's noise while training and off at inference (the export runs in evaluation mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.models.base import Net, register_model
from gankit.models.translator import PairedObjective, TranslatorFamily
from gankit.nn.fill import FillResidual
from gankit.nn.image2image import PatchGAN, UNet
from gankit.nn.init import init_weights
from gankit.nn.stabilisers import apply_spectral_norm
from gankit.training.objective import Phase, Stage, TrainContext, warmup_stage


@dataclass
class Pix2PixOptions:
    width: int = field(default=32, metadata={"help": "channels of G's and D's first layer (pix2pix: 64)"})
    depth: int | None = field(
        default=None, metadata={"help": "U-Net down-samplings (auto: the crop down to 4x4, at most 7)"}
    )
    d_layers: int | None = field(
        default=None, metadata={"help": "PatchGAN stride-2 layers (auto: 3 from 64 px crops, else 2)"}
    )
    norm: str = field(default="instance", metadata={"help": "instance, batch or none"})
    dropout: float = field(
        default=0.5, metadata={"help": "dropout in G's inner up-samplings (training only)"}
    )
    l1_weight: float = field(default=100.0, metadata={"help": "weight of L1 to the target (pix2pix: 100)"})
    l1_holes: bool = field(
        default=False,
        metadata={"help": "inpainting: L1 averaged over the holes (what G makes), not the whole image"},
    )
    fill: str = field(
        default="none",
        metadata={"help": "inpainting: 'diffusion' fills the holes first and G learns the correction "
                  "(the inpainting recipe), 'none' gives G the zeroed holes as pix2pix does"},
    )  # fmt: skip


def unet_depth(crop: int, depth: int | None) -> int:
    """Down to a 4x4 bottleneck: instance norm needs more than one pixel to normalise."""
    return depth if depth is not None else max(1, min(7, int(math.log2(max(crop, 8))) - 2))


@register_model
class Pix2Pix(TranslatorFamily):
    name = "pix2pix"
    description = "pix2pix: U-Net + PatchGAN, L1 + adversarial (colourise, sketch -> image, inpaint, pairs)"
    Options = Pix2PixOptions
    network_names = ("G", "D")

    def recipe(self, data_name: str, data) -> dict[str, Any]:
        # The paper's Adam betas; batch 16 rather than 1 (a CPU step of 16 small crops costs little more
        # than one, and instance norm keeps the per-image behaviour); a higher learning rate than its
        # 2e-4, decayed linearly to 0, because a CPU run has minutes, not 200 epochs (mnist-inpaint,
        # 100 steps: L1 in the mask 0.163 at 1e-3 vs 0.234 at 2e-4; the diffusion fill scores 0.180)
        small = data.crop <= 32
        return {
            "loss.name": "nonsat", "optim.lr_g": 5e-4, "optim.lr_d": 5e-4, "optim.betas_g": (0.5, 0.999),
            "optim.betas_d": (0.5, 0.999), "optim.ema": 0.0, "optim.schedule": "linear",
            "train.batch_size": 16, "model.width": 16 if small else 32,
            "train.minutes": 5.0 if small else 15.0, "train.steps": 20000,
            # from the harmonic fill, not from zeros: photos-inpaint, 6 minutes on one AVX2 core, L1 in
            # the mask 0.099 from zeros, twice the fill's 0.045 (see docs/benchmarks.md)
            "model.fill": "diffusion" if data.task == "inpaint" else "none",
            "model.l1_holes": data.task == "inpaint",
            # L1 at 10x pix2pix's weight for holes: the critic's texture on smooth photographs cost
            # L1 (6 minutes, one core: 0.0450 at 100, 0.0438 at 1000, 0.0437 at 10000; fill 0.0450)
            "model.l1_weight": 1000.0 if data.task == "inpaint" else 100.0,
        }  # fmt: skip

    def resolve(self, cfg: Config, data) -> None:
        super().resolve(cfg, data)
        o = cfg.model.options
        o["depth"] = unet_depth(data.crop, o.get("depth"))
        if o.get("d_layers") is None:
            o["d_layers"] = 3 if data.crop >= 64 else 2
        for name, off in (("fill", "none"), ("l1_holes", False)):
            if o.get(name, off) != off and data.task != "inpaint":
                raise GankitError(
                    f"model.{name}={o[name]} is for holes, and {data.name} is a {data.task} task",
                    f"drop --set model.{name} (it is for inpainting)",
                )

    def validate(self, options: Pix2PixOptions, cfg: Config) -> list[str]:
        errors = []
        if options.norm not in ("instance", "batch", "none"):
            errors.append(f"model.norm={options.norm!r}: use instance, batch or none")
        if not 0 <= options.dropout < 1:
            errors.append(f"model.dropout={options.dropout} must be in [0, 1)")
        if options.fill not in ("none", "diffusion"):
            errors.append(f"model.fill={options.fill!r}: use none or diffusion")
        if options.width < 1 or options.l1_weight < 0:
            errors.append("model.width must be >= 1 and model.l1_weight >= 0")
        if cfg.model.conditional:
            errors.append("pix2pix is conditioned on its input image: drop --conditional")
        return errors

    def check_data(self, data) -> str | None:
        if data.scale != 1:
            return "its input and output have different sizes; use --model srgan for super-resolution"
        return None

    def build_translator(self, spec, in_channels: int, out_channels: int, meta=None) -> nn.Module:
        unet = UNet(in_channels, out_channels, spec.width, spec.depth, spec.norm, spec.dropout)
        return FillResidual(unet) if getattr(spec, "fill", "none") == "diffusion" else unet

    def network_facts(self, cfg: Config) -> dict[str, int]:
        o = cfg.model.options
        return {"stride": 2 ** o["depth"], "widest": o["width"] * 8}

    def networks(self, cfg: Config, data) -> dict[str, Net]:
        from gankit.models.base import model_view

        spec = model_view(cfg.model)
        g = init_weights(self.build_translator(spec, data.in_channels, data.out_channels), cfg.model.init)
        d = init_weights(PatchGAN(data.in_channels + data.out_channels, spec.width, spec.d_layers, spec.norm),
                         cfg.model.init)  # fmt: skip
        if cfg.model.spectral_norm:
            apply_spectral_norm(d)
        return {"G": Net(g, "g", ema=True, export=True), "D": Net(d, "d")}

    def objective(self, ctx: TrainContext) -> PairGame:
        return PairGame(ctx)


class PairGame(PairedObjective):
    """D judges (a, b) against (a, G(a)); G fools it and stays near b in L1. The D phase keeps G's
    forward graph for the G phase (G's weights have not changed in between)."""

    shown = ("loss/D", "loss/G", "loss/L1")

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        self.l1_weight = float(ctx.options["l1_weight"])
        self.l1_holes = bool(ctx.options.get("l1_holes", False))

    def stages(self) -> list[Stage]:
        d = Phase("D", "d", ("D",), [d_pairs], repeats=self.cfg.optim.n_critic, keeps=("G",))
        g = Phase("G", "g", ("G",), [g_pairs])
        return [*warmup_stage(d, self.cfg.optim.d_warmup), Stage("main", [d, g])]

    def judge(self, a: Tensor, b: Tensor) -> Tensor:
        return self.ctx.nets["D"](torch.cat([a, b], 1))


def d_pairs(game: PairGame) -> Tensor:
    a, b = game.pair()
    fake = game.fake()
    real_out, fake_out = game.judge(a, b), game.judge(a, fake)
    # halved, as pix2pix does, so D learns more slowly than G
    loss = 0.5 * game.loss.d_loss(real_out, fake_out, game.cfg.loss.label_smoothing)
    game.stats.report("loss/D", loss)
    game.report_scores(real_out, fake_out)
    return loss


def g_pairs(game: PairGame) -> Tensor:
    a, b = game.pair()
    fake = game.fake(for_generator=True)
    adversarial = game.loss.g_loss(game.judge(a, fake))
    if game.l1_holes:  # the input's last channel is the mask: the pixels G generates
        holes = a[:, -1:]
        l1 = ((fake - b).abs() * holes).sum() / (holes.sum() * b.shape[1]).clamp_min(1)
    else:
        l1 = (fake - b).abs().mean()
    game.stats.report("loss/G", adversarial)
    game.stats.report("loss/L1", l1)
    return adversarial + game.l1_weight * l1
