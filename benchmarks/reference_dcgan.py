"""The reference loops users copy, re-created for benchmarks/speed.py: the PyTorch DCGAN example
(examples/dcgan/main.py: its G and D, BCE on a sigmoid, Adam(2e-4, beta1 0.5), a DataLoader that
resizes and normalises each image in __getitem__, its .item() calls, log line and sample grids) and
PyTorch-GAN's gan.py loop on gankit's mlp network."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.images import _mnist_arrays
from gankit.visual import save_samples_png

BATCH = 64
NZ = 100


# --- the reference networks (the PyTorch DCGAN example's, and gankit's mlp in PyTorch-GAN's style) ---
class RefGenerator(nn.Module):
    def __init__(self, res: int, nc: int = 1, ngf: int = 64):
        super().__init__()
        n = {32: 3, 64: 4}[res]  # up-sampling blocks after the 4x4 projection
        ch = ngf * 2 ** (n - 1)
        layers = [nn.ConvTranspose2d(NZ, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)


class RefDiscriminator(nn.Module):
    def __init__(self, res: int, nc: int = 1, ndf: int = 64):
        super().__init__()
        n = {32: 3, 64: 4}[res]
        layers, ch = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)], ndf
        for _ in range(n - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m: nn.Module) -> None:
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class RefMLPGenerator(nn.Module):
    def __init__(self, width: int = 512, depth: int = 3):
        super().__init__()
        layers, fan_in = [], NZ
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU(inplace=True)]
            fan_in = width
        self.model = nn.Sequential(*layers, nn.Linear(fan_in, 784), nn.Tanh())

    def forward(self, z):
        return self.model(z).view(z.size(0), 1, 28, 28)


class RefMLPDiscriminator(nn.Module):
    def __init__(self, width: int = 512, depth: int = 3):
        super().__init__()
        layers, fan_in = [], 784
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.LeakyReLU(0.2, inplace=True)]
            fan_in = width
        self.model = nn.Sequential(*layers, nn.Linear(fan_in, 1), nn.Sigmoid())

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


# --- the reference input pipeline: per-image transforms in a Dataset, a DataLoader --------------------
class MNISTWithTransforms(torch.utils.data.Dataset):
    """Resize(res) -> ToTensor -> Normalize((0.5,), (0.5,)), one image at a time, as torchvision does."""

    def __init__(self, res: int):
        x, y = _mnist_arrays()
        self.images = np.clip(np.rint(x), 0, 255).astype(np.uint8)  # (N, 1, 28, 28), like the PNG files
        self.labels, self.res = y, res

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = torch.from_numpy(self.images[i]).float()  # (1, 28, 28) in [0, 255]
        if img.shape[-1] != self.res:  # Resize: bilinear with antialiasing (PIL's)
            img = F.interpolate(img[None], size=(self.res, self.res), mode="bilinear", antialias=True)[0]
            img = img.round().clamp(0, 255)  # PIL resizes 8-bit images
        img = img / 255.0  # ToTensor
        return (img - 0.5) / 0.5, int(self.labels[i])  # Normalize


def loader(res: int, workers: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        MNISTWithTransforms(res), batch_size=BATCH, shuffle=True, num_workers=workers
    )


def batches(dl):
    while True:  # epochs, as `for epoch in range(niter): for i, data in enumerate(dataloader)`
        yield from dl


# --- the reference loops ------------------------------------------------------------------------------
class DCGANReference:
    def __init__(self, res: int, workers: int, out: Path):
        torch.manual_seed(0)
        self.G, self.D = RefGenerator(res), RefDiscriminator(res)
        self.G.apply(weights_init)
        self.D.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.fixed_noise = torch.randn(BATCH, NZ, 1, 1)
        self.data = batches(loader(res, workers))
        self.out, self.i = out, 0
        self.log = open(os.devnull, "w")  # noqa: SIM115 - the example prints one line per step

    def step(self, real_cpu: torch.Tensor | None = None) -> None:
        if real_cpu is None:
            real_cpu = next(self.data)[0]
        G, D, criterion = self.G, self.D, self.criterion
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        D.zero_grad()
        b = real_cpu.size(0)
        label = torch.full((b,), 1.0, dtype=real_cpu.dtype)
        output = D(real_cpu)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        d_x = output.mean().item()
        noise = torch.randn(b, NZ, 1, 1)
        fake = G(noise)
        label.fill_(0.0)
        output = D(fake.detach())
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        d_g_z1 = output.mean().item()
        err_d = err_d_real + err_d_fake
        self.opt_d.step()
        # (2) Update G network: maximize log(D(G(z)))
        G.zero_grad()
        label.fill_(1.0)
        output = D(fake)
        err_g = criterion(output, label)
        err_g.backward()
        d_g_z2 = output.mean().item()
        self.opt_g.step()
        print(
            f"[0/25][{self.i}/79] Loss_D: {err_d.item():.4f} Loss_G: {err_g.item():.4f} "
            f"D(x): {d_x:.4f} D(G(z)): {d_g_z1:.4f} / {d_g_z2:.4f}",
            file=self.log,
        )
        if self.i % 100 == 0:
            save_samples_png(real_cpu, self.out / "real_samples.png")
            fake = G(self.fixed_noise)
            save_samples_png(fake.detach(), self.out / f"fake_samples_{self.i:03d}.png")
        self.i += 1


class VanillaGANReference:
    """PyTorch-GAN's gan.py loop (G step first, numpy latents, Variable-era tensors, a print per batch)."""

    def __init__(self, workers: int, out: Path):
        torch.manual_seed(0)
        np.random.seed(0)
        self.G, self.D = RefMLPGenerator(), RefMLPDiscriminator()
        self.loss = nn.BCELoss()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.data = batches(loader(28, workers))
        self.out, self.i = out, 0
        self.log = open(os.devnull, "w")  # noqa: SIM115

    def step(self) -> None:
        imgs, _ = next(self.data)
        valid = torch.FloatTensor(imgs.size(0), 1).fill_(1.0)
        fake = torch.FloatTensor(imgs.size(0), 1).fill_(0.0)
        real_imgs = imgs.type(torch.FloatTensor)
        self.opt_g.zero_grad()
        z = torch.FloatTensor(np.random.normal(0, 1, (imgs.shape[0], NZ)))
        gen_imgs = self.G(z)
        g_loss = self.loss(self.D(gen_imgs), valid)
        g_loss.backward()
        self.opt_g.step()
        self.opt_d.zero_grad()
        real_loss = self.loss(self.D(real_imgs), valid)
        fake_loss = self.loss(self.D(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        self.opt_d.step()
        print(
            f"[Epoch 0/200] [Batch {self.i}/79] [D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}]",
            file=self.log,
        )
        if self.i % 400 == 0:
            save_samples_png(gen_imgs.data[:25], self.out / f"{self.i}.png")
        self.i += 1
