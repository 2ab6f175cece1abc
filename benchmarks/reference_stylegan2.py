"""NVlabs' stylegan2-ada-pytorch training step re-created for benchmarks/speed.py: its networks
(training/networks.py) on the reference ops a CPU runs (torch_utils/ops: _upfirdn2d_ref, _bias_act_ref,
conv2d_resample, fma), and one batch of training/training_loop.py with training/loss.py's StyleGAN2Loss:
phases Gmain, Dmain and, every ``r1_every`` batches, Dreg, each with its own Adam step; then G_ema.

Kept: FIR resampling with [1, 3, 3, 1] (zero insertion, padding, a depthwise conv2d with the 4x4 filter,
every 2nd pixel kept); up-convs as a strided transposed conv then the filter, down-convs as the filter
then a strided conv, the 1x1 skip downsampled first; modulation with fused_modconv=False (NVlabs' choice
while training: per-sample weights built for the demodulation coefficients only); bias, activation and
gain as separate ops; equalised learning rates; skip G, residual D, minibatch std; the label embedding
in G's mapping and D's projection; style mixing (a second mapping pass every batch); lazy R1 on its own
D forward (gain = interval; Adam's lr and betas scaled by interval / (interval + 1)); requires_grad
toggling; nan_to_num of the gradients; w_avg tracking. Checked bit-identical to NVlabs' G and D
(forward, and D's input gradient) with the same weights.

Set to match gankit's stylegan recipe instead of NVlabs' defaults: fp32 without conv clamping (NVlabs'
``--fp32``, what a CPU runs); D's label mapping with 0 layers (its embedding alone, as gankit's cmap;
NVlabs' default 8 layers of cmap_dim would add 8.4k weights); no Greg phase (gankit's default pl_weight
is 0, where NVlabs' Greg phase computes nothing); no augmentation, no training_stats.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


# --- torch_utils/ops, the reference (non-CUDA) implementations -------------------------------------
def setup_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)  # fewer than 8 taps: NVlabs uses the 2-D (non-separable) filter
    return f / f.sum()


def upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """_upfirdn2d_ref: upsample by inserting zeros, pad (or crop), convolve with f, downsample."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    px0, px1, py0, py1 = pad
    x = F.pad(x, [px0, px1, py0, py1])  # (NVlabs crops for negative padding: none here)
    f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip([0, 1])  # flip_filter=False: a true convolution
    x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


ACTS = {"linear": (lambda x: x, 1.0), "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2))}


def bias_act(x, b=None, act="linear", gain=None):
    """_bias_act_ref: add the bias, the activation, scale by the gain (the activation's by default)."""
    func, def_gain = ACTS[act]
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    x = func(x)
    gain = def_gain if gain is None else gain
    return x * gain if gain != 1 else x


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, flip_weight=True):
    """conv2d_resample's paths for the layers used here (padding is given for the upsampled image)."""
    kw, fw = w.shape[-1], (f.shape[-1] if f is not None else 1)
    p0 = p1 = padding
    if up > 1:
        p0, p1 = p0 + (fw + up - 1) // 2, p1 + (fw - up) // 2
    if down > 1:
        p0, p1 = p0 + (fw - down + 1) // 2, p1 + (fw - down) // 2
    if up > 1:  # upsampling: a strided transposed conv (NVlabs flips its weight iff flip_weight), then f
        p0, p1 = p0 - (kw - 1), p1 - (kw - up)
        pt = max(min(-p0, -p1), 0)
        w = (w.flip([2, 3]) if flip_weight else w).transpose(0, 1)
        x = F.conv_transpose2d(x, w, stride=up, padding=pt)
        return upfirdn2d(x, f, pad=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up * up)
    w = w if flip_weight else w.flip([2, 3])
    if kw == 1 and down > 1:  # 1x1 with downsampling: downsample first, then the conv
        return F.conv2d(upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1)), w)
    if down > 1:  # downsampling: filter, then a strided conv
        return F.conv2d(upfirdn2d(x, f, pad=(p0, p1, p0, p1)), w, stride=down)
    return F.conv2d(x, w, padding=p0)


