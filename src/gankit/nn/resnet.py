"""ResNet GAN networks: the generator and discriminator of SNGAN (Miyato et al. 2018) and BigGAN
(Brock et al. 2019), shared by models/sngan.py and models/biggan.py.

G: z -> linear -> (4w, b, b) -> up-blocks doubling the resolution -> BN, ReLU, 3x3 conv, tanh. Each
block is BN-ReLU-up-conv-BN-ReLU-conv plus a 1x1 shortcut; its batch norms are class-conditional:
a per-class gain and bias (SNGAN), or a gain and bias computed from a shared class embedding joined
to a slice of z (BigGAN's shared embedding and hierarchical latent). D: pre-activation down-blocks,
two blocks at the last resolution, ReLU, sum pooling, a linear head plus the projection of the label
(Miyato & Koyama 2018). A SAGAN self-attention block (Zhang et al. 2019) may follow the block at one
resolution in each network.

Channels halve as the resolution doubles (4w at b x b down to w at the output, and the mirror in D),
as DCGAN's do, rather than staying constant as in the 32x32 configurations of both papers: the
full-resolution 3x3 convolutions are what a CPU pays for, and w channels there keep a step cheap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nn.conditioning import ProjectionHead
from gankit.nn.stabilisers import MinibatchStd, pack_samples


def pyramid(resolution: int) -> tuple[int, int]:
    """(base size b in 4..7, number of 2x steps up to the resolution): DCGAN's stack (models/dcgan.py),
    restated here because nn/ sits below models/ (importing a family from here would be circular)."""
    base, n = resolution, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, n = base // 2, n + 1
    return base, n


def levels(resolution: int) -> list[int]:
    """The resolutions G's blocks produce (and D's blocks start from, reversed): 32 -> [8, 16, 32]."""
    base, n = pyramid(resolution)
    return [base * 2 ** (i + 1) for i in range(n)]


def channels(width: int, n: int, i: int) -> int:
    """Channels at pyramid level i of n (0: the b x b start, n: the output resolution)."""
    return width * 2 ** min(2, n - i)


class SelfAttention(nn.Module):
    """SAGAN's self-attention (Zhang et al. 2019), as BigGAN uses it: keys and values pooled 2x,
    an output scale gamma that starts at 0 so the block begins as the identity."""

    def __init__(self, ch: int):
        super().__init__()
        self.theta = nn.Conv2d(ch, max(1, ch // 8), 1, bias=False)
        self.phi = nn.Conv2d(ch, max(1, ch // 8), 1, bias=False)
        self.g = nn.Conv2d(ch, max(1, ch // 2), 1, bias=False)
        self.o = nn.Conv2d(max(1, ch // 2), ch, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (B, C/8, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # (B, C/8, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # (B, C/2, HW/4)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, HW, HW/4)
        out = (g @ attn.transpose(1, 2)).view(b, -1, h, w)  # (B, C/2, H, W)
        return x + self.gamma * self.o(out)


class CondBatchNorm(nn.Module):
    """Batch norm whose gain and bias follow the condition: ``1 + W_g c`` and ``W_b c`` for a vector
    ``c`` (BigGAN), one learned pair per class (SNGAN), or a plain learned pair (unconditional)."""

    def __init__(self, ch: int, cond_dim: int = 0, num_classes: int = 0):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=not (cond_dim or num_classes))
        self.gain = self.bias = None
        if cond_dim:
            self.gain, self.bias = nn.Linear(cond_dim, ch, bias=False), nn.Linear(cond_dim, ch, bias=False)
        elif num_classes:
            self.gain, self.bias = nn.Embedding(num_classes, ch), nn.Embedding(num_classes, ch)
        self.reset_condition()

    def reset_condition(self) -> None:
        """Per-class gains start near 1 (N(1, 0.02), gankit's norm init) and biases at 0: each class
        starts from plain batch norm, yet the classes already differ (SNGAN starts them equal)."""
        if isinstance(self.gain, nn.Embedding):
            nn.init.normal_(self.gain.weight, 1.0, 0.02)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, cond: Tensor | None, y: Tensor | None) -> Tensor:
        h = self.bn(x)
        if self.gain is None:
            return h
        if isinstance(self.gain, nn.Linear):
            gain, bias = 1 + self.gain(cond), self.bias(cond)
        else:
            gain, bias = self.gain(y), self.bias(y)
        return h * gain[:, :, None, None] + bias[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int, num_classes: int):
        super().__init__()
        self.bn1 = CondBatchNorm(cin, cond_dim, num_classes)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.bn2 = CondBatchNorm(cout, cond_dim, num_classes)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)
        self.conv1.residual = self.conv2.residual = True  # for init: gain sqrt(2) before a ReLU

    def forward(self, x: Tensor, cond: Tensor | None, y: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond, y)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond, y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DBlock(nn.Module):
    """Pre-activation residual block; the first block of D sees the image itself, so it starts with
    a conv instead of a ReLU and pools its shortcut before the 1x1 conv (fewer operations)."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None
        self.conv1.residual = self.conv2.residual = True

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first and self.down:
            s = F.avg_pool2d(s, 2)
        if self.shortcut is not None:
            s = self.shortcut(s)
        if self.down and not self.first:
            s = F.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator(nn.Module):
    """G(z, y). ``shared_dim`` > 0: one class embedding for all blocks (BigGAN), else per-class
    batch-norm pairs in each block (SNGAN); ``hierarchical``: z is split into one slice for the
    input layer and one per block, each block's batch norms reading its slice (BigGAN)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        latent_dim: int,
        width: int,
        attention: int = 0,
        shared_dim: int = 0,
        hierarchical: bool = False,
    ):
        super().__init__()
        out_ch, res, _ = shape
        base, n = pyramid(res)
        self.base, self.hierarchical = base, hierarchical
        self.slices = n + 1 if hierarchical else 1
        chunk = latent_dim // self.slices  # per block; the input layer's slice takes what is left
        self.z_dims = [latent_dim - chunk * (self.slices - 1)] + [chunk] * (self.slices - 1)
        z_dims = self.z_dims
        self.shared = nn.Embedding(num_classes, shared_dim) if (num_classes and shared_dim) else None
        cond_dim = (z_dims[-1] if hierarchical else 0) + (shared_dim if self.shared is not None else 0)
        per_class = num_classes if (num_classes and self.shared is None) else 0
        if cond_dim and num_classes and self.shared is None:  # hierarchical z without a shared embedding
            raise ValueError("a hierarchical latent needs a shared class embedding when conditional")
        self.num_classes = num_classes
        self.linear = nn.Linear(z_dims[0], channels(width, n, 0) * base * base)
        self.blocks = nn.ModuleList(
            GBlock(channels(width, n, i), channels(width, n, i + 1), cond_dim, per_class) for i in range(n)
        )
        self.attn_after = levels(res).index(attention) if attention in levels(res) else None
        at = self.attn_after
        self.attention = SelfAttention(channels(width, n, at + 1)) if at is not None else None
        self.out_bn = nn.BatchNorm2d(width)
        self.out_conv = nn.Conv2d(width, out_ch, 3, 1, 1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.num_classes and y is None:
            raise ValueError("this model is conditional: pass labels")
        zs = z.split(self.z_dims, dim=1) if self.hierarchical else (z,)
        cls = self.shared(y) if self.shared is not None else None
        h = self.linear(zs[0]).view(len(z), -1, self.base, self.base)  # (B, 4w, b, b)
        for i, block in enumerate(self.blocks):
            parts = [p for p in (cls, zs[i + 1] if self.hierarchical else None) if p is not None]
            h = block(h, torch.cat(parts, dim=1) if parts else None, y)  # (B, C, 2H, 2W)
            if i == self.attn_after:
                h = self.attention(h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class ResNetDiscriminator(nn.Module):
    """D(x, y): down-blocks to the 2b x 2b level, two blocks there, sum pooling, a linear
    head plus the label's projection (or the label as an extra input plane: ``cond_d="concat"``)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        width: int,
        attention: int = 0,
        cond_d: str = "projection",
        pack: int = 1,
        mbstd: int = 0,
    ):
        super().__init__()
        in_ch, res, _ = shape
        _, n = pyramid(res)
        self.res, self.pack = res, pack
        concat = bool(num_classes) and cond_d == "concat"
        self.label_map = nn.Embedding(num_classes, res * res) if concat else None
        downs = max(1, n - 1)  # down to 2b x 2b (b x b for the smallest images), then two blocks there
        # a block's channels are G's at the resolution it reads: w at the output size up to 4w
        chs = [(in_ch + concat) * pack] + [channels(width, n, n - i) for i in range(downs + 1)]
        blocks = [DBlock(chs[i], chs[i + 1], down=True, first=i == 0) for i in range(downs)]
        blocks += [DBlock(chs[downs], chs[-1], down=False), DBlock(chs[-1], chs[-1], down=False)]
        self.blocks = nn.ModuleList(blocks)
        out_res = [res // 2 ** min(i + 1, downs) for i in range(len(blocks))]
        self.attn_after = out_res.index(attention) if attention in out_res else None
        at = self.attn_after
        self.attention = SelfAttention(chs[min(at + 1, downs + 1)]) if at is not None else None
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        features = chs[-1] + (1 if mbstd else 0)
        self.head = nn.Linear(features, 1)
        self.project = ProjectionHead(num_classes, features) if (num_classes and not concat) else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if (self.label_map is not None or self.project is not None) and y is None:
            raise ValueError("this model is conditional: pass labels")
        if self.label_map is not None:
            x = torch.cat([x, self.label_map(y).view(-1, 1, self.res, self.res).to(x.dtype)], dim=1)
        h, y = pack_samples(x, y, self.pack)  # (B, C, H, W) -> (B / pack, pack * C, H, W)
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == self.attn_after:
                h = self.attention(h)
        h = F.relu(h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        phi = h.sum(dim=(2, 3))  # (B, C): sum pooling, as both papers' discriminators do
        out = self.head(phi).squeeze(1)
        if self.project is not None:
            out = out + self.project(phi, y)
        return out


def init_resnet(net: nn.Module, scheme: str) -> nn.Module:
    """The families' own init of conv, linear and embedding weights (biases 0): ``orthogonal``
    (BigGAN), ``xavier`` (SNGAN's Glorot-uniform, gain sqrt(2) on the residual convs that a ReLU
    follows) or ``normal`` N(0, 0.02). Per-class batch-norm gains stay at 1, biases at 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            if scheme == "orthogonal":
                nn.init.orthogonal_(m.weight)
            elif scheme == "xavier":
                nn.init.xavier_uniform_(m.weight, math.sqrt(2) if getattr(m, "residual", False) else 1.0)
            elif scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    for m in net.modules():
        if isinstance(m, CondBatchNorm):
            m.reset_condition()
    return net


def spectral_norm_layers(net: nn.Module, embeddings: bool = True) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every conv and linear weight, and of the
    embeddings when asked (D's projection; not G's class embeddings, which BigGAN leaves free)."""
    kinds = (nn.Conv2d, nn.Linear, nn.Embedding) if embeddings else (nn.Conv2d, nn.Linear)
    for m in list(net.modules()):
        if isinstance(m, kinds):
            nn.utils.parametrizations.spectral_norm(m)
    return net
