"""Translation families learn their task within a small CPU budget, judged on held-out pairs against
the task's trivial baseline (gankit evaluate's numbers)."""

import pytest

import gankit

pytestmark = pytest.mark.slow


def _train_and_evaluate(tmp_path, data, model, steps, *overrides):
    run = tmp_path / data
    cfg = {"data": {"name": data}, "model": {"name": model}, "train": {"steps": steps}}
    gankit.train(cfg, out=run, progress=False, overrides=["monitor.eval_every=0", *overrides])
    return gankit.evaluate(run, record=False)


def test_pix2pix_turns_edges_into_digits(tmp_path):
    r = _train_and_evaluate(tmp_path, "mnist-edges", "pix2pix", 150, "model.width=16", "optim.lr_g=1e-3",
                            "optim.lr_d=1e-3", "optim.schedule=constant")  # fmt: skip
    assert r["l1"]["model"] < 0.8 * r["l1"]["baseline"], r["l1"]
    assert r["psnr"]["model"] > r["psnr"]["baseline"] + 2, r["psnr"]


def test_pix2pix_fills_holes_better_than_the_best_trivial_fill(tmp_path):
    r = _train_and_evaluate(tmp_path, "mnist-inpaint", "pix2pix", 150, "model.width=16", "optim.lr_g=1e-3",
                            "optim.lr_d=1e-3", "optim.schedule=constant")  # fmt: skip
    assert r["l1_in_mask"]["model"] < 0.95 * r["l1_in_mask"]["baseline"], r["l1_in_mask"]
    assert r["l1_out_mask"]["model"] == 0.0  # the known pixels come back unchanged


def test_srresnet_stage_beats_bicubic(tmp_path):
    r = _train_and_evaluate(tmp_path, "photos-sr4", "srgan", 150, "model.pretrain=1.0", "model.blocks=4",
                            "optim.lr_g=1e-3")  # fmt: skip
    assert r["psnr_rgb"]["model"] > r["psnr_rgb"]["baseline"] + 0.08, r["psnr_rgb"]
    assert r["psnr_y"]["model"] > r["psnr_y"]["baseline"], r["psnr_y"]
