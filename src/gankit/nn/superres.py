"""Networks of super-resolution: SRGAN's residual generator and discriminator (Ledig et al. 2017), and
the VGG19 feature extractor of its perceptual loss (or a fixed random stand-in when no weights).

The generator runs at the low resolution and enlarges at the end with sub-pixel convolutions
(pixel shuffle, x2 per step), so its cost grows with the input, not the output. By default it
adds its output to the bicubic enlargement of the input (it learns the missing detail, starting
from bicubic) and leaves out batch norm (as EDSR does): both make short CPU runs beat bicubic sooner
and keep evaluation identical to training on any image size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResidualBlock(nn.Module):
    def __init__(self, c: int, norm: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c, c, 3, 1, 1)]
        layers += [nn.BatchNorm2d(c)] if norm else []
        layers += [nn.PReLU(c), nn.Conv2d(c, c, 3, 1, 1)]
        layers += [nn.BatchNorm2d(c)] if norm else []
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """9x9 head, ``blocks`` residual blocks with a long skip, log2(scale) pixel-shuffle steps, 9x9 tail."""

    def __init__(
        self, channels: int = 3, scale: int = 4, width: int = 64, blocks: int = 16, norm: bool = False,
        bicubic_skip: bool = True,
    ):  # fmt: skip
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale {scale}: use 2, 4 or 8")
        self.scale, self.bicubic_skip = scale, bicubic_skip
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, 1, 4), nn.PReLU(width))
        self.body = nn.Sequential(
            *[ResidualBlock(width, norm) for _ in range(blocks)],
            nn.Conv2d(width, width, 3, 1, 1),
            *([nn.BatchNorm2d(width)] if norm else []),
        )
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, channels, 9, 1, 4)
        if bicubic_skip:  # start near bicubic: a small residual, not zero (a zero tail would block every
            # gradient upstream of it for the first steps)
            with torch.no_grad():
                self.tail.weight.mul_(0.01)
                self.tail.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        y = self.tail(self.up(h + self.body(h)))
        if self.bicubic_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return y.clamp(-1, 1)
        return torch.tanh(y)


class SRDiscriminator(nn.Module):
    """SRGAN's VGG-style discriminator: conv blocks doubling width every other (strided) layer,
    then global average pooling (any input size) and two dense layers."""

    def __init__(self, channels: int = 3, width: int = 64, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        c = width
        for i, (mult, stride) in enumerate([(1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)]):
            c_next = width * mult
            layers.append(nn.Conv2d(c, c_next, 3, stride, 1, bias=norm != "batch"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(c_next))
            layers.append(nn.LeakyReLU(0.2))
            c = c_next
            del i
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c, c * 2), nn.LeakyReLU(0.2), nn.Linear(c * 2, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean((2, 3)))


# VGG19's convolutions ("M": max-pool), as torchvision's ``vgg19().features`` numbers them
VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """VGG19 up to ``layer`` (SRGAN's VGG5,4: the 4th conv of block 5 before its ReLU, index 34), on
    images in [-1, 1] normalised as ImageNet's. Frozen: no gradients into its weights."""

    def __init__(self, layer: int = 34, width_div: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in VGG19:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v // width_div, 3, 1, 1), nn.ReLU(inplace=False)]
                c = v // width_div
        self.features = nn.Sequential(*layers[: layer + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.features(((x + 1) / 2 - self.mean) / self.std)
