"""BigGAN's training step as BigGAN-PyTorch (ajbrock) runs it, re-created for benchmarks/speed.py: layers.py's
ccbn, bn, GBlock and DBlock, BigGAN.py's Generator, Discriminator and G_D, train_fns.py's
GAN_training_function (D steps, then G's step with utils.ortho's gradient added), the hinge loss, toggle_grad
and utils.ema over G's state_dict; spectral norm from torch.nn.utils.spectral_norm (eps 1e-6), as
PyTorch-StudioGAN builds its BigGAN.

Kept: conditional BN (F.batch_norm on stored buffers) with gains 1 + W_g c and biases W_b c from SN linear
maps of [shared class embedding, the block's slice of z] (hierarchical latent); G blocks
BN-ReLU-upsample(nearest)-conv-BN-ReLU-conv plus an upsampled 1x1 shortcut; BN-ReLU-conv-tanh out; D blocks
pre-activated after the first (which pools its shortcut before the 1x1 conv); ReLU, sum pooling, a linear
head plus the projection of an SN class embedding; fakes and reals through D as one batch (split_D off);
G's forward without a graph in D's step; z and y drawn per step; the step's three ``.item()``; its
"using modified ortho reg in G" print (to /dev/null). Checked identical to BigGAN-PyTorch's G and D (same
weights, spectral norm off on both sides).

Set from gankit's biggan recipe instead of BigGAN-PyTorch's defaults: the channel plan (4w, 2w, w in G and
the mirror in D, gankit's; arch[32] keeps 4w throughout), width, z, shared_dim, Adam's lr and betas, one D
step per G step (BigGAN: 2), G_ortho (default 0; 1e-4 in the paper), the EMA decay, attention off.
"""

from __future__ import annotations

import copy
import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


def sn(module: nn.Module) -> nn.Module:  # StudioGAN's snconv2d / snlinear / sn_embedding
    return spectral_norm(module, eps=1e-6)


def snconv(cin, cout, k=3):  # BigGAN's which_conv: 3x3, padding 1 (1x1 for the shortcuts)
    return sn(nn.Conv2d(cin, cout, k, padding=k // 2))


class ccbn(nn.Module):  # noqa: N801 - BigGAN-PyTorch's name
    def __init__(self, output_size, input_size, eps=1e-5):
        super().__init__()
        self.gain = sn(nn.Linear(input_size, output_size, bias=False))
        self.bias = sn(nn.Linear(input_size, output_size, bias=False))
        self.eps = eps
        self.register_buffer("stored_mean", torch.zeros(output_size))
        self.register_buffer("stored_var", torch.ones(output_size))

    def forward(self, x, y):
        gain = (1 + self.gain(y)).view(y.size(0), -1, 1, 1)
        bias = self.bias(y).view(y.size(0), -1, 1, 1)
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, 0.1, self.eps)
        return out * gain + bias


class bn(nn.Module):  # noqa: N801 - the output layer's unconditional BN
    def __init__(self, output_size, eps=1e-5, momentum=0.1):
        super().__init__()
        self.gain, self.bias = nn.Parameter(torch.ones(output_size)), nn.Parameter(torch.zeros(output_size))
        self.eps, self.momentum = eps, momentum
        self.register_buffer("stored_mean", torch.zeros(output_size))
        self.register_buffer("stored_var", torch.ones(output_size))

    def forward(self, x, y=None):
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, self.training,
                            self.momentum, self.eps)  # fmt: skip


