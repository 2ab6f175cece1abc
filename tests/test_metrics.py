"""The metric suite: protocols checked against independent implementations, extractors, provenance,
and `gankit evaluate` on runs and on two sample sets."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import gankit
from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import RealData, load_data
from gankit.metrics.base import METRICS, EvalContext
from gankit.metrics.distribution import inception_score
from gankit.metrics.evaluation import compute_metrics, parse_target, select_metrics
from gankit.metrics.extractors import get_extractor, random_extractor

PROVENANCE_KEYS = {"extractor", "weights_sha256", "n_real", "n_fake", "reference", "resize", "seed"}


def _cli_json(capsys, args: list[str]) -> dict:
    main(args)
    return json.loads(capsys.readouterr().out)


def independent_mode_stats(points: np.ndarray, centres: np.ndarray, std: float) -> tuple[int, float, float]:
    """The VEEGAN/PacGAN protocol written out again, sample by sample, without gankit's code."""
    high_quality = Counter()
    n_hq = 0
    for row in cdist(points, centres):
        k = int(np.argmin(row))
        if row[k] < 3 * std:
            n_hq += 1
            high_quality[k] += 1
    shares = [c / n_hq for c in high_quality.values()]
    rev_kl = sum(q * math.log(q / (1 / len(centres))) for q in shares) if n_hq else math.inf
    return len(high_quality), n_hq / len(points), rev_kl


@pytest.mark.parametrize("dataset", ["ring8", "grid25"])
def test_evaluate_modes_agrees_with_an_independent_implementation(tmp_path, capsys, dataset):
    run = tmp_path / dataset
    gankit.train(data=dataset, model="mlp", steps=400, out=run, threads=1)
    result = _cli_json(capsys, ["evaluate", str(run), "--metrics", f"modes_{dataset}"])[f"modes_{dataset}"]
    main(["sample", str(run), "-n", "2500", "--seed", "0", "--out", str(tmp_path / "x.npy")])
    points = np.load(tmp_path / "x.npy").astype(np.float64)
    meta = json.loads((run / "model" / "config.json").read_text())["data"]
    modes, hq, rev_kl = independent_mode_stats(points, np.array(meta["centres"]), meta["std"])
    assert result["modes"] == modes
    assert result["high_quality"] == hq  # a share of 2,500: exact
    assert result["reverse_kl"] == pytest.approx(rev_kl, rel=1e-12, abs=1e-15)
    assert result["provenance"]["n_fake"] == 2500
    assert (run / "metrics.jsonl").read_text().count("\n") == 1


def test_inception_score_of_known_predictions():
    k = 10
    sharp_uniform = np.eye(k)[np.arange(1000) % k]  # confident, every class equally often
    assert inception_score(sharp_uniform)[0] == pytest.approx(k, rel=1e-6)
    one_class = np.eye(k)[np.zeros(1000, dtype=int)]
    assert inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-6)
    blurry = np.full((1000, k), 1.0 / k)
    assert inception_score(blurry)[0] == pytest.approx(1.0, abs=1e-6)


def test_random_extractor_is_seeded_and_hashes_its_weights():
    a, b, c = random_extractor(1, seed=0), random_extractor(1, seed=0), random_extractor(1, seed=1)
    assert a.provenance["weights_sha256"] == b.provenance["weights_sha256"]
    assert a.provenance["weights_sha256"] != c.provenance["weights_sha256"]
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    assert torch.equal(a.features(x), b.features(x))
    assert a.features(x).shape == (8, 512)


def _split_digits() -> tuple[RealData, torch.Tensor]:
    """(real reference of 4,000 MNIST digits, 1,000 held-out digits it does not contain)."""
    real = load_data(DataConfig(name="mnist"))
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    rest, held = order[1000:], order[:1000]
    return RealData("mnist", real.x[rest], "images", real.labels[rest], 10), real.x[held]


