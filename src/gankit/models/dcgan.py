"""DCGAN (Radford, Metz & Chintala 2016), as in the PyTorch DCGAN example.

At resolution 64, latent 100 and width 64 the layers are exactly the example's: a transposed-conv
generator 100 -> 512x4x4 -> 256x8x8 -> 128x16x16 -> 64x32x32 -> Cx64x64 with batch norm and ReLU,
tanh out; a strided-conv discriminator with LeakyReLU(0.2) and batch norm on all but the first
block, no biases. The one difference is where the sigmoid lives: D returns logits and the losses
apply the sigmoid inside a numerically stable BCE-with-logits, which computes the same function.

Other resolutions keep the pattern: the stack starts at a base size b in 4..7 and doubles up to the
resolution, so 28x28 MNIST is 7 -> 14 -> 28 and 32x32 is 4 -> 8 -> 16 -> 32.

Two options leave the example's layout by default: ``model.extra_convs=k`` adds k stride-1 3x3 conv
layers at each resolution of both networks, and ``model.upsample="nearest"`` doubles G's resolution
by a nearest resize and a 3x3 conv (resize-convolution, Odena et al. 2016), which cannot draw the
checkerboard a stride-2 transposed conv can. The stacked-mnist recipe uses both (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gankit.models.base import Shape, register_model
from gankit.models.generator import GeneratorFamily
from gankit.nn.conditioning import ProjectionHead, concat_label, label_embed_dim
from gankit.nn.stabilisers import MinibatchStd, pack_samples


def pyramid(resolution: int) -> tuple[int, int]:
    """(base size, number of 2x up/down-sampling layers) for a square resolution."""
    base, n = resolution, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, n = base // 2, n + 1
    return base, n


def check_shape(shape: Shape) -> str | None:
    if len(shape) != 3:
        return "dcgan models images; for points or tables use --model mlp"
    c, h, w = shape
    base, n = pyramid(h)
    if h != w or n < 1 or base > 7:
        return (
            f"dcgan needs square images of size b*2^k with b in 4..7 (e.g. 8, 28, 32, 64, 128), got {h}x{w}; "
            "set --set data.resolution=32"
        )
    return None


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: Any, shape: Shape, num_classes: int = 0):
        super().__init__()
        channels, res, _ = shape
        base, n = pyramid(res)
        self.embed = nn.Embedding(num_classes, label_embed_dim(num_classes)) if num_classes else None
        nz = cfg.latent_dim + (self.embed.embedding_dim if self.embed else 0)
        ch = cfg.width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, ch, base, 1, 0, bias=False),
            *_g_norm_act(ch),
            *_extra_convs(cfg.extra_convs, ch, _g_norm_act),
        ]
        for _ in range(n - 1):
            layers += [
                _upsample(cfg.upsample, ch, ch // 2),
                *_g_norm_act(ch // 2),
                *_extra_convs(cfg.extra_convs, ch // 2, _g_norm_act),
            ]
            ch //= 2
        layers += [_upsample(cfg.upsample, ch, channels), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = concat_label(z, self.embed, y)
        return self.main(z[:, :, None, None])  # (B, nz, 1, 1) -> (B, C, H, W)


def _upsample(mode: str, cin: int, cout: int) -> nn.Module:
    """Twice the resolution: the example's stride-2 transposed conv, or nearest resize + 3x3 conv."""
    if mode == "nearest":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        )
    return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)


def _extra_convs(k: int, ch: int, norm_act: Callable[[int], list[nn.Module]]) -> list[nn.Module]:
    """``k`` stride-1 3x3 conv layers that keep the resolution, each followed by ``norm_act(ch)``:
    depth where it is cheapest to add (the example's 28x28 stack is two layers deep per network)."""
    return [layer for _ in range(k) for layer in (nn.Conv2d(ch, ch, 3, 1, 1, bias=False), *norm_act(ch))]


def _g_norm_act(ch: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(ch), nn.ReLU(True)]


def _norm(kind: str, ch: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(ch)]
    if kind == "layer":  # layer norm over (C, H, W): the critic norm WGAN-GP recommends
        return [nn.GroupNorm(1, ch)]
    return []


