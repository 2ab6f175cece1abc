"""Adaptive augmentation (models/ada.py): the rule that moves p, the per-sample ops, p in stats,
checkpoints and the report, and a resume that augments exactly as an uninterrupted run."""

import json

import pytest
import torch

import gankit
from gankit.data import RealData
from gankit.errors import GankitError
from gankit.models.ada import DEFAULT_OPS, AdaptiveAugment, parse_augment
from gankit.training.checkpoint import latest_checkpoint, load_checkpoint


def ada(**kw):
    return AdaptiveAugment(["translation", "color"], **{"target": 0.6, "kimg": 1.0, "interval": 2,
                                                         "batch_size": 10, **kw})  # fmt: skip


def feed(aug, scores, steps, start=0):
    """D's scores of the reals for ``steps`` steps, then one more to close the last window."""
    for step in range(start, start + steps):
        aug.observe(torch.as_tensor(scores, dtype=torch.float32), step)


def test_p_rises_while_d_is_sure_of_the_reals_and_falls_otherwise():
    aug = ada()  # each adjustment moves p by 10 * 2 / 1000 = 0.02
    assert aug.speed == pytest.approx(0.02) and float(aug.p) == 0
    feed(aug, [3.0, 1.0, 2.0, -1.0], 9)  # r_t = 0.5 < 0.6: D is not overfitting; p stays at its floor
    assert float(aug.p) == 0
    feed(aug, [3.0, 1.0, 2.0, 0.5], 8, start=10)  # r_t = 1 > 0.6 in windows 5..8: overfitting
    assert float(aug.p) == pytest.approx(0.02 * 3)  # windows 5..7 adjusted it (8 is still gathering)
    feed(aug, [-1.0, 1.0, -2.0, 2.0], 6, start=18)  # window 8 up, then r_t = 0 in 9..10: down
    assert float(aug.p) == pytest.approx(0.02 * 2)
    high = ada(kimg=0.001)  # one adjustment is a whole step of p: clamped to [0, 1]
    feed(high, [1.0], 6)
    assert float(high.p) == 1.0


def test_ops_are_applied_to_each_sample_with_probability_p():
    x = torch.rand(200, 1, 8, 8) * 2 - 1
    aug = ada()
    assert torch.equal(aug(x, torch.Generator().manual_seed(0)), x)  # p = 0: identity
    aug.p = torch.tensor(1.0)
    changed = (aug(x, torch.Generator().manual_seed(0)) != x).flatten(1).any(1)
    assert changed.float().mean() > 0.95
    aug.p = torch.tensor(0.3)
    y = aug(x, torch.Generator().manual_seed(0))
    share = (y != x).flatten(1).any(1).float().mean().item()
    assert 0.3 < share < 0.7  # each of two ops with p = 0.3: 1 - 0.7^2 = 0.51 of the samples
    x.requires_grad_(True)
    aug(x, torch.Generator().manual_seed(0)).sum().backward()  # differentiable: G learns through it
    assert x.grad is not None and torch.isfinite(x.grad).all()
    points = torch.randn(5, 2)
    assert aug(points, None) is points


def test_the_policy_names_ada_and_its_ops():
    assert parse_augment("ada") == (list(DEFAULT_OPS), True)
    assert parse_augment("ada,cutout") == (["cutout"], True)
    assert parse_augment("translation,cutout") == (["translation", "cutout"], False)
    assert parse_augment("none") == ([], False) and parse_augment(None) == ([], False)
    with pytest.raises(GankitError, match="did you mean 'ada'"):
        parse_augment("adaa")
    with pytest.raises(GankitError, match="ada_target"):
        ada(target=1.5)


def tiny_images():
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return RealData("tiny", x, "images", torch.arange(64) % 3, 3)


ARGS = ["model.width=4", "model.latent_dim=8", "train.batch_size=8", "train.log_every=2",
        "train.checkpoint_every=4", "monitor.eval_every=0", "loss.augment=ada", "loss.ada_kimg=0.05",
        "loss.ada_interval=2", "loss.ada_target=0.2", "optim.lr_d=0.01"]  # fmt: skip


def train(out, steps=12, **kw):
    return gankit.train(data="tiny", model="dcgan", steps=steps, real_data=tiny_images(), out=out,
                        overrides=ARGS, progress=False, **kw)  # fmt: skip


def test_p_is_logged_checkpointed_reported_and_resumed_exactly(tmp_path):
    train(tmp_path / "whole")
    stats = [json.loads(line) for line in (tmp_path / "whole" / "stats.jsonl").read_text().splitlines()]
    assert all("ada/p" in s and "ada/rt" in s for s in stats)
    assert max(s["ada/p"] for s in stats) > 0  # a target of 0.2 is soon exceeded: p moved
    state = load_checkpoint(latest_checkpoint(tmp_path / "whole"), torch.device("cpu"))
    assert float(state["objective"]["ada"]["p"]) > 0

    train(tmp_path / "cut", callbacks=[lambda step, last: step < 5])  # stops mid-window (interval 2)
    assert load_checkpoint(latest_checkpoint(tmp_path / "cut"), torch.device("cpu"))["step"] == 5
    gankit.train(resume=tmp_path / "cut", real_data=tiny_images(), progress=False)
    a = load_checkpoint(latest_checkpoint(tmp_path / "whole"), torch.device("cpu"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "cut"), torch.device("cpu"))
    assert a["step"] == b["step"] == 12
    for k in a["objective"]["ada"]:
        assert torch.equal(
            torch.as_tensor(a["objective"]["ada"][k]), torch.as_tensor(b["objective"]["ada"][k])
        )
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k}"

    from gankit.report import write_report

    page = write_report(tmp_path / "whole").read_text()
    assert "ada/p" in page and "(ADA)" in page


def test_plain_diffaugment_and_no_augmentation_keep_no_ada_state(tmp_path):
    overrides = [a for a in ARGS if not a.startswith("loss.")] + ["loss.augment=translation"]
    gankit.train(data="tiny", model="dcgan", steps=2, real_data=tiny_images(), out=tmp_path / "r",
                 overrides=overrides, progress=False)  # fmt: skip
    state = load_checkpoint(latest_checkpoint(tmp_path / "r"), torch.device("cpu"))
    assert state["objective"] == {}
    assert "ada/p" not in (tmp_path / "r" / "stats.jsonl").read_text()


def generator_image_families():
    from test_contract import CONTRACT_CASES

    from gankit.models import MODELS

    return [n for n, f in MODELS.items() if f.task == "generate" and CONTRACT_CASES[n][0]().kind == "images"]


@pytest.mark.parametrize("family", generator_image_families())
def test_every_image_generator_family_trains_with_ada(family, tmp_path):
    from test_contract import COMMON, CONTRACT_CASES

    make, overrides = CONTRACT_CASES[family]
    extra = ["loss.augment=ada", "loss.ada_kimg=0.01", "loss.ada_interval=1", "loss.ada_target=0.01"]
    cfg = {"data": {"name": "tiny"}, "model": {"name": family}, "train": {"steps": 3}}
    run = gankit.train(
        cfg, real_data=make(), progress=False, out=tmp_path / "r", overrides=[*COMMON, *overrides, *extra]
    )
    stats = [json.loads(line) for line in (run.run_dir / "stats.jsonl").read_text().splitlines()]
    assert "ada/p" in stats[-1] and "ada" in state_of(run.run_dir)["objective"]


def state_of(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir), torch.device("cpu"))
