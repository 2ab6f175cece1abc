"""CTGAN's networks (Xu et al. 2019): a residual generator with per-span output activations and a
PacGAN critic (Lin et al. 2018) that judges ``pac`` rows at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.tabular.transformer import Span


@dataclass
class TabularModelConfig:
    data_dim: int
    cond_dim: int
    latent_dim: int = 128
    g_dims: tuple[int, ...] = (256, 256)
    d_dims: tuple[int, ...] = (256, 256)
    pac: int = 2
    dropout: float = 0.5


class _Residual(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)  # (B, o + i)


class Generator(nn.Module):
    """(z, cond) -> raw row logits; :func:`activate` turns them into a row of the transformed table."""

    def __init__(self, cfg: TabularModelConfig):
        super().__init__()
        dim, layers = cfg.latent_dim + cfg.cond_dim, []
        for h in cfg.g_dims:
            layers.append(_Residual(dim, h))
            dim += h
        layers.append(nn.Linear(dim, cfg.data_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, cond: Tensor) -> Tensor:
        return self.net(torch.cat([z, cond], dim=1))  # (B, data_dim)


class Critic(nn.Module):
    """A WGAN critic on packs of ``pac`` (row, cond) pairs: (B, data + cond) -> (B / pac, 1)."""

    def __init__(self, cfg: TabularModelConfig):
        super().__init__()
        self.pac = cfg.pac
        dim, layers = (cfg.data_dim + cfg.cond_dim) * cfg.pac, []
        for h in cfg.d_dims:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), MaskDropout(cfg.dropout)]
            dim = h
        layers.append(nn.Linear(dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(-1, x.shape[1] * self.pac))


class MaskDropout(nn.Module):
    """``nn.Dropout`` drawn as a uniform mask: the same distribution, but on CPU ``bernoulli_`` (what
    ``nn.Dropout`` calls) costs ~2.5x ``rand_like`` + compare, and it was the critic's costliest op
    (16% of a fit's time on autompg)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p >= 1:
            return torch.zeros_like(x)
        return x * (torch.rand_like(x) >= self.p).to(x.dtype) * (1.0 / (1.0 - self.p))


class SpanLayout:
    """Index tables that let every span be activated in a handful of tensor ops, however many there are.

    One-hot spans are gathered into a padded (B, S, M) block: one Gumbel-softmax call covers them all.
    """

    def __init__(self, spans: list[Span], device: torch.device | str = "cpu"):
        tanh, soft, start = [], [], 0
        for s in spans:
            (tanh if s.activation == "tanh" else soft).append(list(range(start, start + s.dim)))
            start += s.dim
        width = max((len(x) for x in soft), default=1)
        self.tanh_idx = torch.tensor([i for x in tanh for i in x], dtype=torch.long, device=device)
        self.soft_idx = torch.tensor([x + [x[0]] * (width - len(x)) for x in soft], device=device).long()
        self.soft_mask = torch.tensor([[j < len(x) for j in range(width)] for x in soft], device=device)
        order = torch.cat([self.tanh_idx, self.soft_idx[self.soft_mask]])
        self.inverse = torch.argsort(order)  # from [tanh..., one-hots...] back to the row's order


def activate(raw: Tensor, layout: SpanLayout, tau: float = 0.2) -> Tensor:
    """tanh for scalars, Gumbel-softmax (temperature ``tau``) for one-hot spans, as CTGAN does."""
    parts = [torch.tanh(raw[:, layout.tanh_idx])]
    if len(layout.soft_idx):
        logits = raw[:, layout.soft_idx]  # (B, S, M)
        # Gumbel noise -log(-log U); on CPU rand + two logs cost a third of exponential_()'s draw
        uniform = torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)
        gumbel = uniform.log_().neg_().log_().neg_()
        y = ((logits + gumbel) / tau).masked_fill(~layout.soft_mask, float("-inf")).softmax(-1)
        parts.append(y[:, layout.soft_mask])
    return torch.cat(parts, dim=1)[:, layout.inverse]


class CondLayout:
    """Where each discrete column's logits sit in the generator's output, padded to one table."""

    def __init__(self, data_offsets: list[int], sizes: list[int], device: torch.device | str = "cpu"):
        width = max(sizes, default=1)
        self.idx = torch.tensor(
            [[o + min(j, n - 1) for j in range(width)] for o, n in zip(data_offsets, sizes, strict=True)],
            dtype=torch.long,
            device=device,
        )
        self.mask = torch.tensor([[j < n for j in range(width)] for n in sizes], device=device)


def cond_loss(raw: Tensor, col: Tensor, cat: Tensor, layout: CondLayout) -> Tensor:
    """Cross-entropy between the generator's logits for each row's conditioned column and its category."""
    logits = raw.gather(1, layout.idx[col]).masked_fill(~layout.mask[col], float("-inf"))  # (B, M)
    return torch.nn.functional.cross_entropy(logits, cat)
