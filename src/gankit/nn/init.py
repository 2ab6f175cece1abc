"""Weight initialisation schemes, applied to a whole network."""

from __future__ import annotations

from typing import Literal

from torch import nn

InitName = Literal["normal", "xavier", "he"]


def init_weights(net: nn.Module, scheme: InitName = "normal") -> nn.Module:
    """Initialise conv and linear weights; norm layers get weight ~ N(1, 0.02), bias 0.

    ``normal``: N(0, 0.02), as in DCGAN (Radford et al. 2016) and the PyTorch DCGAN example.
    ``xavier``: Glorot & Bengio 2010 (normal variant). ``he``: He et al. 2015 (fan-in, for ReLU-family).
    Embeddings are left at PyTorch's N(0, 1): they are lookup tables, not layers that need scaling.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif scheme == "xavier":
                nn.init.xavier_normal_(m.weight)
            elif scheme == "he":
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif (
            isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm))
            and m.weight is not None
        ):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net
