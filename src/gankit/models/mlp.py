"""Vanilla GAN: fully connected generator and discriminator (Goodfellow et al. 2014)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from gankit.config import ModelConfig
from gankit.models.base import ModelFamily, Shape, register_model
from gankit.nn.conditioning import ProjectionHead, concat_label, label_embed_dim
from gankit.nn.stabilisers import MinibatchStd, pack_samples


class MLPGenerator(nn.Module):
    """z (B, latent) [+ label embedding] -> `depth` ReLU layers of `width` -> data (tanh for images)."""

    def __init__(self, cfg: ModelConfig, shape: Shape, num_classes: int = 0, tanh: bool = True):
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

    def __init__(self, cfg: ModelConfig, shape: Shape, num_classes: int = 0, norm: str = "none"):
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


register_model(
    ModelFamily(
        name="mlp",
        description="vanilla GAN: MLP generator and discriminator (any data; depth and width configurable)",
        # Images go through tanh to match data in [-1, 1]; points (toy 2-D, tables) are unbounded.
        build_generator=lambda cfg, shape, k: MLPGenerator(cfg, shape, k, tanh=len(shape) == 3),
        build_discriminator=lambda cfg, shape, k, norm: MLPDiscriminator(cfg, shape, k, norm),
    )
)
