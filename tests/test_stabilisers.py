"""Discriminator stabilisers for every family: packing, minibatch std, spectral norm, R1/R2."""

from __future__ import annotations

import json

import pytest
import torch
from test_contract import tiny_config, tiny_data
from torch import nn

from gankit.nn.stabilisers import MinibatchStd, apply_spectral_norm, pack_samples
from gankit.training.loop import run as run_loop
from gankit.training.setup import build_networks, resolve_config

STABILISED = {"model.pack": 2, "model.mbstd": 4, "model.spectral_norm": True, "loss.r1": 1.0, "loss.r2": 1.0}


@pytest.mark.parametrize("model,shape", [("mlp", (2,)), ("mlp", (1, 8, 8)), ("dcgan", (3, 16, 16))])
@pytest.mark.parametrize("conditional", [False, True])
def test_every_family_trains_with_all_stabilisers(model, shape, conditional, tmp_path):
    data = tiny_data(shape)
    cfg = tiny_config(model, conditional)
    for key, value in STABILISED.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    cfg = resolve_config(cfg, data)
    assert cfg.model.d_norm == "none"  # spectral norm replaces D's batch norm
    torch.manual_seed(0)
    D = build_networks(cfg, data)["D"].module
    x, y = data.batch(torch.arange(8))
    assert D(x, y if conditional else None).shape == (4,)  # one judgement per pack of 2
    assert any(nn.utils.parametrize.is_parametrized(m) for m in D.modules())
    run_loop(cfg, data, tmp_path, progress=False)
    last = json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[-1])
    for key in ("loss/D", "loss/G", "loss/r1", "loss/r2"):
        assert torch.isfinite(torch.tensor(last[key])), key


def test_minibatch_std_sees_a_collapsed_batch():
    layer = MinibatchStd(group=4)
    same = torch.ones(8, 3, 4, 4)
    spread = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out_same, out_spread = layer(same), layer(spread)
    assert out_same.shape == (8, 4, 4, 4)
    assert out_same[:, -1].max() < 1e-3 < out_spread[:, -1].min()
    assert layer(torch.randn(6, 5)).shape == (6, 6)  # group shrinks to a divisor of the batch


def test_spectral_norm_holds_the_top_singular_value_at_one():
    torch.manual_seed(0)
    net = apply_spectral_norm(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1)))
    net.train()
    for _ in range(30):  # power iterations run in training-mode forwards
        net(torch.randn(4, 16))
    net.eval()
    sigma = torch.linalg.matrix_norm(net[0].weight.detach(), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.02)


def test_pack_samples_groups_consecutive_samples():
    x = torch.arange(12.0).reshape(6, 2)
    packed, y = pack_samples(x, torch.tensor([0, 0, 1, 1, 2, 2]), 2)
    assert packed.tolist()[1] == [4.0, 5.0, 6.0, 7.0] and y.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="divisible"):
        pack_samples(x[:5], None, 2)


def _r1_game(reg_every: int):
    from gankit.data import BatchSampler
    from gankit.models.adversarial import Game, d_adversarial, d_r1_penalty
    from gankit.training.objective import TrainContext

    data = tiny_data((2,))
    cfg = tiny_config("mlp")
    cfg.loss.r1, cfg.loss.reg_every = 2.0, reg_every
    cfg = resolve_config(cfg, data)
    torch.manual_seed(0)
    nets = {name: net.module for name, net in build_networks(cfg, data).items()}
    ctx = TrainContext(cfg, data, nets, torch.device("cpu"))
    ctx.batches = BatchSampler(len(data), 8, 0)
    game = Game(ctx)
    return game, d_adversarial, d_r1_penalty


def test_r1_differentiates_the_adversarial_forward_and_lazy_steps_scale_it():
    game, adversarial, r1 = _r1_game(reg_every=1)
    game.new_repeat()
    adversarial(game)
    shared = r1(game)  # from the adversarial term's forward pass
    x, y = game.real()
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(game.D(x, y).sum(), x)
    assert shared.item() == pytest.approx(0.5 * 2.0 * grad.pow(2).sum(1).mean().item(), rel=1e-5)

    lazy, adversarial, r1 = _r1_game(reg_every=4)
    values = []
    for step in range(8):
        lazy.ctx.step = step
        lazy.new_repeat()
        adversarial(lazy)
        values.append(r1(lazy).item())
    assert [v > 0 for v in values] == [True, False, False, False] * 2
    assert values[0] == pytest.approx(4 * shared.item(), rel=1e-5)  # weight x reg_every on its steps
