"""Adversarial objectives (`gankit losses`) and the gradient penalty.

Every loss works on D's raw outputs (logits). ``d_loss`` is minimised by the discriminator,
``g_loss`` by the generator. Sigmoid-based losses use the numerically stable softplus forms:
log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.registry import Registry


@dataclass
class Loss:
    name: str
    description: str
    # True when D outputs a probability logit (sigmoid makes sense); False for critics.
    probabilistic: bool = True
    # Recommended settings, filled into fields the user left on auto ("section.key": value).
    recommended: dict[str, Any] = field(default_factory=dict)
    clip_weights: bool = False  # WGAN: clip critic weights after each step
    gradient_penalty: bool = False  # WGAN-GP
    batchnorm_free: bool = False  # the critic must not use batch norm (the penalty is per sample)

    def d_loss(self, real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake: Tensor) -> Tensor:
        raise NotImplementedError


LOSSES: Registry[Loss] = Registry("loss", "losses")


def _bce_real(real: Tensor, smoothing: float) -> Tensor:
    """-log D(x) with one-sided label smoothing (target 1 - s; Salimans et al. 2016)."""
    if smoothing:
        return F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1.0 - smoothing))
    return F.softplus(-real).mean()


class Minimax(Loss):
    """The original saturating game (Goodfellow et al. 2014): G minimises log(1 - D(G(z)))."""

    def d_loss(self, real, fake, smoothing=0.0):
        return _bce_real(real, smoothing) + F.softplus(fake).mean()

    def g_loss(self, fake):
        return -F.softplus(fake).mean()


class NonSaturating(Minimax):
    """Non-saturating game (Goodfellow et al. 2014): G maximises log D(G(z)) instead."""

    def g_loss(self, fake):
        return F.softplus(-fake).mean()


class Wasserstein(Loss):
    """WGAN (Arjovsky et al. 2017): critic maximises E[C(x)] - E[C(G(z))], weights clipped."""

    def d_loss(self, real, fake, smoothing=0.0):
        return fake.mean() - real.mean()

    def g_loss(self, fake):
        return -fake.mean()


class Hinge(Loss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, SNGAN/BigGAN)."""

    def d_loss(self, real, fake, smoothing=0.0):
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_loss(self, fake):
        return -fake.mean()


class LeastSquares(Loss):
    """LSGAN (Mao et al. 2017), a-b-c = 0-1-1 coding."""

    def d_loss(self, real, fake, smoothing=0.0):
        return 0.5 * ((real - (1.0 - smoothing)) ** 2).mean() + 0.5 * (fake**2).mean()

    def g_loss(self, fake):
        return 0.5 * ((fake - 1.0) ** 2).mean()


for _loss in [
    Minimax("minimax", "original minimax GAN loss (saturating generator loss)"),
    NonSaturating("nonsat", "non-saturating GAN loss, the usual default (-log D(G(z)) for G)"),
    Wasserstein(
        "wasserstein",
        "Wasserstein critic with weight clipping (WGAN)",
        probabilistic=False,
        clip_weights=True,
        recommended={
            "optim.optimizer": "rmsprop",
            "optim.lr_g": 5e-5,
            "optim.lr_d": 5e-5,
            "optim.n_critic": 5,
        },
    ),
    Wasserstein(
        "wgan-gp",
        "Wasserstein critic with gradient penalty (WGAN-GP, Gulrajani et al. 2017)",
        probabilistic=False,
        gradient_penalty=True,
        batchnorm_free=True,
        recommended={
            "optim.lr_g": 1e-4,
            "optim.lr_d": 1e-4,
            "optim.betas_g": (0.0, 0.9),
            "optim.betas_d": (0.0, 0.9),
            "optim.n_critic": 5,
        },
    ),
    Hinge("hinge", "hinge loss (SNGAN, BigGAN)", probabilistic=False),
    LeastSquares("lsgan", "least-squares GAN loss", probabilistic=False),
]:
    LOSSES.register(_loss.name)(_loss)


def gradient_penalty(d_fn, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] at random interpolates of real and fake (Gulrajani et al. 2017)."""
    shape = (len(real),) + (1,) * (real.ndim - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = torch.lerp(real.detach(), fake.detach(), alpha).requires_grad_(True)
    out = d_fn(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    # one norm per judgement: a packed D (PacGAN) judges len(real) / len(out) samples at once
    return ((grad.reshape(len(out), -1).norm(2, dim=1) - 1.0) ** 2).mean()