def _digits_ctx(reference: RealData, fake: torch.Tensor) -> EvalContext:
    meta = {"kind": "images", "shape": list(reference.shape), "data": {"name": "mnist"}, "model": {}}
    return EvalContext(meta, reference, given=(fake, None))


def test_feature_metrics_rank_held_out_digits_above_noisy_ones():
    reference, held_out = _split_digits()
    noise = torch.randn(held_out.shape, generator=torch.Generator().manual_seed(1))
    noisy = (held_out + 0.6 * noise).clamp(-1, 1)
    names = ["fd_random_5k", "kid_random_5k", "prdc_random_5k"]
    good = compute_metrics(_digits_ctx(reference, held_out), [METRICS.get(n) for n in names], 1000)
    bad = compute_metrics(_digits_ctx(reference, noisy), [METRICS.get(n) for n in names], 1000)
    assert good["fd_random_5k"]["fd"] * 5 < bad["fd_random_5k"]["fd"]
    assert good["kid_random_5k"]["kid"] * 5 < bad["kid_random_5k"]["kid"]
    for key in ("precision", "density", "coverage"):
        assert good["prdc_random_5k"][key] > bad["prdc_random_5k"][key] + 0.1, key
    for result in good.values():
        assert set(result["provenance"]) >= PROVENANCE_KEYS, result["provenance"]
        assert result["provenance"]["extractor"] == "random"
        assert result["provenance"]["n_real"] == 4000


def test_classifier_metrics_on_held_out_digits():
    reference, held_out = _split_digits()
    ctx = _digits_ctx(reference, held_out)
    out = compute_metrics(ctx, select_metrics(ctx, ["is_classifier_5k", "fd_classifier_5k"]), 1000)
    assert out["is_classifier_5k"]["is"] > 6  # ten classes, evenly (measured 7.1)
    one_digit = held_out[:1].expand(1000, -1, -1, -1)
    collapsed = compute_metrics(_digits_ctx(reference, one_digit), [METRICS.get("is_classifier_5k")], 1000)
    assert collapsed["is_classifier_5k"]["is"] < 1.1
    assert out["fd_classifier_5k"]["confident_share"] > 0.75  # measured 0.83-0.90
    assert out["fd_classifier_5k"]["provenance"]["held_out_accuracy"] > 0.97


def test_stacked_mnist_modes_and_kl_on_real_stacks():
    real = load_data(DataConfig(name="stacked-mnist"))
    idx = torch.arange(10_000)  # 26,000 in the protocol; 10,000 keep the test short
    x, _ = real.batch(idx)
    meta = {"kind": "images", "shape": [3, 28, 28], "data": {"name": "stacked-mnist"}, "model": {}}
    ctx = EvalContext(meta, real, given=(x.float(), None))
    result = compute_metrics(ctx, select_metrics(ctx, ["modes_stacked_mnist"]))["modes_stacked_mnist"]
    assert result["modes"] >= 995
    assert result["kl"] < 0.12  # sampling alone adds ~(1000 - 1) / (2 * 10,000) = 0.05
    one_mode = x[:1].float().expand(10_000, -1, -1, -1)
    ctx = EvalContext(meta, real, given=(one_mode, None))
    collapsed = compute_metrics(ctx, select_metrics(ctx, ["modes_stacked_mnist"]))["modes_stacked_mnist"]
    assert collapsed["modes"] == 1
    assert collapsed["kl"] == pytest.approx(math.log(1000), rel=1e-9)


