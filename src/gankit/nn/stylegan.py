"""StyleGAN2 networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN") in
plain PyTorch: no custom CUDA ops, so they run on a CPU, on CUDA unchanged, and export.

G: z (+ a class embedding, as StyleGAN2-ADA) -> mapping MLP -> w, broadcast to one w per layer
(``num_ws``); a learned 4x4 constant, then per resolution two modulated/demodulated 3x3 convs (each
with a per-pixel noise input of learned strength) and a toRGB whose outputs are summed up the
resolutions (the skip generator). D: fromRGB, residual blocks halving the resolution, minibatch
standard deviation, a 3x3 conv, two linear layers, and the label's projection when conditional.
Every weight has an equalised learning rate: stored N(0, 1), scaled at run time by 1/sqrt(fan_in).

Departures from the reference, for plain ops: bilinear up/down-sampling instead of the FIR filters,
and modulation applied to the activations (``fused_modconv=False`` in the reference: one shared conv
for the batch, which a CPU runs faster than a grouped conv per sample).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nn.stabilisers import MinibatchStd

LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' scale through leaky ReLU(0.2), as the reference


def stylegan_levels(resolution: int) -> list[int] | None:
    """[4, 8, ..., resolution] for a resolution of 4 * 2^k, else None."""
    out, r = [4], 4
    while r < resolution:
        r *= 2
        out.append(r)
    return out if r == resolution else None


def level_channels(width: int, max_width: int, resolution: int, r: int) -> int:
    """``width`` channels at the output size, doubling as the resolution halves, at most ``max_width``."""
    return min(max_width, width * resolution // r)


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


class EqualLinear(nn.Module):
    """A linear layer with an equalised learning rate: weights N(0, 1) / lr_mul, scaled by
    lr_mul / sqrt(fan_in) at run time, so Adam's step is the same size relative to every layer."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.gain, self.lr_mul, self.act = lr_mul / math.sqrt(cin), lr_mul, act

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.gain, self.bias * self.lr_mul)
        return lrelu(x) if self.act else x