def _d_norm_act(kind: str, ch: int) -> list[nn.Module]:
    return [*_norm(kind, ch), nn.LeakyReLU(0.2, inplace=True)]


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: Any, shape: Shape, num_classes: int = 0, norm: str = "batch"):
        super().__init__()
        channels, res, _ = shape
        base, n = pyramid(res)
        # concat conditioning: the label becomes one extra input channel through a learned map
        self.label_map = (
            nn.Embedding(num_classes, res * res) if (num_classes and cfg.cond_d == "concat") else None
        )
        ch = cfg.width
        self.pack = cfg.pack
        in_ch = (channels + (1 if self.label_map is not None else 0)) * cfg.pack
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, ch, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            *_extra_convs(cfg.extra_convs, ch, partial(_d_norm_act, norm)),
        ]
        for _ in range(n - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                *_d_norm_act(norm, ch * 2),
                *_extra_convs(cfg.extra_convs, ch * 2, partial(_d_norm_act, norm)),
            ]
            ch *= 2
        self.features = nn.Sequential(*layers)
        self.mbstd = MinibatchStd(cfg.mbstd) if cfg.mbstd else None
        self.head = nn.Conv2d(ch + (1 if self.mbstd is not None else 0), 1, base, 1, 0, bias=False)
        self.project = ProjectionHead(num_classes, ch) if (num_classes and self.label_map is None) else None
        self.res = res

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.label_map is not None:
            if y is None:
                raise ValueError("this model is conditional: pass labels")
            x = torch.cat([x, self.label_map(y).view(-1, 1, self.res, self.res).to(x.dtype)], dim=1)
        x, y = pack_samples(x, y, self.pack)  # (B, C, H, W) -> (B / pack, pack * C, H, W)
        h = self.features(x)  # (B, C, base, base)
        out = self.head(self.mbstd(h) if self.mbstd is not None else h).flatten()
        if self.project is not None:
            if y is None:
                raise ValueError("this model is conditional: pass labels")
            out = out + self.project(h.sum(dim=(2, 3)), y)
        return out


@dataclass
class DCGANOptions:
    width: int = field(default=64, metadata={"help": "base channels (G's last and D's first layer)"})
    extra_convs: int = field(
        default=0, metadata={"help": "stride-1 3x3 conv layers added at each resolution (0: none)"}
    )
    # how each layer of G doubles the resolution; "nearest" resizes then applies a 3x3 conv, which
    # cannot draw the checkerboard a stride-2 transposed conv can (Odena et al. 2016)
    upsample: Literal["transposed", "nearest"] = field(
        default="transposed", metadata={"help": "G's 2x step: transposed conv, or nearest resize + 3x3 conv"}
    )


# Measured on a 2-core CPU (docs/benchmarks.md): with labels at hand, a class-conditional DCGAN whose
# discriminator sees the label as an extra input plane (concat) draws crisp digits of every class in
# equal shares; unconditional training (--unconditional) leaves the classes unbalanced.
_MNIST = {
    "model.conditional": True,
    "model.cond_d": "concat",
    "model.latent_dim": 64,
    "model.width": 64,
    "train.batch_size": 64,
    "train.steps": 7000,
    "optim.lr_g": 2e-4,
    "optim.lr_d": 2e-4,
    "optim.ema": 0.999,
}


@register_model
class DCGAN(GeneratorFamily):
    name = "dcgan"
    description = "DCGAN: transposed-conv G, strided-conv D, batch norm (images 8-128 px, 1 or 3 channels)"
    Options = DCGANOptions
    data_kinds = ("images",)
    priority = 10  # the default for images it can model
    convolutional = True
    recipes = {
        # the default job: a 9-minute budget (finishes within 10 minutes on a 2-core AVX2 laptop that
        # trains 4x slower than the machine it was measured on) at width 32 and Adam 5e-4, which gets
        # the most quality out of a fixed time (docs/benchmarks.md, "default job"); at most 30,000 steps
        "mnist": {
            **_MNIST,
            "model.width": 32,
            "optim.lr_g": 5e-4,
            "optim.lr_d": 5e-4,
            "train.steps": 30000,
            "train.minutes": 9.0,
        },
        "digits": {
            "model.conditional": True,
            "model.cond_d": "concat",
            "model.width": 64,
            "train.steps": 3000,
        },
        # unconditional (1,000 modes: no label shortcut), PacGAN-2, one extra 3x3 conv per resolution
        # and nearest-resize upsampling. Measured (docs/benchmarks.md, seeds 0 and 1): 1000 modes,
        # KL 0.173 / 0.136, 21-25% legible digits, 13.5-13.8 min; the plain DCGAN stack gave 997-999
        # modes and KL 0.238 / 0.249 in ~4-6 min, with one channel in two runs of the deeper
        # transposed-conv stack drawing broken strokes (KL 0.32)
        "stacked-mnist": {
            **_MNIST,
            "model.conditional": False,
            "model.pack": 2,
            "model.extra_convs": 1,
            "model.upsample": "nearest",
        },
    }

    def check_shape(self, shape: Shape) -> str | None:
        return check_shape(shape)

    def resolve(self, cfg, data) -> None:
        from gankit.losses import LOSSES

        if cfg.model.d_norm == "auto":  # SN replaces D's batch norm (Miyato 2018); so does a GP critic
            free = LOSSES.get(cfg.loss.name).batchnorm_free or cfg.model.spectral_norm
            cfg.model.d_norm = "none" if free else "batch"

    def validate(self, options: DCGANOptions, cfg) -> list[str]:
        errors = []
        if options.extra_convs < 0:
            errors.append("model.extra_convs must be >= 0 (0: the plain DCGAN stack)")
        if options.width < 1:
            errors.append("model.width must be >= 1")
        return errors

    def build_generator(self, spec, shape: Shape, num_classes: int) -> nn.Module:
        return DCGANGenerator(spec, shape, num_classes)

    def build_discriminator(self, spec, shape: Shape, num_classes: int, norm: str) -> nn.Module:
        return DCGANDiscriminator(spec, shape, num_classes, norm)