def test_evaluate_real_against_fake_folders_from_the_cli(tmp_path, capsys):
    real = load_data(DataConfig(name="digits"))
    x = real.all_x.numpy()
    np.savez(tmp_path / "real.npz", x=x[:900], labels=real.labels.numpy()[:900])
    np.save(tmp_path / "same.npy", x[900:])
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).uniform(-1, 1, x[900:].shape).astype(np.float32))
    args = ["evaluate", "--real", str(tmp_path / "real.npz"), "--metrics", "fd_classifier_5k,kid_random_5k"]
    same = _cli_json(capsys, [*args, "--fake", str(tmp_path / "same.npy")])
    noise = _cli_json(capsys, [*args, "--fake", str(tmp_path / "noise.npy")])
    assert same["fd_classifier_5k"]["fd"] * 10 < noise["fd_classifier_5k"]["fd"]
    assert same["kid_random_5k"]["kid"] < noise["kid_random_5k"]["kid"]
    assert same["fd_classifier_5k"]["provenance"]["n_fake"] == len(x) - 900
    assert same["fd_classifier_5k"]["provenance"]["n_real"] == 900


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--real", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--fake" in err
    with pytest.raises(SystemExit):
        main(["evaluate", "--real", str(tmp_path / "missing"), "--fake", str(tmp_path / "also-missing")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err


def test_inception_without_its_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(gankit.GankitError) as info:
        get_extractor("inception", None, 3)
    message = str(info.value)
    assert "\n" not in message
    assert "gankit[inception]" in message or "GANKIT_INCEPTION_WEIGHTS" in message


def test_unknown_extractor_and_metric_are_named():
    with pytest.raises(gankit.GankitError, match="unknown feature extractor"):
        get_extractor("vgg", None, 3)
    with pytest.raises(gankit.GankitError, match="fd_classifier_5k"):  # did you mean ...
        parse_target("fd_clasifier_5k")


def test_stacked_mode_stats_splits_kl_into_channel_imbalance_and_dependence():
    from gankit.metrics.digits import stacked_mode_stats

    g = torch.Generator().manual_seed(0)
    n = 26_000
    uniform = stacked_mode_stats(torch.randint(1000, (n,), generator=g))
    assert uniform["modes"] == 1000 and uniform["kl"] < 0.03  # counting noise only (~999 / 2n)
    assert max(uniform["channel_kl"]) < 0.002 and "confident_share" not in uniform
    confidence = torch.full((n, 3), 0.95)
    confidence[: n // 4, 1] = 0.5  # a quarter of channel 1's digits illegible
    legible = stacked_mode_stats(torch.randint(1000, (n,), generator=g), confidence)
    assert legible["confident_share"] == pytest.approx(1 - 1 / 12)
    # channel 0 holds only digits 0-4: log 2 nats of imbalance there; independent channels add nothing
    skewed = torch.randint(5, (n,), generator=g) * 100 + torch.randint(100, (n,), generator=g)
    stats = stacked_mode_stats(skewed)
    assert stats["modes"] == 500
    assert stats["channel_kl"][0] == pytest.approx(math.log(2), abs=0.01)
    assert stats["kl"] == pytest.approx(sum(stats["channel_kl"]), abs=0.03)
    assert sum(stats["channel_shares"][0][5:]) == 0
    # all three channels show the same digit: balanced channels, all of the KL is dependence
    d = torch.randint(10, (n,), generator=g)
    same = stacked_mode_stats(d * 111)
    assert same["modes"] == 10 and max(same["channel_kl"]) < 0.002
    assert same["kl"] == pytest.approx(math.log(100), abs=0.01)


def test_mode_spread_tells_narrow_modes_from_faithful_ones():
    from gankit.data.toy import grid25_centres, mixture
    from gankit.metrics.toy import mode_stats

    centres = grid25_centres()
    faithful = mode_stats(mixture("grid25", centres, 0.05, n=2500, seed=3).x.numpy(), centres.numpy(), 0.05)
    narrow = mode_stats(mixture("grid25", centres, 0.02, n=2500, seed=3).x.numpy(), centres.numpy(), 0.05)
    assert faithful["spread"] == pytest.approx(1.38, abs=0.05)
    assert faithful["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    # modes at 40% of the data's width: every sample high quality, and the spread says why
    assert narrow["high_quality"] == 1.0 and narrow["spread"] == pytest.approx(0.4 * 1.41, abs=0.05)
