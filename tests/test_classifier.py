"""Fréchet / kernel distances and the digit classifier that supplies their features."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg

from gankit.config import DataConfig
from gankit.data.base import RealData
from gankit.data.images import load_mnist, load_stacked_mnist
from gankit.errors import GankitError
from gankit.metrics import classifier as clf
from gankit.metrics import classifier_cache
from gankit.metrics.frechet import feature_stats, frechet_distance, kernel_inception_distance

# ------------------------------------------------------------------------------------ Fréchet distance


def _gaussian(n: int, d: int, seed: int, shift: np.ndarray | float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_fd_identical_sets_is_zero():
    a = _gaussian(500, 16, 0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(torch.from_numpy(a).float(), torch.from_numpy(a).float()) == pytest.approx(
        0.0, abs=1e-4
    )


def test_fd_same_gaussian_is_small_and_shift_gives_squared_norm():
    d = 8
    a, b = _gaussian(20_000, d, 1), _gaussian(20_000, d, 2)
    same = frechet_distance(a, b)
    assert 0.0 <= same < 0.01
    v = np.linspace(-1.0, 1.0, d)
    shifted = frechet_distance(a, _gaussian(20_000, d, 2, shift=v))
    assert shifted == pytest.approx(float(v @ v), rel=0.02)


def _fd_reference(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s_a @ s_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * covmean))


def test_fd_matches_direct_scipy_computation_and_is_symmetric():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((400, 12)) @ rng.standard_normal((12, 12))
    b = rng.standard_normal((300, 12)) * 2.0 + 0.5
    fd = frechet_distance(a, b)
    assert fd == pytest.approx(_fd_reference(a, b), rel=1e-6)
    assert frechet_distance(b, a) == pytest.approx(fd, rel=1e-6)
    mu, sigma = feature_stats(a)
    np.testing.assert_allclose(mu, a.mean(0))
    np.testing.assert_allclose(sigma, np.cov(a, rowvar=False))


def test_fd_with_singular_covariance_is_finite():
    # Fewer samples than dimensions: both covariances are singular, the eps fallback must kick in.
    a, b = _gaussian(10, 32, 4), _gaussian(10, 32, 5) + 3.0
    fd = frechet_distance(a, b)
    assert np.isfinite(fd) and fd > 32 * 9 * 0.5


def test_fd_rejects_mismatched_widths():
    with pytest.raises(GankitError, match="different widths"):
        frechet_distance(_gaussian(50, 4, 0), _gaussian(50, 5, 1))


# ------------------------------------------------------------------------------------- kernel distance


def test_kid_same_distribution_near_zero_and_shift_clearly_positive():
    d = 16
    a, b = _gaussian(2000, d, 6), _gaussian(2000, d, 7)
    mean_same, std_same = kernel_inception_distance(a, b, subsets=10, subset_size=500)
    assert abs(mean_same) < 0.01 and std_same >= 0.0
    mean_shift, _ = kernel_inception_distance(
        a, _gaussian(2000, d, 7, shift=1.0), subsets=10, subset_size=500
    )
    assert mean_shift > 0.2
    assert mean_shift > 20 * abs(mean_same)


def test_kid_caps_subset_size_and_is_seeded():
    a, b = _gaussian(60, 4, 8), _gaussian(80, 4, 9, shift=0.5)
    first = kernel_inception_distance(a, b, subsets=5, subset_size=1000, seed=1)  # capped to 60
    assert first == kernel_inception_distance(a, b, subsets=5, subset_size=1000, seed=1)
    assert np.isfinite(first[0]) and first[1] >= 0.0


# ------------------------------------------------------------------------------------ digit classifier


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A private classifier cache for the whole session (GANKIT_CACHE points at it)."""
    path = tmp_path_factory.mktemp("gankit-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def mnist():
    return load_mnist(DataConfig())


@pytest.fixture(scope="session")
def mnist_classifier(cache, mnist):
    """Trains the MNIST classifier once per session (~12 s on 2 cores)."""
    return clf.get_classifier("mnist")


def test_shift_augmentation_moves_each_image_by_at_most_two_pixels():
    x = torch.full((64, 1, 12, 12), -1.0)
    x[:, :, 6, 6] = 1.0  # one bright pixel, away from the edges
    out = clf.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    pos = (out[:, 0] == 1.0).flatten(1).float().argmax(1)
    rows, cols = pos // 12, pos % 12
    assert ((rows - 6).abs() <= 2).all() and ((cols - 6).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # the shifts differ between images


def test_classifier_handles_several_resolutions():
    model = clf.DigitClassifier(10).eval()
    for size in (8, 28, 32):
        x = torch.rand(4, 1, size, size) * 2 - 1
        assert clf.extract_features(model, x).shape == (4, clf.FEATURE_DIM)
        probs = clf.predict_proba(model, x)
        assert probs.shape == (4, 10)
        torch.testing.assert_close(probs.sum(1), torch.ones(4))
    with pytest.raises(GankitError, match="too small"):
        model(torch.zeros(2, 1, 4, 4))


def test_mnist_classifier_accuracy_and_sidecar(mnist_classifier, cache):
    model, info = mnist_classifier
    assert not info["from_cache"]
    assert info["held_out_accuracy"] >= 0.97
    sidecar = json.loads((cache / "classifiers" / "mnist-28-v1.json").read_text())
    assert sidecar["held_out_accuracy"] == info["held_out_accuracy"]
    assert {"seed", "epochs", "num_classes", "sha256"} <= sidecar.keys()
    assert sidecar["num_classes"] == 10


def test_fd_in_classifier_features_ranks_degraded_digits_worse(mnist_classifier, mnist):
    model, info = mnist_classifier
    train_idx, held_idx = clf.holdout_split(mnist.labels, info["holdout_fraction"], info["seed"])
    held = mnist.x[held_idx]
    ref = clf.extract_features(model, mnist.x[train_idx])
    blurred = F.avg_pool2d(held, 3, stride=1, padding=1, count_include_pad=False)
    noisy = (held + 0.5 * torch.randn(held.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    fd_real = frechet_distance(clf.extract_features(model, held), ref)
    fd_blur = frechet_distance(clf.extract_features(model, blurred), ref)
    fd_noise = frechet_distance(clf.extract_features(model, noisy), ref)
    logging.getLogger(__name__).info("FD real %.3f blurred %.3f noisy %.3f", fd_real, fd_blur, fd_noise)
    assert fd_real < fd_blur / 3
    assert fd_real < fd_noise / 3


def test_cache_round_trip_loads_without_training(mnist_classifier, mnist, monkeypatch):
    model, _ = mnist_classifier

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been loaded, not retrained")

    monkeypatch.setattr(clf, "train_classifier", no_training)
    loaded, info = clf.get_classifier("mnist")
    assert info["from_cache"]
    x = mnist.x[:300]
    torch.testing.assert_close(clf.predict_proba(loaded, x), clf.predict_proba(model, x), rtol=0, atol=0)


def test_stacked_mnist_reuses_mnist_classifier_per_channel(mnist_classifier, monkeypatch):
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: pytest.fail("should reuse the mnist cache"))
    data = load_stacked_mnist(DataConfig(), size=300, seed=1)
    model, info = clf.get_classifier("stacked-mnist", data)
    assert info["per_channel"] and info["from_cache"]
    x, labels = data.batch(torch.arange(300))
    acc = (clf.classify_stacked(model, x) == labels).float().mean().item()
    assert acc > 0.9  # every one of three digits must be right


def test_digits_classifier_works_at_8x8(cache):
    model, info = clf.get_classifier("digits")
    assert not info["from_cache"] and info["held_out_accuracy"] >= 0.95
    assert Path(info["path"]) == cache / "classifiers" / "digits-8-v1.safetensors"
    assert clf.extract_features(model, torch.zeros(3, 1, 8, 8)).shape == (3, clf.FEATURE_DIM)


def _subset(mnist, name: str, start: int) -> RealData:
    idx = torch.arange(start, len(mnist), 10)  # 500 digits, 50 per class: a ~2 s train
    return RealData(name, mnist.x[idx], "images", mnist.labels[idx], 10)


def test_other_labelled_dataset_is_cached_by_name_and_data_hash(cache, mnist):
    data = _subset(mnist, "my/digits.npz", 0)
    _, info = clf.get_classifier("my/digits.npz", data)
    assert not info["from_cache"] and info["held_out_accuracy"] > 0.8
    assert Path(info["path"]).parent == cache / "classifiers"
    assert Path(info["path"]).name.startswith("digits.npz-28-")
    assert clf.get_classifier("my/digits.npz", data)[1]["from_cache"]
    relabelled = RealData("my/digits.npz", data.x, "images", (data.labels + 1) % 10, 10)
    # other labels: another cache entry
    assert classifier_cache._data_hash(relabelled) != classifier_cache._data_hash(data)


def _retrains_with_warning(name: str, data: RealData, caplog) -> dict:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gankit.metrics.classifier"):
        _, info = clf.get_classifier(name, data)
    assert not info["from_cache"]
    assert any("retraining" in r.getMessage() for r in caplog.records)
    return info


def test_corrupted_cache_is_retrained_with_a_warning(cache, mnist, caplog):
    data = _subset(mnist, "corrupt-me", 3)
    _, first = clf.get_classifier("corrupt-me", data)
    path = Path(first["path"])
    sidecar = path.with_suffix(".json")
    garbage = b"\x00garbage" * 10

    path.write_bytes(garbage)  # weights no longer match the sidecar's hash
    info = _retrains_with_warning("corrupt-me", data, caplog)
    assert info["sha256"] == first["sha256"]  # training is deterministic for a seed
    model, again = clf.get_classifier("corrupt-me", data)  # the retrained weights were cached, intact
    assert again["from_cache"] and again["sha256"] == first["sha256"]
    assert clf.predict_proba(model, data.x[:5]).shape == (5, 10)

    # A sidecar whose hash matches unreadable weights, then an unreadable sidecar: retrained each time.
    path.write_bytes(garbage)
    sidecar.write_text(json.dumps({**first, "sha256": hashlib.sha256(garbage).hexdigest()}))
    _retrains_with_warning("corrupt-me", data, caplog)
    sidecar.write_text("{not json")
    _retrains_with_warning("corrupt-me", data, caplog)
    assert clf.get_classifier("corrupt-me", data)[1]["from_cache"]


def test_unknown_dataset_needs_labelled_data():
    with pytest.raises(GankitError, match="no built-in classifier"):
        clf.get_classifier("cifar-ish")
