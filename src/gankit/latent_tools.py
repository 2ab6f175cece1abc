"""Latent tools for generators with per-layer styles (an export that says ``"styles": num_ws``, e.g.
stylegan): style mixing, and projection of a real image into w or w+.

They use the exported generator's two halves: ``mapping(z, y, truncation) -> w`` (B, w_dim) and
``synthesis(ws) -> x``, ws (B, w_dim) or one w per layer (B, num_ws, w_dim). In evaluation mode the
noise inputs are fixed, so a w gives one image. The commands are in gankit/latent_cli.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.latent import sample_latent
from gankit.pretrained import GAN


def styled_families() -> list[str]:
    """Families whose exports have per-layer styles (they set ``styles = True``)."""
    from gankit.models import MODELS

    return [name for name, family in MODELS.items() if getattr(family, "styles", False)]


def require_styles(gan: GAN, where: str, command: str) -> int:
    """The export's number of styles (ws); a one-line error for a generator without them."""
    num_ws = gan.meta.get("styles")
    if not num_ws:
        family = gan.meta.get("model", {}).get("name", "this")
        raise GankitError(
            f"{where} holds a {family} generator, which has no per-layer styles for `gankit {command}`",
            f"it works with models of: {', '.join(styled_families())}",
        )
    return int(num_ws)