class GBlock(nn.Module):
    def __init__(self, cin, cout, cond_dim):
        super().__init__()
        self.conv1, self.conv2 = snconv(cin, cout), snconv(cout, cout)
        self.conv_sc = snconv(cin, cout, 1)  # learnable_sc: in != out or upsample (every G block)
        self.bn1, self.bn2 = ccbn(cin, cond_dim), ccbn(cout, cond_dim)
        self.activation = nn.ReLU(inplace=False)  # G_nl's default 'relu'

    def forward(self, x, y):
        h = self.activation(self.bn1(x, y))
        h = F.interpolate(h, scale_factor=2)  # upsample: functools.partial(F.interpolate, scale_factor=2)
        x = F.interpolate(x, scale_factor=2)
        h = self.conv2(self.activation(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(x)


class DBlock(nn.Module):
    def __init__(self, cin, cout, preactivation, downsample):
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1, self.conv2 = snconv(cin, cout), snconv(cout, cout)  # wide: hidden = out channels
        self.learnable_sc = cin != cout or downsample
        if self.learnable_sc:
            self.conv_sc = snconv(cin, cout, 1)
        self.activation = nn.ReLU(inplace=False)  # D_nl's default 'relu'

    def shortcut(self, x):
        if self.preactivation:
            x = self.conv_sc(x) if self.learnable_sc else x
            return F.avg_pool2d(x, 2) if self.downsample else x
        x = F.avg_pool2d(x, 2) if self.downsample else x
        return self.conv_sc(x) if self.learnable_sc else x

    def forward(self, x):
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(self.activation(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self.shortcut(x)


def arch(width: int, res: int) -> dict:
    """G's and D's channel plan as gankit's nn/resnet.py lays it out (4w at the b x b start, w at the
    output size), in BigGAN-PyTorch's arch dict form."""
    n = {32: 3, 64: 4}[res]
    ch = [width * 2 ** min(2, n - i) for i in range(n + 1)]  # G's channels from b x b up to res
    downs = n - 1
    d_out = [ch[n - i] for i in range(downs + 1)]
    return {
        "g_in": ch[:-1], "g_out": ch[1:], "bottom": res // 2**n,
        "d_in": [None, *d_out[:-1], d_out[-1]], "d_out": [*d_out, d_out[-1]],
        "d_down": [True] * downs + [False, False],
    }  # fmt: skip


class Generator(nn.Module):
    def __init__(self, dim_z, n_classes, width, res, img_channels, shared_dim):
        super().__init__()
        a = arch(width, res)
        self.bottom_width = a["bottom"]
        self.num_slots = len(a["g_in"]) + 1  # hierarchical z: one chunk for the linear, one per block
        self.z_chunk_size = dim_z // self.num_slots
        self.shared = nn.Embedding(n_classes, shared_dim)  # G_shared: no SN on the embedding
        self.linear = sn(nn.Linear(self.z_chunk_size, a["g_in"][0] * self.bottom_width**2))
        cond = shared_dim + self.z_chunk_size
        self.blocks = nn.ModuleList(GBlock(i, o, cond) for i, o in zip(a["g_in"], a["g_out"], strict=True))
        self.output_layer = nn.Sequential(bn(a["g_out"][-1]), nn.ReLU(inplace=False),
                                          snconv(a["g_out"][-1], img_channels))  # fmt: skip

    def forward(self, z, y):
        zs = torch.split(z, self.z_chunk_size, 1)
        ys = [torch.cat([y, item], 1) for item in zs[1:]]
        h = self.linear(zs[0]).view(z.size(0), -1, self.bottom_width, self.bottom_width)
        for index, block in enumerate(self.blocks):
            h = block(h, ys[index])
        return torch.tanh(self.output_layer(h))


class Discriminator(nn.Module):
    def __init__(self, n_classes, width, res, img_channels):
        super().__init__()
        a = arch(width, res)
        ins = [img_channels, *a["d_in"][1:]]
        self.blocks = nn.ModuleList(
            DBlock(i, o, preactivation=k > 0, downsample=d)
            for k, (i, o, d) in enumerate(zip(ins, a["d_out"], a["d_down"], strict=True))
        )
        self.linear = sn(nn.Linear(a["d_out"][-1], 1))
        self.embed = sn(nn.Embedding(n_classes, a["d_out"][-1]))

    def forward(self, x, y):
        h = x
        for block in self.blocks:
            h = block(h)
        h = torch.sum(F.relu(h), [2, 3])
        return self.linear(h) + torch.sum(self.embed(y) * h, 1, keepdim=True)


def init_ortho(net: nn.Module) -> None:
    """G_init / D_init 'ortho' on the layers' weights (before spectral norm: weight_orig)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.init.orthogonal_(m.weight_orig if hasattr(m, "weight_orig") else m.weight)


def toggle_grad(model, on_or_off):
    for param in model.parameters():
        param.requires_grad = on_or_off


def ortho(model, strength=1e-4, blacklist=()):
    """utils.ortho: the gradient of BigGAN's off-diagonal orthogonal regularisation, added in place."""
    with torch.no_grad():
        for param in model.parameters():
            if len(param.shape) < 2 or any(param is item for item in blacklist):
                continue
            w = param.view(param.shape[0], -1)
            grad = 2 * torch.mm(torch.mm(w, w.t()) * (1.0 - torch.eye(w.shape[0], device=w.device)), w)
            param.grad.data += strength * grad.view(param.shape)


class EMA:  # utils.ema: every entry of G's state_dict, buffers included (the target starts as a copy)
    def __init__(self, source, target, decay=0.9999, start_itr=0):
        self.source_dict, self.target_dict = source.state_dict(), target.state_dict()
        self.decay, self.start_itr = decay, start_itr

    def update(self, itr=None):
        decay = 0.0 if (itr and itr < self.start_itr) else self.decay
        with torch.no_grad():
            for key in self.source_dict:
                self.target_dict[key].data.copy_(
                    self.target_dict[key].data * decay + self.source_dict[key].data * (1 - decay)
                )


class BigGANReference:
    """``step()``: one batch of BigGAN-PyTorch's train(x, y). ``s``: the settings (settings()
    below); ``x``: (N, C, R, R) images in [-1, 1]; ``y``: (N,) labels."""

    def __init__(self, s: dict, x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int = 0):
        torch.manual_seed(seed)
        self.s, self.x, self.y, self.n_classes, self.itr = s, x, y, num_classes, 0
        res, ch = x.shape[-1], x.shape[1]
        self.G = Generator(s["dim_z"], num_classes, s["width"], res, ch, s["shared_dim"])
        self.D = Discriminator(num_classes, s["width"], res, ch)
        init_ortho(self.G)
        init_ortho(self.D)
        self.G_ema = copy.deepcopy(self.G)
        self.ema = EMA(self.G, self.G_ema, s["ema"], start_itr=0)
        adam = dict(betas=s["betas"], weight_decay=0, eps=1e-8)
        self.G_optim = torch.optim.Adam(self.G.parameters(), lr=s["lr_g"], **adam)
        self.D_optim = torch.optim.Adam(self.D.parameters(), lr=s["lr_d"], **adam)
        self.log = open(os.devnull, "w")  # noqa: SIM115 - the step prints a line

    def GD(self, z, gy, x=None, dy=None, train_G=False):  # noqa: N802 - G_D.forward, split_D=False
        with torch.set_grad_enabled(train_G):
            G_z = self.G(z, self.G.shared(gy))  # noqa: N806
        if x is None:
            return self.D(G_z, gy)
        D_out = self.D(torch.cat([G_z, x], 0), torch.cat([gy, dy], 0))  # noqa: N806
        return torch.split(D_out, [G_z.shape[0], x.shape[0]])

    def step(self) -> dict:
        s, b = self.s, self.s["batch"]
        self.G.train(), self.D.train(), self.G_ema.train()  # train.py, before each train(x, y)
        idx = torch.randint(len(self.x), (b * s["num_D_steps"],))
        x, y = torch.split(self.x[idx], b), torch.split(self.y[idx], b)
        self.G_optim.zero_grad()
        self.D_optim.zero_grad()
        toggle_grad(self.D, True)
        toggle_grad(self.G, False)
        for counter in range(s["num_D_steps"]):
            self.D_optim.zero_grad()
            z_, y_ = torch.randn(b, s["dim_z"]), torch.randint(0, self.n_classes, (b,))  # z_.sample_()
            D_fake, D_real = self.GD(z_, y_, x[counter], y[counter], train_G=False)  # noqa: N806
            D_loss_real = torch.mean(F.relu(1.0 - D_real))  # noqa: N806 - losses.loss_hinge_dis
            D_loss_fake = torch.mean(F.relu(1.0 + D_fake))  # noqa: N806
            (D_loss_real + D_loss_fake).backward()
            self.D_optim.step()
        toggle_grad(self.D, False)
        toggle_grad(self.G, True)
        self.G_optim.zero_grad()
        z_, y_ = torch.randn(b, s["dim_z"]), torch.randint(0, self.n_classes, (b,))
        G_loss = -torch.mean(self.GD(z_, y_, train_G=True))  # noqa: N806 - losses.loss_hinge_gen
        G_loss.backward()
        if s["G_ortho"] > 0.0:
            print("using modified ortho reg in G", file=self.log)
            ortho(self.G, s["G_ortho"], blacklist=list(self.G.shared.parameters()))
        self.G_optim.step()
        self.itr += 1
        self.ema.update(self.itr)
        return {"G_loss": float(G_loss.item()), "D_loss_real": float(D_loss_real.item()),
                "D_loss_fake": float(D_loss_fake.item())}  # fmt: skip


def settings(cfg) -> dict:
    """The reference's settings from a resolved gankit biggan config (same sizes, batch and game)."""
    m, o, opt = cfg.model, cfg.model.options, cfg.optim
    return {
        "dim_z": m.latent_dim, "width": o["width"], "shared_dim": o["shared_dim"], "lr_g": opt.lr_g,
        "lr_d": opt.lr_d, "betas": tuple(opt.betas_g), "num_D_steps": opt.n_critic, "G_ortho": o["ortho"],
        "ema": opt.ema, "batch": cfg.train.batch_size,
    }  # fmt: skip
