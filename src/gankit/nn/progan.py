"""The networks of progressive growing (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation"), used by models/progan.py.

Both networks start at a small resolution (4x4 or 8x8) and :meth:`grow` by one 2x block at a time;
the new block is faded in: G's output is ``rgb + (1 - alpha) * (up(rgb_prev) - rgb)`` (the previous
resolution's toRGB, upsampled) and D's features after the new block are blended the same way with
those of the half-size input through the previous fromRGB. ``alpha`` is a buffer, so a checkpoint,
the generator's EMA and an export taken mid-fade all carry it (at alpha = 1 the blend is exactly the
new path: ``x + 0 * (...)``).

Equalised learning rate (sec. 4.1): weights are drawn from N(0, 1) and scaled at run time by He's
constant, so every layer learns at the same speed under Adam. G normalises each pixel's feature
vector after every conv (pixel norm, sec. 4.2); D ends with a minibatch standard deviation feature
(sec. 3; nn/stabilisers.py). G always returns images at the data's size (nearest-neighbour upsampled
from its current resolution), so grids, evaluations and exports need no notion of stages; D takes any
size down to its own (average-pooled to its current resolution).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nn.conditioning import label_embed_dim
from gankit.nn.stabilisers import MinibatchStd


def resolutions(start: int, size: int) -> list[int]:
    """The resolution of each stage: 4 -> 32 gives [4, 8, 16, 32]."""
    out = [start]
    while out[-1] < size:
        out.append(out[-1] * 2)
    return out


def channels(width: int, size: int, res: int) -> int:
    """``width`` channels at the data's size, doubling as the resolution halves, at most 8x."""
    return width * min(8, size // res)


class EqualizedLR(nn.Module):
    """A conv (k > 0) or linear (k = 0) layer with weights ~ N(0, 1) scaled at run time by
    gain / sqrt(fan_in) (ProGAN's equalised learning rate)."""

    def __init__(self, cin: int, cout: int, k: int = 0, gain: float = math.sqrt(2), g=None):
        super().__init__()
        shape = (cout, cin, k, k) if k else (cout, cin)
        self.weight = nn.Parameter(torch.randn(shape, generator=g))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin * max(1, k) ** 2)
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        if self.k:
            return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.k // 2)
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: Tensor) -> Tensor:
    """Each position's feature vector to unit mean square (ProGAN sec. 4.2)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


def act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class GBlock(nn.Module):
    """2x nearest upsampling, then two 3x3 convs, each followed by leaky ReLU and pixel norm."""

    def __init__(self, cin: int, cout: int, g=None):
        super().__init__()
        self.conv1, self.conv2 = EqualizedLR(cin, cout, 3, g=g), EqualizedLR(cout, cout, 3, g=g)

    def forward(self, h: Tensor) -> Tensor:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        return pixel_norm(act(self.conv2(pixel_norm(act(self.conv1(h))))))


class DBlock(nn.Module):
    """Two 3x3 convs with leaky ReLU, then 2x average pooling."""

    def __init__(self, cin: int, cout: int, g=None):
        super().__init__()
        self.conv1, self.conv2 = EqualizedLR(cin, cin, 3, g=g), EqualizedLR(cin, cout, 3, g=g)

    def forward(self, h: Tensor) -> Tensor:
        return F.avg_pool2d(act(self.conv2(act(self.conv1(h)))), 2)


class ProGenerator(nn.Module):
    """z (+ a label embedding, concatenated) -> (B, C, size, size), grown from ``start``."""

    def __init__(self, shape: tuple[int, ...], num_classes: int, latent_dim: int, width: int, start: int):
        super().__init__()
        self.out_channels, self.size, self.start, self.width = shape[0], shape[-1], start, width
        self.embed = nn.Embedding(num_classes, label_embed_dim(num_classes)) if num_classes else None
        ch = channels(width, self.size, start)
        cin = latent_dim + (self.embed.embedding_dim if self.embed is not None else 0)
        # the 4x4 "dense" layer: a linear map to a (ch, start, start) block, one He gain per output
        self.input = EqualizedLR(cin, ch * start * start, gain=math.sqrt(2) / 4)
        self.conv = EqualizedLR(ch, ch, 3)
        self.blocks = nn.ModuleList()
        self.to_rgb = nn.ModuleList([EqualizedLR(ch, self.out_channels, 1, gain=1.0)])
        self.register_buffer("alpha", torch.ones(()))

    @property
    def resolution(self) -> int:
        return self.start * 2 ** len(self.blocks)

    def grow(self, g: torch.Generator | None = None) -> None:
        """Add the next 2x block and its toRGB (initialised from ``g``); the fade starts at alpha 0."""
        res = self.resolution * 2
        cin, cout = channels(self.width, self.size, res // 2), channels(self.width, self.size, res)
        device = self.alpha.device
        self.blocks.append(GBlock(cin, cout, g).to(device))
        self.to_rgb.append(EqualizedLR(cout, self.out_channels, 1, gain=1.0, g=g).to(device))
        self.alpha.fill_(0.0)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        z = pixel_norm(z)  # latents on the unit sphere (sec. 4.2)
        if self.embed is not None:
            if y is None:
                raise ValueError("this model is conditional: pass labels")
            z = torch.cat([z, self.embed(y)], dim=1)
        s = self.start
        h = pixel_norm(act(self.input(z).view(len(z), -1, s, s)))  # (B, ch, s, s)
        h = pixel_norm(act(self.conv(h)))
        prev = h
        for block in self.blocks:
            prev, h = h, block(h)
        rgb = self.to_rgb[-1](h)
        if self.blocks:  # fade-in: the previous resolution's image, upsampled, weighted 1 - alpha
            low = F.interpolate(self.to_rgb[-2](prev), scale_factor=2, mode="nearest")
            rgb = rgb + (1 - self.alpha) * (low - rgb)
        if self.resolution < self.size:
            rgb = F.interpolate(rgb, size=(self.size, self.size), mode="nearest")
        return rgb


class ProDiscriminator(nn.Module):
    """(B, C, H, W) -> (B,) scores, grown from ``start``; labels by projection or concatenation."""

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        width: int,
        start: int,
        cond_d: str = "projection",
        mbstd: int = 4,
    ):
        super().__init__()
        self.in_channels, self.size, self.start, self.width = shape[0], shape[-1], start, width
        ch = channels(width, self.size, start)
        self.from_rgb = nn.ModuleList([EqualizedLR(self.in_channels, ch, 1)])
        self.blocks = nn.ModuleList()  # blocks[i]: from resolution start * 2^(i+1) down to start * 2^i
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        self.conv = EqualizedLR(ch + (1 if mbstd else 0), ch, 3)
        self.dense = EqualizedLR(ch * start * start, ch)
        self.projection = bool(num_classes) and cond_d == "projection"
        self.embed = None
        if num_classes:
            self.embed = nn.Embedding(num_classes, ch if self.projection else label_embed_dim(num_classes))
        concat = self.embed.embedding_dim if self.embed is not None and not self.projection else 0
        self.out = EqualizedLR(ch + concat, 1, gain=1.0)
        self.register_buffer("alpha", torch.ones(()))

    @property
    def resolution(self) -> int:
        return self.start * 2 ** len(self.blocks)

    def grow(self, g: torch.Generator | None = None) -> None:
        res = self.resolution * 2
        cin, cout = channels(self.width, self.size, res), channels(self.width, self.size, res // 2)
        device = self.alpha.device
        self.blocks.append(DBlock(cin, cout, g).to(device))
        self.from_rgb.append(EqualizedLR(self.in_channels, cin, 1, g=g).to(device))
        self.alpha.fill_(0.0)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if x.shape[-1] > self.resolution:  # a larger image is judged at D's resolution
            x = F.adaptive_avg_pool2d(x, self.resolution)
        h = act(self.from_rgb[-1](x))
        if self.blocks:  # fade-in: the new block's features blended with the half-size input's
            h = self.blocks[-1](h)
            low = act(self.from_rgb[-2](F.avg_pool2d(x, 2)))
            h = h + (1 - self.alpha) * (low - h)
            for block in reversed(self.blocks[:-1]):
                h = block(h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        phi = act(self.dense(act(self.conv(h)).flatten(1)))  # (B, ch)
        if self.embed is None:
            return self.out(phi).flatten()
        if y is None:
            raise ValueError("this model is conditional: pass labels")
        if self.projection:  # Miyato & Koyama 2018: <embed(y), phi> beside the realism head, the
            # N(0, 1) embedding scaled at run time like every other weight here (equalised lr)
            projected = (self.embed(y) * phi).sum(dim=1) / math.sqrt(phi.shape[1])
            return self.out(phi).flatten() + projected
        return self.out(torch.cat([phi, self.embed(y)], dim=1)).flatten()
