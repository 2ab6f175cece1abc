"""Vanilla GAN: fully connected generator and discriminator (Goodfellow et al. 2014)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from gankit.models.base import Shape, register_model
from gankit.models.generator import GeneratorFamily
from gankit.nn.conditioning import ProjectionHead, concat_label, label_embed_dim
from gankit.nn.stabilisers import MinibatchStd, pack_samples


class MLPGenerator(nn.Module):
    """z (B, latent) [+ label embedding] -> `depth` ReLU layers of `width` -> data (tanh for images)."""

    def __init__(self, cfg: Any, shape: Shape, num_classes: int = 0, tanh: bool = True):
        super().__init__()
        self.shape = shape
        self.embed = nn.Embedding(num_classes, label_embed_dim(num_classes)) if num_classes else None
        layers: list[nn.Module] = []
        fan_in = cfg.latent_dim + (self.embed.embedding_dim if self.embed else 0)
        for _ in range(cfg.depth):
            layers.append(nn.Linear(fan_in, cfg.width, bias=cfg.g_norm != "batch"))
            if cfg.g_norm == "batch":
                layers.append(nn.BatchNorm1d(cfg.width))
            layers.append(nn.ReLU(inplace=True))
            fan_in = cfg.width
        layers.append(nn.Linear(fan_in, math.prod(shape)))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = concat_label(z, self.embed, y)
        return self.net(z).view(len(z), *self.shape)


class MLPDiscriminator(nn.Module):
    """data -> `depth` LeakyReLU(0.2) layers of `width` -> logit; conditioned by projection or concat."""

    def __init__(self, cfg: Any, shape: Shape, num_classes: int = 0, norm: str = "none"):
        super().__init__()
        self.pack = cfg.pack
        fan_in = math.prod(shape) * cfg.pack
        self.concat = (
            nn.Embedding(num_classes, label_embed_dim(num_classes))
            if (num_classes and cfg.cond_d == "concat")
            else None
        )
        if self.concat is not None:
            fan_in += self.concat.embedding_dim * cfg.pack
        layers: list[nn.Module] = []
        for i in range(cfg.depth):
            layers.append(nn.Linear(fan_in, cfg.width))
            if norm == "layer" and i > 0:
                layers.append(nn.LayerNorm(cfg.width))
            elif norm == "batch" and i > 0:
                layers.append(nn.BatchNorm1d(cfg.width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            fan_in = cfg.width
        self.features = nn.Sequential(*layers)
        self.mbstd = MinibatchStd(cfg.mbstd) if cfg.mbstd else None
        self.head = nn.Linear(fan_in + (1 if self.mbstd is not None else 0), 1)
        self.project = ProjectionHead(num_classes, fan_in) if (num_classes and self.concat is None) else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = x.flatten(1)
        if self.concat is not None:
            h = concat_label(h, self.concat, y)
        h, y = pack_samples(h, y, self.pack)  # (B, F) -> (B / pack, pack * F)
        phi = self.features(h)
        out = self.head(self.mbstd(phi) if self.mbstd is not None else phi).squeeze(1)
        if self.project is not None:
            if y is None:
                raise ValueError("this model is conditional: pass labels")
            out = out + self.project(phi, y)
        return out


@dataclass
class MLPOptions:
    width: int = field(default=64, metadata={"help": "hidden units per layer (G and D)"})
    depth: int = field(default=3, metadata={"help": "hidden layers (G and D)"})
    g_norm: Literal["batch", "none"] = field(default="none", metadata={"help": "G's hidden-layer norm"})


# Measured on a 2-core CPU (docs/benchmarks.md): MLPs of width 256 with Adam at 1e-3, a linearly
# decaying learning rate, a short generator EMA (0.99) for tight blobs, and PacGAN packing of 2, which
# kept all 8 ring modes on every seed tried where the unpacked game sometimes dropped one. Longer runs
# tighten the blobs: on seed 0, ring8 went from 91.7% high quality (12,000 steps) to 96.9% (36,000,
# reverse KL 0.47 -> 0.006), grid25 from 57.6% to 91.8%; 36,000 steps take about 3 minutes here.
# Tried and not kept (grid25, seed 0): minibatch std (61% at 12,000), pack 4 (23 modes but 43%).
_TOY = {
    "model.latent_dim": 16,
    "model.width": 256,
    "model.depth": 3,
    "model.pack": 2,
    "optim.lr_g": 1e-3,
    "optim.lr_d": 1e-3,
    "optim.betas_g": (0.5, 0.999),
    "optim.betas_d": (0.5, 0.999),
    "optim.schedule": "linear",
    "optim.ema": 0.99,
    "train.batch_size": 256,
    "train.steps": 36000,
}


@register_model
class MLP(GeneratorFamily):
    name = "mlp"
    description = "vanilla GAN: MLP generator and discriminator (any data; depth and width configurable)"
    Options = MLPOptions
    priority = 1  # models any shape: the fallback
    recipes = {
        # grid25's 25 modes sit up to 5.7 apart: at batch 256 the game kept dropping 3-7 of them (19.5
        # of 25 over 2 seeds, 93% high quality). An R1 penalty on the reals (gamma 0.1) makes D's
        # landscape smooth enough for G to keep moving into empty modes (25/25 on seed 0, at 95.7% high
        # quality), and a batch of 512 (about 20 points per mode per step) tightens the blobs: 25/25,
        # 97.9%, reverse KL 0.006. Tried and not kept (seed 0): width 512 (20 modes), R1 1.0 (25,
        # 96.5%), EMA 0.999 (25, 95.4%), lazy R1 every 4 steps (25, 96.3% at batch 512):
        # docs/benchmarks.md. Like ring8's, the blobs keep tightening with steps: 92.5-97.9% over 5
        # seeds at 36,000 steps, 97.1-98.4% at 72,000 (25/25 modes and reverse KL <= 0.010 on every
        # seed; about 10 minutes here). The real mixture scores 98.9%.
        "grid25": {**_TOY, "loss.r1": 0.1, "train.batch_size": 512, "train.steps": 72000},
        # ring8's blobs (std 0.01) keep tightening with steps: high quality 91.7% at 12,000, 97.0% at
        # 36,000, 98.6% at 72,000 (seed 0, reverse KL 0.015, about 6 minutes here).
        "ring8": {**_TOY, "train.steps": 72000},
        "mnist": {"model.width": 512, "model.depth": 3, "train.steps": 6000},
        "digits": {"model.width": 256},
    }

    def validate(self, options: MLPOptions, cfg) -> list[str]:
        ok = options.width >= 1 and options.depth >= 1
        return [] if ok else ["model.width and model.depth must be >= 1"]

    def build_generator(self, spec, shape: Shape, num_classes: int) -> nn.Module:
        # Images go through tanh to match data in [-1, 1]; points (toy 2-D, tables) are unbounded.
        return MLPGenerator(spec, shape, num_classes, tanh=len(shape) == 3)

    def build_discriminator(self, spec, shape: Shape, num_classes: int, norm: str) -> nn.Module:
        return MLPDiscriminator(spec, shape, num_classes, norm)
