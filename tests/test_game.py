"""Pieces of the game: losses, gradient penalty, packing, augmentation, EMA, priors."""

import math

import pytest
import torch

from gankit.config import Config
from gankit.errors import GankitError
from gankit.latent import balanced_labels, sample_latent
from gankit.losses import LOSSES, gradient_penalty
from gankit.models.mlp import MLPDiscriminator
from gankit.training.augment import diff_augment, parse_policy
from gankit.training.ema import EMA


def test_losses_at_known_points():
    zero = torch.zeros(4)
    log2 = math.log(2)
    assert LOSSES.get("nonsat").d_loss(zero, zero).item() == pytest.approx(2 * log2)
    assert LOSSES.get("nonsat").g_loss(zero).item() == pytest.approx(log2)
    assert LOSSES.get("minimax").g_loss(zero).item() == pytest.approx(-log2)
    assert LOSSES.get("hinge").d_loss(torch.full((4,), 2.0), torch.full((4,), -2.0)).item() == 0
    assert LOSSES.get("lsgan").d_loss(torch.ones(4), torch.zeros(4)).item() == 0
    assert LOSSES.get("wasserstein").d_loss(torch.ones(4), zero).item() == -1
    # one-sided label smoothing raises the real term's minimum above 0
    smooth = LOSSES.get("nonsat").d_loss(torch.full((4,), 20.0), torch.full((4,), -20.0), smoothing=0.1)
    assert smooth.item() > 0.3


def test_saturating_and_nonsaturating_gradients_differ_where_d_is_confident():
    fake = torch.full((1,), -8.0, requires_grad=True)  # D is sure the fake is fake
    (g_sat,) = torch.autograd.grad(LOSSES.get("minimax").g_loss(fake), fake)
    (g_ns,) = torch.autograd.grad(LOSSES.get("nonsat").g_loss(fake), fake)
    assert abs(g_sat.item()) < 1e-3 < abs(g_ns.item())  # the saturating loss gives G almost nothing


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    w = torch.tensor([0.6, 0.8, 0.0])  # ||w|| = 1, so ||grad|| = 1 everywhere
    assert gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: x @ (3 * w), real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_packed_discriminator_judges_groups():
    cfg = Config().model
    cfg.width, cfg.depth, cfg.pack = 8, 2, 4
    d = MLPDiscriminator(cfg, (2,))
    assert d(torch.randn(12, 2)).shape == (3,)


def test_diff_augment_keeps_shape_and_gradients():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    y = diff_augment(x, parse_policy("color,translation,cutout"), g)
    assert y.shape == x.shape and not torch.equal(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    points = torch.randn(5, 2)
    assert diff_augment(points, ["translation"], g) is points  # only images are augmented
    with pytest.raises(GankitError, match="did you mean 'cutout'"):
        parse_policy("cutuot")


def test_ema_tracks_weights():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.5)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = ema.shadow.weight.clone()
    ema.update(net, step=1)
    assert torch.allclose(ema.shadow.weight, (before + net.weight) / 2)


def test_priors_and_truncation():
    g = torch.Generator().manual_seed(0)
    z = sample_latent(4000, 8, "gaussian", g)
    assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 1) < 0.05
    u = sample_latent(4000, 8, "uniform", g)
    assert u.min() >= -1 and u.max() <= 1 and abs(u.std().item() - 1 / math.sqrt(3)) < 0.02
    t = sample_latent(4000, 8, "gaussian", g, truncation=0.3829)  # psi 0.3829: BigGAN's threshold 0.5
    assert t.abs().max() <= 0.5 and t.abs().max() > 0.49
    counts = torch.bincount(balanced_labels(1003, 10, g), minlength=10)
    assert counts.max() - counts.min() <= 1


def test_r1_penalty_is_a_d_term(tmp_path):
    import json

    import gankit

    gankit.train(
        data="ring8", model="mlp", steps=3, out=tmp_path / "r", overrides=["loss.r1=1", "model.width=8"]
    )
    last = json.loads((tmp_path / "r" / "stats.jsonl").read_text().splitlines()[-1])
    assert last["loss/r1"] > 0


def test_discriminator_warm_up_runs_d_alone_first(tmp_path):
    import json

    import gankit

    gankit.train(
        data="ring8",
        model="mlp",
        steps=4,
        out=tmp_path / "w",
        overrides=["optim.d_warmup=3", "model.width=8", "train.batch_size=16", "model.pack=1"],
    )
    last = json.loads((tmp_path / "w" / "stats.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 4
    assert last["kimg"] == 16 * (4 + 3) / 1000  # 3 warm-up D steps consumed real batches too