def parse_seeds(text: str, option: str) -> list[int]:
    """``"1,2,5-7"`` -> [1, 2, 5, 6, 7]."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-") if not part.startswith("-") else (part, "", "")
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise GankitError(f"{option} '{text}' is not a list of seeds", f"e.g. {option} 1,2,3 or {option} 0-4")
    return seeds


def parse_layers(text: str | None, num_ws: int) -> tuple[int, int]:
    """``"a-b"`` (inclusive, 0-based) within the generator's styles; default: the coarse half."""
    if text is None:
        return 0, max(0, num_ws // 2 - 1)
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise GankitError(
            f"--layers '{text}' is not a range", f"e.g. --layers 0-3 (0..{num_ws - 1})"
        ) from None
    if not 0 <= a <= b < num_ws:
        raise GankitError(f"--layers {text} is outside this generator's styles 0-{num_ws - 1}",
                          f"pick a range within 0-{num_ws - 1}")  # fmt: skip
    return a, b


def check_label(gan: GAN, label: int | None) -> None:
    k = gan.num_classes
    if label is not None and not 0 <= label < k:
        raise GankitError(
            f"--label {label} is not a class of this model", f"use 0..{k - 1}" if k else "drop --label"
        )


def seed_latents(gan: GAN, seeds: list[int], label: int | None) -> tuple[Tensor, Tensor | None]:
    """One z per seed (the first draw of ``torch.Generator().manual_seed(seed)``, as
    ``gan.sample(1, seed=...)`` draws it) and, when conditional, ``label`` or one drawn from the seed."""
    check_label(gan, label)
    m, k = gan.meta["model"], gan.num_classes
    zs, ys = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        zs.append(sample_latent(1, m["latent_dim"], m["prior"], g))
        if k:
            ys.append(torch.tensor([label]) if label is not None else torch.randint(k, (1,), generator=g))
    y = torch.cat(ys).to(gan.device) if k else None
    return torch.cat(zs).to(gan.device), y


@dataclass
class StyleMix:
    """Images in [-1, 1]: the plain ones of the row and column seeds, and ``cells[i, j]``: row i with
    layers a..b from column j."""

    rows: Tensor  # (R, C, H, W)
    cols: Tensor  # (K, C, H, W)
    cells: Tensor  # (R, K, C, H, W)

    def grid(self) -> tuple[Tensor, int]:
        """(N, C, H, W) images for a grid of 1 + K columns: a blank corner, then the column images;
        each row: its plain image, then its mixes."""
        corner = torch.ones_like(self.cols[:1])
        lines = [torch.cat([corner, self.cols])]
        lines += [torch.cat([self.rows[i : i + 1], self.cells[i]]) for i in range(len(self.rows))]
        return torch.cat(lines), len(self.cols) + 1


@torch.no_grad()
def style_mix(
    gan: GAN,
    rows: list[int],
    cols: list[int],
    layers: tuple[int, int],
    label: int | None = None,
    truncation: float | None = None,
) -> StyleMix:
    """Row seeds' ws with the styles of layers ``layers`` (inclusive) taken from the column seeds'."""
    G = gan.generator
    a, b = layers
    z_r, y_r = seed_latents(gan, rows, label)
    z_c, y_c = seed_latents(gan, cols, label)
    ws_r = G.broadcast(G.mapping(z_r, y_r, truncation))  # (R, num_ws, w_dim)
    ws_c = G.broadcast(G.mapping(z_c, y_c, truncation))  # (K, num_ws, w_dim)
    mixed = ws_r[:, None].repeat(1, len(cols), 1, 1)  # (R, K, num_ws, w_dim)
    mixed[:, :, a : b + 1] = ws_c[None, :, a : b + 1]
    # one batch: a cell with every layer from its column is then the column image, bit for bit
    images = G.synthesis(torch.cat([ws_c, ws_r, mixed.flatten(0, 1)])).float().cpu()
    k, r = len(cols), len(rows)
    return StyleMix(images[k : k + r], images[:k], images[k + r :].view(r, k, *images.shape[1:]))


# --- projection ----------------------------------------------------------------------------------
class RandomFeatures(nn.Module):
    """The activations of each layer of gankit's seeded random conv net (metrics/extractors.py):
    a fixed feature space that needs no download or training and fits any image data. (The digit
    classifier of metrics/classifier.py knows digits only and must be trained first.)"""

    def __init__(self, channels: int):
        super().__init__()
        from gankit.metrics.extractors import RANDOM_SIZE, RandomConvNet

        self.net, self.size = RandomConvNet(channels).requires_grad_(False), RANDOM_SIZE

    def forward(self, x: Tensor) -> list[Tensor]:
        h = F.interpolate(x.float(), size=(self.size, self.size), mode="bilinear", antialias=True)
        out = []
        for layer in self.net.body:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                out.append(h)
        return out


@dataclass
class Projection:
    ws: Tensor  # (num_ws, w_dim): the same w in every row unless projected into w+
    image: Tensor  # (C, H, W) in [-1, 1]
    target: Tensor  # (C, H, W), at the generator's resolution
    losses: list[float] = field(default_factory=list)  # per step
    frames: list[Tensor] = field(default_factory=list)  # images along the way, for the progress strip


def fit_target(image: Tensor, shape: list[int]) -> Tensor:
    """(C, H, W) in [-1, 1] resized (bilinear, antialiased) to the generator's (C, R, R)."""
    c, r = shape[0], shape[-1]
    if image.shape[0] != c:
        image = image.mean(0, keepdim=True) if c == 1 else image.expand(c, -1, -1)
    if tuple(image.shape[-2:]) != (r, r):
        image = F.interpolate(image[None], size=(r, r), mode="bilinear", antialias=True)[0]
    return image.clamp(-1, 1)


def projection_loss(
    x: Tensor, target: Tensor, features: RandomFeatures, target_features: list[Tensor]
) -> Tensor:
    """Pixel MSE plus the features' MSE, each layer's relative to its target's mean square."""
    loss = F.mse_loss(x, target)
    for f, t in zip(features(x), target_features, strict=True):
        loss = loss + F.mse_loss(f, t) / (t.square().mean() + 1e-8) / len(target_features)
    return loss


def project(
    gan: GAN,
    image: Tensor,
    steps: int = 300,
    seed: int = 0,
    wplus: bool = False,
    label: int | None = None,
    lr: float = 0.1,
    n_frames: int = 8,
) -> Projection:
    """Optimise w (or one w per layer: ``wplus``) so that ``synthesis(w)`` reproduces ``image``
    (C, H, W) in [-1, 1], as StyleGAN2's projector: start at the mean of 256 seeded ws (of ``label``
    when given), Adam with a learning rate ramped up and down, and noise on w that fades out."""
    G = gan.generator
    num_ws = require_styles(gan, "the model", "project")
    check_label(gan, label)
    target = fit_target(image.to(gan.device), gan.meta["shape"])[None]  # (1, C, R, R)
    g = torch.Generator().manual_seed(seed)
    m = gan.meta["model"]
    with torch.no_grad():
        z = sample_latent(256, m["latent_dim"], m["prior"], g).to(gan.device)
        y = None
        if gan.num_classes:
            y = torch.full((256,), label) if label is not None else torch.arange(256) % gan.num_classes
        w_samples = G.mapping(z, y.to(gan.device) if y is not None else None)  # (256, w_dim)
        w_mean = w_samples.mean(0, keepdim=True)
        w_std = (w_samples - w_mean).square().sum(1).mean().sqrt().item()
    w = (w_mean[:, None].repeat(1, num_ws, 1) if wplus else w_mean).clone().requires_grad_(True)
    features = RandomFeatures(target.shape[1]).to(gan.device)
    with torch.no_grad():
        target_features = features(target)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    keep = {round(i * (steps - 1) / max(1, n_frames - 1)) for i in range(n_frames)}
    flags = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    result = Projection(w, target[0], target[0].cpu())
    try:
        for step in range(steps):
            t = step / steps
            noise = w_std * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2  # explores early, none at the end
            ramp = min(1.0, (1.0 - t) / 0.25)
            opt.param_groups[0]["lr"] = lr * (0.5 - 0.5 * math.cos(math.pi * ramp)) * min(1.0, t / 0.05)
            x = G.synthesis(w + noise * torch.randn(w.shape, generator=g).to(w.device))
            loss = projection_loss(x, target, features, target_features)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            result.losses.append(loss.item())
            if step in keep:
                result.frames.append(x[0].detach().float().cpu())
    finally:
        for p, flag in zip(G.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    with torch.no_grad():
        ws = G.broadcast(w.detach())  # (1, num_ws, w_dim)
        result.ws, result.image = ws[0].cpu(), G.synthesis(ws)[0].float().cpu()
    return result