def normalize_2nd_moment(x, eps=1e-8):
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, f=None, demodulate=True, flip=True):
    """modulated_conv2d(fused_modconv=False), what NVlabs runs while training (the fused grouped conv is
    for evaluation mode only): per-sample weights built for the demodulation coefficients, the
    activations scaled before and after one conv shared by the batch."""
    b = x.shape[0]
    if demodulate:
        w = weight.unsqueeze(0) * styles.reshape(b, 1, -1, 1, 1)  # (N, O, I, k, k)
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)
    x = x * styles.reshape(b, -1, 1, 1)
    x = conv2d_resample(x, weight, f, up=up, padding=padding, flip_weight=flip)
    if demodulate and noise is not None:
        return torch.addcmul(noise, x, dcoefs.reshape(b, -1, 1, 1))  # fma.fma(x, dcoefs, noise)
    if demodulate:
        return x * dcoefs.reshape(b, -1, 1, 1)
    return x.add_(noise) if noise is not None else x


# --- training/networks.py ---------------------------------------------------------------------------
class FullyConnectedLayer(nn.Module):
    def __init__(self, cin, cout, activation="linear", lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([cout], float(bias_init)))
        self.weight_gain, self.bias_gain = lr_multiplier / math.sqrt(cin), lr_multiplier

    def forward(self, x):
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Conv2dLayer(nn.Module):
    def __init__(self, cin, cout, k, bias=True, activation="linear", down=1):
        super().__init__()
        self.activation, self.down, self.padding = activation, down, k // 2
        self.register_buffer("resample_filter", setup_filter())
        self.weight_gain = 1 / math.sqrt(cin * k * k)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x, gain=1.0):
        w = self.weight * self.weight_gain
        x = conv2d_resample(x, w, self.resample_filter, down=self.down, padding=self.padding)
        return bias_act(x, self.bias, act=self.activation, gain=ACTS[self.activation][1] * gain)


class MappingNetwork(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers, lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.num_ws, self.w_avg_beta = z_dim, c_dim, num_ws, w_avg_beta
        embed = w_dim if c_dim else 0
        features = [z_dim + embed] + [w_dim] * num_layers
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed)
        self.fcs = nn.ModuleList(
            FullyConnectedLayer(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            for i in range(num_layers)
        )
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, skip_w_avg_update=False):
        x = normalize_2nd_moment(z) if self.z_dim else None
        if self.c_dim:
            y = normalize_2nd_moment(self.embed(c))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for fc in self.fcs:
            x = fc(x)
        if hasattr(self, "w_avg") and self.training and not skip_w_avg_update:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        return x.unsqueeze(1).repeat([1, self.num_ws, 1]) if self.num_ws is not None else x


class SynthesisLayer(nn.Module):
    def __init__(self, cin, cout, w_dim, resolution, up=1, use_noise=True):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.register_buffer("resample_filter", setup_filter())
        self.affine = FullyConnectedLayer(w_dim, cin, bias_init=1)
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x, w):
        styles = self.affine(w)
        noise = None
        if self.use_noise:  # noise_mode='random'
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution]) * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise, up=self.up, padding=1, f=self.resample_filter,
                             flip=self.up == 1)  # fmt: skip
        return bias_act(x, self.bias, act="lrelu")


class ToRGBLayer(nn.Module):
    def __init__(self, cin, cout, w_dim):
        super().__init__()
        self.affine = FullyConnectedLayer(w_dim, cin, bias_init=1)
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_gain = 1 / math.sqrt(cin)

    def forward(self, x, w):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias)


