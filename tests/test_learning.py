"""Learning tests: the models learn, judged by the metrics (small budgets, fixed seeds)."""

import pytest
import torch

import gankit
from gankit.metrics.toy import mode_stats

# The default loss trains with the ring8 recipe at a third of its 36,000 steps and must reach 8/8
# modes and >= 90% high quality (measured at 12,000: 91.7% on seed 0, 94.4% on seed 1). The other
# non-Wasserstein losses get 4,000 steps and must find all 8 modes with at least 30% of samples of
# high quality (measured after the switch to fused Adam: hinge 0.63, lsgan 0.64, minimax 0.40; at
# 3,000 steps hinge fell from 0.67 to 0.24 with that last-bit change, so the budget leaves room).
# The Wasserstein losses do not keep all 8 modes in such a budget (measured: wasserstein 4, wgan-gp 1
# at 3,000 steps; docs/benchmarks.md), so they are not tested for learning here; their contract test
# checks a finite step.
# The original minimax (saturating) loss drops one ring mode at some budgets on some CPUs (measured on
# 2026-11-25: 4,000 steps 7 modes / 52% high quality, 6,000: 8 / 66%, 8,000: 7 / 81%), so it must
# find 7 of 8; an untrained generator finds 0-1.
RING8_BUDGET = {"nonsat": 12000, "minimax": 4000, "hinge": 4000, "lsgan": 4000}
RING8_HQ = {"nonsat": 0.9, "minimax": 0.3, "hinge": 0.3, "lsgan": 0.3}
RING8_MODES = {"nonsat": 8, "minimax": 7, "hinge": 8, "lsgan": 8}


@pytest.mark.slow
@pytest.mark.parametrize("loss", sorted(RING8_HQ))
def test_each_loss_finds_the_8_modes_of_ring8(loss, tmp_path):
    run = gankit.train(data="ring8", model="mlp", loss=loss, steps=RING8_BUDGET[loss], out=tmp_path / loss)
    gan = gankit.load(run.run_dir)
    info = gan.meta["data"]
    stats = mode_stats(gan.sample(2500, seed=0).numpy(), info["centres"], info["std"])
    assert stats["modes"] >= RING8_MODES[loss], stats
    assert stats["high_quality"] >= RING8_HQ[loss], stats


@pytest.mark.slow
def test_conditional_mnist_draws_the_requested_digits(tmp_path):
    from gankit.metrics.classifier import get_classifier, predict_proba

    # the mnist recipe (width 32) for 1,000 steps at Adam 1e-3 instead of its 5e-4, to keep CI short:
    # measured 0.83 of the digits of the asked class, weakest class 0.66 (recipe lr at 1,000 steps:
    # 0.76 / 0.50; at 1,500: 0.87 / 0.64); an untrained generator draws about 0.1
    run = gankit.train(
        data="mnist", conditional=True, steps=1000, out=tmp_path / "cmnist",
        overrides=["optim.lr_g=1e-3", "optim.lr_d=1e-3", "monitor.eval_every=0"],
    )  # fmt: skip
    gan = gankit.load(run.run_dir)
    labels = torch.arange(500) % 10
    x = gan.sample(500, seed=1, labels=labels, raw=True)
    classifier, _ = get_classifier("mnist")
    predicted = predict_proba(classifier, x).argmax(dim=1)
    per_class = [(predicted[labels == k] == k).float().mean().item() for k in range(10)]
    assert (predicted == labels).float().mean() >= 0.7, per_class
    assert min(per_class) >= 0.4, per_class


def requested_digit_shares(run_dir, n=500):
    """Share of ``n`` samples (labels 0..9 in turn) that gankit's MNIST classifier reads as the digit
    asked for, overall and per class."""
    from gankit.metrics.classifier import get_classifier, predict_proba

    gan = gankit.load(run_dir)
    labels = torch.arange(n) % 10
    classifier, _ = get_classifier("mnist")
    predicted = predict_proba(classifier, gan.sample(n, seed=1, labels=labels, raw=True)).argmax(dim=1)
    per_class = [(predicted[labels == k] == k).float().mean().item() for k in range(10)]
    return (predicted == labels).float().mean().item(), per_class


# The families' mnist recipe (width 8, batch 32, Adam 2e-3, EMA 0.98) at 32x32, conditional, for its
# 500 steps. Measured on a 2-core AVX-512 EPYC (shared with other jobs, 1 thread): biggan 0.90 of the
# digits of the class asked for, the weakest class 0.60 (102-170 s of training, as the other jobs
# allowed); sngan 0.90, weakest 0.66 (91-100 s). At 300 steps biggan drew 0.33 (weakest class 0.00);
# an untrained generator draws about 0.1. One thread: with two other jobs on the two cores, torch's
# two threads trained 7x slower (13 img/s).
@pytest.mark.slow
@pytest.mark.parametrize("family", ["biggan", "sngan"])
def test_conditional_resnet_families_draw_the_requested_digits_at_32x32(family, tmp_path):
    run = gankit.train(
        data="mnist", model=family, resolution=32, conditional=True, out=tmp_path / family,
        overrides=["monitor.eval_every=0", "train.threads=1"],
    )  # fmt: skip
    accuracy, per_class = requested_digit_shares(run.run_dir)
    assert accuracy >= 0.75, per_class
    assert min(per_class) >= 0.3, per_class
