"""Networks of image-to-image translation: pix2pix's U-Net generator and PatchGAN discriminator.

Both are fully convolutional, so a network trained on crops translates images of any size: the
U-Net pads its input to a multiple of its total stride (reflecting the border) and crops the output
back. Isola et al. 2017 ("Image-to-Image Translation with Conditional Adversarial Networks").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``instance``: the same computation in training and evaluation (no running statistics), on
    any image size; ``batch``: running statistics at evaluation; ``none``."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class UNetLevel(nn.Module):
    """One level: down-sample, the inner levels, up-sample, then concatenate the level's input (the
    skip connection that carries fine detail past the bottleneck)."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, norm: str, dropout: float, first: bool):
        super().__init__()
        self.down = nn.Sequential(
            *([] if first else [nn.LeakyReLU(0.2)]),
            nn.Conv2d(outer, inner, 4, 2, 1, bias=norm != "batch"),
            *([] if first or sub is None else [norm_layer(norm, inner)]),
        )
        self.sub = sub
        up_in = inner * 2 if sub is not None else inner
        self.up = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=norm != "batch"),
            norm_layer(norm, outer),
            *([nn.Dropout(dropout)] if dropout > 0 else []),
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.down(x)
        if self.sub is not None:
            y = self.sub(y)
        return torch.cat([x, self.up(y)], 1)


class UNet(nn.Module):
    """``depth`` down-samplings by 2, widths ``width * 2^i`` capped at 8x; dropout (pix2pix's noise)
    in the three innermost up-samplings."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        width: int = 64,
        depth: int = 5,
        norm: str = "instance",
        dropout: float = 0.5,
    ):
        super().__init__()
        self.depth = depth
        widths = [width * min(2**i, 8) for i in range(depth)]
        level: nn.Module | None = None
        for i in reversed(range(1, depth)):
            drop = dropout if depth - 1 - i < 3 and i > 1 else 0.0
            level = UNetLevel(widths[i - 1], widths[i], level, norm, drop, first=False)
        self.head = nn.Conv2d(in_ch, widths[0], 4, 2, 1)
        self.body = level
        up_in = widths[0] * 2 if level is not None else widths[0]
        self.tail = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(up_in, out_ch, 4, 2, 1), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:  # any size: reflect the border up to a multiple of the stride, crop after
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
        y = self.head(x)
        if self.body is not None:
            y = self.body(y)
        out = self.tail(y)
        if ph or pw:
            out = out[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        return out


class PatchGAN(nn.Module):
    """A grid of real/fake scores, each judging one overlapping patch (70x70 at ``layers=3``): texture
    and local structure are the discriminator's job; L1 takes care of the low frequencies."""

    def __init__(self, in_ch: int, width: int = 64, layers: int = 3, norm: str = "instance"):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):
            c_next = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [
                nn.Conv2d(c, c_next, 4, stride, 1, bias=norm != "batch"),
                norm_layer(norm, c_next),
                nn.LeakyReLU(0.2),
            ]
            c = c_next
        blocks.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ResnetBlock(nn.Module):
    def __init__(self, c: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm_layer(norm, c), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm_layer(norm, c),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Johnson et al. 2016): 7x7 in, two stride-2 convs down, ``blocks`` residual
    blocks, two transposed convs up, 7x7 out. Sizes not divisible by 4 are padded and cropped back."""

    def __init__(self, in_ch: int, out_ch: int, width: int = 64, blocks: int = 9, norm: str = "instance"):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, width, 7),
            norm_layer(norm, width),
            nn.ReLU(),
        ]
        c = width
        for _ in range(2):
            layers += [nn.Conv2d(c, c * 2, 3, 2, 1), norm_layer(norm, c * 2), nn.ReLU()]
            c *= 2
        layers += [ResnetBlock(c, norm) for _ in range(blocks)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1),
                norm_layer(norm, c // 2),
                nn.ReLU(),
            ]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_ch, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.net(x)[..., :h, :w]