class SynthesisBlock(nn.Module):  # architecture='skip'
    def __init__(self, cin, cout, w_dim, resolution, img_channels, use_noise=True):
        super().__init__()
        self.cin = cin
        self.register_buffer("resample_filter", setup_filter())
        if cin == 0:
            self.const = nn.Parameter(torch.randn([cout, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, up=2, use_noise=use_noise)
        self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, use_noise=use_noise)
        self.torgb = ToRGBLayer(cout, img_channels, w_dim)
        self.num_conv = 1 if cin == 0 else 2

    def forward(self, x, img, ws):
        w_iter = iter(ws.unbind(dim=1))
        if self.cin == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = self.conv0(x, next(w_iter))
        x = self.conv1(x, next(w_iter))
        y = self.torgb(x, next(w_iter))
        if img is None:
            return x, y
        return x, upfirdn2d(img, self.resample_filter, up=2, pad=(2, 1, 2, 1), gain=4).add_(y)  # upsample2d


def channels_dict(res, channel_base, channel_max):
    return {r: min(channel_base // r, channel_max) for r in [2**i for i in range(2, int(math.log2(res)) + 1)]}


class Generator(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, res, img_channels, channel_base, channel_max, map_layers,
                 mapping_lr=0.01, w_avg_beta=0.995, use_noise=True):  # fmt: skip
        super().__init__()
        ch = channels_dict(res, channel_base, channel_max)
        self.blocks = nn.ModuleList(
            SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels, use_noise) for r in ch
        )
        self.num_ws = sum(b.num_conv for b in self.blocks) + 1
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, map_layers, mapping_lr, w_avg_beta)

    def synthesis(self, ws):
        x = img = None
        i = 0
        for block in self.blocks:
            x, img = block(x, img, ws.narrow(1, i, block.num_conv + 1))
            i += block.num_conv
        return img

    def forward(self, z, c):
        return self.synthesis(self.mapping(z, c))


class DiscriminatorBlock(nn.Module):  # architecture='resnet'
    def __init__(self, cin, tmp, cout, img_channels):
        super().__init__()
        self.cin = cin
        if cin == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp, 1, activation="lrelu")
        self.conv0 = Conv2dLayer(tmp, tmp, 3, activation="lrelu")
        self.conv1 = Conv2dLayer(tmp, cout, 3, activation="lrelu", down=2)
        self.skip = Conv2dLayer(tmp, cout, 1, bias=False, down=2)

    def forward(self, x, img):
        if self.cin == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y.add_(x)


