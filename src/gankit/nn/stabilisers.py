"""Discriminator stabilisers that any model family can use: minibatch standard deviation, spectral
normalisation and PacGAN packing. (R1/R2 and the gradient penalty are loss terms: models/adversarial.py.)"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MinibatchStd(nn.Module):
    """Appends one feature: the standard deviation of each feature over a group of samples, averaged
    (Karras et al. 2018, "Progressive Growing of GANs", sec. 3). A collapsed generator's batches have
    a small spread, which D can now see and punish.

    Works on (B, C) and (B, C, H, W); the group is the largest divisor of B not above ``group``.
    """

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, h: Tensor) -> Tensor:
        b = h.shape[0]
        g = min(self.group, b)
        while b % g:
            g -= 1
        y = h.reshape(g, -1, *h.shape[1:])  # (G, B/G, C, ...): sample i groups with i + B/G, ...
        # written out: torch's var over a leading dim is ~10x slower than this on a CPU
        y = ((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).sqrt()  # (B/G, C, ...)
        y = y.mean(dim=tuple(range(1, y.ndim)), keepdim=True)  # (B/G, 1, 1, ...)
        y = y.repeat(g, 1, *h.shape[2:])  # (B, 1, ...)
        return torch.cat([h, y], dim=1)


def pack_samples(x: Tensor, y: Tensor | None, pack: int) -> tuple[Tensor, Tensor | None]:
    """PacGAN (Lin et al. 2018): (B, C, ...) -> (B / pack, pack * C, ...), consecutive samples side by
    side, so D judges ``pack`` samples at once and sees their joint spread. Labels keep the first of
    each group (projection heads need one label per judgement)."""
    if pack == 1:
        return x, y
    if len(x) % pack:
        raise ValueError(f"a packed discriminator needs a batch divisible by {pack}, got {len(x)}")
    packed = x.reshape(len(x) // pack, pack * x.shape[1], *x.shape[2:])
    return packed, (y[::pack] if y is not None else None)


_SN_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def apply_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every linear, conv and embedding weight: each
    layer's largest singular value is held at 1 by one power iteration per step."""
    for module in list(net.modules()):
        if isinstance(module, _SN_LAYERS) and getattr(module, "weight", None) is not None:
            nn.utils.parametrizations.spectral_norm(module)
    return net