class EqualConv2d(nn.Module):
    """A conv with an equalised learning rate; ``down`` halves the resolution after it (D)."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, act: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain, self.act, self.down = 1 / math.sqrt(cin * k * k), act, down

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.weight.shape[-1] // 2)
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = lrelu(x) if self.act else x
        return x * gain if gain != 1.0 else x


class ModulatedConv(nn.Module):
    """A style-modulated conv: input channels scaled by the style ``s = A(w)`` (bias 1), a conv with
    shared weights, then each output channel divided by the norm the modulated weights would have
    (demodulation), which replaces StyleGAN's AdaIN without its droplet artefacts."""

    def __init__(self, w_dim: int, cin: int, cout: int, k: int, demodulate: bool = True):
        super().__init__()
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.gain, self.demodulate = 1 / math.sqrt(cin * k * k), demodulate

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        s = self.affine(w)  # (B, Cin)
        weight = self.weight * self.gain  # (Cout, Cin, k, k)
        x = F.conv2d(x * s[:, :, None, None], weight, padding=weight.shape[-1] // 2)  # (B, Cout, H, W)
        if self.demodulate:  # 1 / ||w_ij * s_i|| over (Cin, k, k), per sample and output channel
            d = (s.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()  # (B, Cout)
            x = x * d[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated 3x3 conv (after a 2x bilinear upsampling when ``up``), per-pixel noise of learned
    strength (random while training, a fixed map in evaluation mode), bias, leaky ReLU."""

    def __init__(
        self, w_dim: int, cin: int, cout: int, resolution: int, up: bool = False, noise: bool = True
    ):
        super().__init__()
        self.conv, self.up = ModulatedConv(w_dim, cin, cout, 3), up
        self.noise_strength = nn.Parameter(torch.zeros(())) if noise else None
        if noise:
            self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.conv(x, w) + self.bias[:, None, None]
        if self.noise_strength is None:
            return lrelu(x)
        if self.training:  # the global RNG: seeded by the run and restored on resume
            noise = torch.randn(len(x), 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        return lrelu(x + noise * self.noise_strength)


class ToRGB(nn.Module):
    def __init__(self, w_dim: int, cin: int, channels: int):
        super().__init__()
        self.conv = ModulatedConv(w_dim, cin, channels, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


class MappingNetwork(nn.Module):
    """z (+ label embedding, both normalised to unit second moment) -> w through an MLP whose
    learning rate is ``lr_mul`` times the others' (StyleGAN: 0.01)."""

    def __init__(
        self, z_dim: int, num_classes: int, w_dim: int, layers: int, lr_mul: float = 0.01, label_dim: int = 0
    ):
        super().__init__()
        label_dim = label_dim or w_dim  # 0: StyleGAN2-ADA's embedding, as wide as w
        self.embed = EqualLinear(num_classes, label_dim) if num_classes else None
        self.num_classes = num_classes
        dims = [z_dim + (label_dim if num_classes else 0)] + [w_dim] * layers
        self.net = nn.Sequential(
            *(EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, act=True) for i in range(layers))
        )

    def forward(self, z: Tensor, y: Tensor | None) -> Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            if y is None:
                raise ValueError("this model is conditional: pass labels")
            onehot = F.one_hot(y, self.num_classes).to(z.dtype)
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)
        return self.net(x)  # (B, w_dim)


class StyleGenerator(nn.Module):
    """G(z, y): ``mapping(z, y) -> w``, ``synthesis(ws) -> x`` with ws one w per layer (``num_ws``).

    ``w_avg`` (one row per class when conditional, else one) tracks the mean w while training; the
    truncation trick pulls w towards it: w_avg + psi (w - w_avg). In evaluation mode the noise
    inputs are the fixed maps ``noise_const``, so a w gives one image.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        z_dim: int,
        w_dim: int,
        mapping_layers: int,
        width: int,
        max_width: int,
        w_avg_beta: float = 0.995,
        mapping_lr_mul: float = 0.01,
        noise: bool = True,
        label_dim: int = 0,
    ):
        super().__init__()
        out_ch, res, _ = shape
        levels = stylegan_levels(res)
        if levels is None or shape[1] != shape[2]:
            raise ValueError(f"StyleGAN needs square images of size 4*2^k, got {shape}")
        ch = [level_channels(width, max_width, res, r) for r in levels]
        self.num_classes, self.w_dim, self.w_avg_beta = num_classes, w_dim, w_avg_beta
        self.mapping_net = MappingNetwork(
            z_dim, num_classes, w_dim, mapping_layers, mapping_lr_mul, label_dim
        )
        self.const = nn.Parameter(torch.randn(ch[0], 4, 4))
        convs = [StyleLayer(w_dim, ch[0], ch[0], 4, noise=noise)]
        for i, r in enumerate(levels[1:], start=1):
            convs += [
                StyleLayer(w_dim, ch[i - 1], ch[i], r, up=True, noise=noise),
                StyleLayer(w_dim, ch[i], ch[i], r, noise=noise),
            ]
        self.convs = nn.ModuleList(convs)
        self.torgbs = nn.ModuleList(ToRGB(w_dim, c, out_ch) for c in ch)
        self.num_ws = len(convs) + 1  # a level's toRGB shares its w with the next level's first conv
        self.register_buffer("w_avg", torch.zeros(max(1, num_classes), w_dim))
        self.register_buffer("w_avg_seen", torch.zeros(max(1, num_classes)))

    # --- the two halves, public for truncation, style mixing, projection and interpolation --------
    def mapping(self, z: Tensor, y: Tensor | None = None, truncation: float | None = None) -> Tensor:
        """(B, w_dim) w of latents z (labels y when conditional), truncated towards the mean w."""
        w = self.mapping_net(z, y)
        if self.training:  # the mean w follows training's w (each forward: one update)
            self._track(w, y)
        return self.truncate(w, y, truncation)

    def mean_w(self, y: Tensor | None = None, n: int = 1) -> Tensor:
        """(B, w_dim) the tracked mean w: of each label in y, or the one mean repeated n times."""
        if self.num_classes and y is not None:
            return self.w_avg[y]
        return self.w_avg.mean(dim=0, keepdim=True).expand(len(y) if y is not None else n, -1)

    def truncate(self, w: Tensor, y: Tensor | None, psi: float | None) -> Tensor:
        if psi is None or psi == 1:  # plain sampling, bit for bit
            return w
        return torch.lerp(self.mean_w(y, len(w)).to(w.dtype), w, float(psi))  # psi 0: the mean itself

    def broadcast(self, w: Tensor) -> Tensor:
        """(B, w_dim) -> (B, num_ws, w_dim); a (B, num_ws, w_dim) w+ passes unchanged."""
        return w.unsqueeze(1).repeat(1, self.num_ws, 1) if w.dim() == 2 else w

    def synthesis(self, ws: Tensor) -> Tensor:
        """(B, C, H, W) images of ws: (B, w_dim) one w, or (B, num_ws, w_dim) one per layer (w+)."""
        ws = self.broadcast(ws)
        x = self.const.unsqueeze(0).expand(len(ws), -1, -1, -1)  # (B, C, 4, 4)
        x = self.convs[0](x, ws[:, 0])
        img = self.torgbs[0](x, ws[:, 1])
        for level, rgb in enumerate(self.torgbs[1:], start=1):
            i = 2 * level - 1
            x = self.convs[i + 1](self.convs[i](x, ws[:, i]), ws[:, i + 1])  # (B, C, 2H, 2W)
            up = F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=False)
            img = up + rgb(x, ws[:, i + 2])
        return img

    def forward(
        self,
        z: Tensor,
        y: Tensor | None = None,
        truncation: float | None = None,
        mix: tuple[Tensor, Tensor] | None = None,
        return_ws: bool = False,
    ):
        """``mix = (z2, cutoff)``: layers from ``cutoff`` on take z2's w (style-mixing regularisation;
        a cutoff of num_ws mixes nothing). ``return_ws``: also the per-layer ws the images came from
        (path-length regularisation differentiates the images with respect to them)."""
        ws = self.broadcast(self.mapping(z, y, truncation))
        if mix is not None:
            z2, cutoff = mix
            w2 = self.truncate(self.mapping_net(z2, y), y, truncation)
            later = torch.arange(self.num_ws, device=ws.device) >= cutoff  # (num_ws,)
            ws = torch.where(later[None, :, None], w2.unsqueeze(1), ws)
        img = self.synthesis(ws)
        return (img, ws) if return_ws else img

    @torch.no_grad()
    def _track(self, w: Tensor, y: Tensor | None) -> None:
        """Move each class's mean w towards the batch's mean of that class (the first batch of a class
        sets it, so a short run's mean is not pulled towards the zero it started from)."""
        k = self.w_avg.shape[0]
        idx = (
            y
            if (self.num_classes and y is not None)
            else torch.zeros(len(w), dtype=torch.long, device=w.device)
        )
        counts = torch.bincount(idx, minlength=k).to(self.w_avg.dtype)  # (K,)
        sums = torch.zeros_like(self.w_avg).index_add_(0, idx, w.detach().to(self.w_avg.dtype))
        means = sums / counts.clamp(min=1)[:, None]
        rate = torch.where(self.w_avg_seen > 0, 1 - self.w_avg_beta, 1.0) * (counts > 0)
        self.w_avg.lerp_(means, rate[:, None])
        self.w_avg_seen.add_((counts > 0).to(self.w_avg_seen.dtype))


class DBlock(nn.Module):
    """Residual D block: two 3x3 convs (the second halving the resolution) beside a pooled 1x1
    skip; the sum scaled by sqrt(1/2) to keep the variance (StyleGAN2's residual D)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0 = EqualConv2d(cin, cin, 3)
        self.conv1 = EqualConv2d(cin, cout, 3, down=True)
        self.skip = EqualConv2d(cin, cout, 1, bias=False, act=False)

    def forward(self, x: Tensor) -> Tensor:
        s = self.skip(F.avg_pool2d(x, 2), gain=math.sqrt(0.5))  # a 1x1 conv commutes with pooling
        return s + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


class StyleDiscriminator(nn.Module):
    """D(x, y): fromRGB, residual blocks down to 4x4, minibatch std, conv, two linear layers; the
    label through a projection of its embedding (StyleGAN2-ADA's cmap) or as an input plane."""

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        width: int,
        max_width: int,
        mbstd: int = 4,
        cond_d: str = "projection",
    ):
        super().__init__()
        in_ch, res, _ = shape
        levels = stylegan_levels(res)
        ch = {r: level_channels(width, max_width, res, r) for r in levels}
        concat = bool(num_classes) and cond_d == "concat"
        self.res, self.num_classes = res, num_classes
        self.label_map = nn.Embedding(num_classes, res * res) if concat else None
        self.from_rgb = EqualConv2d(in_ch + concat, ch[res], 1)
        self.blocks = nn.ModuleList(DBlock(ch[r], ch[r // 2]) for r in reversed(levels[1:]))
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        c = ch[4]
        self.conv = EqualConv2d(c + (1 if mbstd else 0), c, 3)
        self.fc = EqualLinear(c * 16, c, act=True)
        self.cmap_dim = c if (num_classes and not concat) else 0
        self.out = EqualLinear(c, self.cmap_dim or 1)
        self.cmap = EqualLinear(num_classes, self.cmap_dim) if self.cmap_dim else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.num_classes and y is None:
            raise ValueError("this model is conditional: pass labels")
        if self.label_map is not None:
            x = torch.cat([x, self.label_map(y).view(-1, 1, self.res, self.res).to(x.dtype)], dim=1)
        h = self.from_rgb(x)
        for block in self.blocks:
            h = block(h)  # (B, C, H/2, W/2)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = self.fc(self.conv(h).flatten(1))  # (B, C)
        out = self.out(h)
        if self.cmap is None:
            return out.squeeze(1)
        # StyleGAN2-ADA's projection: D's output vector against the label's embedding (a realism
        # head beside it, as SNGAN's, learnt the classes more slowly here)
        cmap = self.cmap(F.one_hot(y, self.num_classes).to(h.dtype))
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)