def minibatch_std(x, group_size, f=1):  # MinibatchStdLayer
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, -1, f, c // f, h, w)
    y = ((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).sqrt()  # (n, F, c, H, W)
    y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, c_dim, res, img_channels, channel_base, channel_max, mbstd_group=4, map_layers=0):
        super().__init__()
        ch = channels_dict(res, channel_base, channel_max)
        self.c_dim, c4 = c_dim, ch[4]
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(ch[r] if r < res else 0, ch[r], ch[r // 2], img_channels)
            for r in sorted(ch, reverse=True)[:-1]
        )
        self.cmap_dim = c4 if c_dim else 0
        if c_dim:  # NVlabs: MappingNetwork(z_dim=0, c_dim, cmap_dim, num_ws=None, w_avg_beta=None)
            self.mapping = MappingNetwork(0, c_dim, self.cmap_dim, None, map_layers, w_avg_beta=None)
        self.mbstd_group = mbstd_group  # the epilogue, b4
        self.conv = Conv2dLayer(c4 + 1, c4, 3, activation="lrelu")
        self.fc = FullyConnectedLayer(c4 * 16, c4, activation="lrelu")
        self.out = FullyConnectedLayer(c4, self.cmap_dim or 1)

    def forward(self, img, c):
        x = None
        for block in self.blocks:
            x = block(x, img)
        x = self.out(self.fc(self.conv(minibatch_std(x, self.mbstd_group)).flatten(1)))
        if self.cmap_dim:
            x = (x * self.mapping(None, c)).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


# --- training/loss.py and the step of training/training_loop.py -------------------------------------
class StyleGAN2Reference:
    """``step()``: one batch of NVlabs' loop. ``s``: the settings (settings() below);
    ``x``: (N, C, R, R) images in [-1, 1], ``y``: (N,) labels, ``num_classes``: 0 if unconditional."""

    def __init__(self, s: dict, x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int = 0):
        torch.manual_seed(seed)
        res, ch = x.shape[-1], x.shape[1]
        self.s, self.x, self.y, self.c_dim, self.batch_idx = s, x, y, num_classes, 0
        base, cmax = s["channel_base"], s["channel_max"]
        self.G = Generator(s["z_dim"], num_classes, s["w_dim"], res, ch, base, cmax, s["map_layers"],
                           s["mapping_lr"], s["w_avg_beta"], s["use_noise"])  # fmt: skip
        self.G.train().requires_grad_(False)
        self.D = Discriminator(num_classes, res, ch, base, cmax, s["mbstd"]).train().requires_grad_(False)
        self.G_ema = copy.deepcopy(self.G).eval()
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=s["lr"], betas=s["betas"], eps=1e-8)
        ratio = s["r1_every"] / (s["r1_every"] + 1)  # lazy regularisation's corrected hyper-parameters
        betas = [b**ratio for b in s["betas"]]
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=s["lr_d"] * ratio, betas=betas, eps=1e-8)
        self.phases = [("Gmain", self.G, self.opt_G, 1), ("Dmain", self.D, self.opt_D, 1),
                       ("Dreg", self.D, self.opt_D, s["r1_every"])]  # fmt: skip

    def onehot(self, labels):  # NVlabs' c: one-hot float vectors, (N, 0) when unconditional
        return F.one_hot(labels, self.c_dim).float() if self.c_dim else torch.zeros(len(labels), 0)

    def run_G(self, z, c):
        ws = self.G.mapping(z, c)
        if self.s["mixing"] > 0:
            n = ws.shape[1]
            cutoff = torch.empty([], dtype=torch.int64).random_(1, n)
            cutoff = torch.where(torch.rand([]) < self.s["mixing"], cutoff, torch.full_like(cutoff, n))
            ws[:, cutoff:] = self.G.mapping(torch.randn_like(z), c, skip_w_avg_update=True)[:, cutoff:]
        return self.G.synthesis(ws)

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain):
        if phase == "Gmain":  # maximise the logits of the fakes
            gen_logits = self.D(self.run_G(gen_z, gen_c), gen_c)
            F.softplus(-gen_logits).mean().mul(gain).backward()
        if phase == "Dmain":  # minimise the fakes' logits, then maximise the reals'
            gen_logits = self.D(self.run_G(gen_z, gen_c), gen_c)
            F.softplus(gen_logits).mean().mul(gain).backward()
        if phase in ("Dmain", "Dreg"):
            do_r1 = phase == "Dreg" and self.s["r1_gamma"] != 0
            real_img_tmp = real_img.detach().requires_grad_(do_r1)
            real_logits = self.D(real_img_tmp, real_c)
            loss_real = F.softplus(-real_logits) if phase == "Dmain" else 0
            loss_r1 = 0
            if do_r1:
                (r1_grads,) = torch.autograd.grad([real_logits.sum()], [real_img_tmp], create_graph=True)
                loss_r1 = r1_grads.square().sum([1, 2, 3]) * (self.s["r1_gamma"] / 2)
            (real_logits * 0 + loss_real + loss_r1).mean().mul(gain).backward()

    def step(self) -> None:
        b, n = self.s["batch"], len(self.phases) * self.s["batch"]
        idx = torch.randint(len(self.x), (b,))
        real_img, real_c = self.x[idx], self.onehot(self.y[idx])
        all_z = torch.randn([n, self.s["z_dim"]]).split(b)
        all_c = self.onehot(self.y[torch.randint(len(self.y), (n,))]).split(b)  # labels of random samples
        for (phase, module, opt, interval), gen_z, gen_c in zip(self.phases, all_z, all_c, strict=True):
            if self.batch_idx % interval != 0:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            self.accumulate_gradients(phase, real_img, real_c, gen_z, gen_c, gain=interval)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        with torch.no_grad():  # G_ema: parameters averaged, buffers copied
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                p_ema.copy_(p.lerp(p_ema, self.s["ema"]))
            for b_ema, b_ in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b_)
        self.batch_idx += 1


def settings(cfg) -> dict:
    """The reference's settings from a resolved gankit stylegan config (same sizes, batch and game)."""
    m, o, opt = cfg.model, cfg.model.options, cfg.optim
    return {
        "z_dim": m.latent_dim, "w_dim": o["w_dim"], "map_layers": o["mapping_layers"],
        "mapping_lr": o["mapping_lr"], "channel_base": o["width"] * cfg.data.resolution,
        "channel_max": o["max_width"], "mbstd": m.mbstd, "r1_gamma": cfg.loss.r1, "r1_every": o["r1_every"],
        "mixing": o["mixing"], "lr": opt.lr_g, "lr_d": opt.lr_d, "betas": tuple(opt.betas_g), "ema": opt.ema,
        "batch": cfg.train.batch_size, "use_noise": o["noise"], "w_avg_beta": o["w_avg_beta"],
    }  # fmt: skip
