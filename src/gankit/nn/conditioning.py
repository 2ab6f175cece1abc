"""Label conditioning: an embedding for the generator, a projection head for the discriminator."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def label_embed_dim(num_classes: int) -> int:
    """Size of the generator's label embedding: enough to separate the classes, small next to z."""
    return min(64, max(16, num_classes))


class ProjectionHead(nn.Module):
    """out = psi(phi) + <embed(y), phi>, the projection discriminator of Miyato & Koyama (2018).

    The inner product lets D judge agreement between image and label with one embedding per class,
    instead of learning a separate realism head for every class.
    """

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, phi: Tensor, y: Tensor) -> Tensor:
        return (self.embed(y) * phi).sum(dim=1)


def concat_label(z: Tensor, embed: nn.Embedding, y: Tensor | None) -> Tensor:
    if y is None:
        raise ValueError("this model is conditional: pass labels")
    return torch.cat([z, embed(y)], dim=1)
