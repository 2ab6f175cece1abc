"""Image-to-image translation: paired data, the U-Net/PatchGAN, colour spaces, masks, the tiled
translator and its commands (pix2pix's learning tests are in test_translation_learning.py)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.cli import main
from gankit.config import DataConfig
from gankit.data.paired import PairedData, load_paired_folder
from gankit.nn.fill import FillResidual, diffusion_fill
from gankit.nn.image2image import PatchGAN, UNet
from gankit.translation.color import image_to_l_ab, l_ab_to_image, lab_to_rgb, rgb_to_lab
from gankit.translation.masks import composite, masked_input, random_masks
from gankit.translation.translator import Translator


def run_cli(args, capsys):
    code = 0
    try:
        main(args)
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_lab_agrees_with_scikit_image_and_round_trips():
    skcolor = pytest.importorskip("skimage.color")
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    ours = rgb_to_lab(x)
    theirs = torch.from_numpy(skcolor.rgb2lab(x.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2).float()
    assert (ours - theirs).abs().max() < 0.02
    assert (lab_to_rgb(ours) - x).abs().max() < 1e-4
    light, ab = image_to_l_ab(x * 2 - 1)
    assert (l_ab_to_image(light, ab) - (x * 2 - 1)).abs().max() < 1e-3


@pytest.mark.parametrize("size", [(32, 32), (45, 71), (5, 9)])
def test_unet_takes_any_size(size):
    g = UNet(2, 3, width=8, depth=3)
    assert g(torch.randn(2, 2, *size)).shape == (2, 3, *size)
    assert PatchGAN(5, width=8, layers=2)(torch.randn(2, 5, 32, 32)).shape == (2, 1, 6, 6)


def test_masks_cover_part_of_each_image_and_composite_keeps_the_rest():
    m = random_masks(16, 32, 32, torch.Generator().manual_seed(0), "cpu")
    share = m.mean((1, 2, 3))
    assert ((share > 0.01) & (share < 0.6)).all()
    x, filled = torch.rand(16, 3, 32, 32), torch.rand(16, 3, 32, 32)
    out = composite(x, filled, m)
    assert torch.equal(out * (1 - m), x * (1 - m)) and torch.equal(out * m, filled * m)


def _meta(task="pairs", scale=1, channels=(3, 3)):
    return {
        "translation": {"task": task, "scale": scale},
        "in_channels": channels[0],
        "out_channels": channels[1],
    }


@pytest.mark.parametrize("scale", [1, 2])
def test_tiles_blend_to_the_untiled_result_for_a_pointwise_network(scale):
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 3, 1)] + ([nn.Upsample(scale_factor=scale)] if scale > 1 else [])
    t = Translator(nn.Sequential(*layers), _meta("sr" if scale > 1 else "pairs", scale))
    x = torch.rand(1, 3, 75, 61) * 2 - 1
    whole, tiled = t.translate(x, tile=1000), t.translate(x, tile=24)
    assert tiled.shape == (1, 3, 75 * scale, 61 * scale)
    assert (whole - tiled).abs().max() < 1e-5


def test_inpainting_returns_the_known_pixels_unchanged_and_is_deterministic():
    net = UNet(4, 3, width=8, depth=2, dropout=0.5)
    t = Translator(net, _meta("inpaint", channels=(4, 3)))
    x = torch.rand(3, 20, 30) * 2 - 1
    mask = torch.zeros(1, 20, 30)
    mask[:, 5:12, 8:20] = 1
    out = t.translate(x, mask)
    assert torch.equal(out * (1 - mask), x * (1 - mask))
    assert not torch.equal(out * mask, x * mask)
    assert torch.equal(out, t.translate(x, mask))  # dropout off at inference


class _Zero(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x[:, :-1])


def test_fill_residual_starts_from_the_diffusion_fill_and_learns_a_correction():
    x = torch.linspace(-1, 1, 24).view(1, 1, 1, 24).expand(2, 3, 16, 24).clone()  # a smooth ramp
    mask = torch.zeros(2, 1, 16, 24)
    mask[:, :, 4:10, 6:14] = 1
    a = masked_input(x, mask)
    fill = diffusion_fill(x * (1 - mask), mask)
    assert torch.equal(FillResidual(_Zero())(a), fill)  # no correction: exactly the fill
    assert (fill - x).abs().max() < 0.05  # a ramp is harmonic: the fill finds it
    net = FillResidual(UNet(4, 3, width=8, depth=2, dropout=0.0))
    assert torch.equal(net(a), fill)  # the correction's gain starts at 0
    net.gain.data.fill_(1.0)
    out = net(a)
    assert torch.equal(out * (1 - mask), x * (1 - mask)) and not torch.equal(out, fill)
    net(a).abs().sum().backward()
    assert net.gain.grad is not None and all(p.grad is not None for p in net.net.parameters())


def test_fill_is_for_inpainting_only(capsys):
    code, _, err = run_cli(["train", "--data", "mnist-edges", "--model", "pix2pix", "--steps", "1",
                            "--set", "model.fill=diffusion"], capsys)  # fmt: skip
    assert code == 2 and "model.fill=diffusion is for holes" in err and "inpainting" in err
    assert len(err.strip().splitlines()) == 1


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _pairs_folder(root, n=12, side_by_side=False):
    rng = np.random.default_rng(0)
    for i in range(n):
        a = rng.integers(0, 255, (40, 48), dtype=np.uint8)
        b = 255 - a
        if side_by_side:
            _save(root / f"{i:02d}.png", np.concatenate([a, b], 1))
        else:
            _save(root / "A" / f"{i:02d}.png", a)
            _save(root / "B" / f"{i:02d}.jpg" if i == 0 else root / "B" / f"{i:02d}.png", b)


@pytest.mark.parametrize("layout", ["folders", "side-by-side"])
def test_paired_folders_load_with_held_out_pairs_and_direction(tmp_path, layout):
    _pairs_folder(tmp_path, side_by_side=layout == "side-by-side")
    data = load_paired_folder(tmp_path, DataConfig(name=str(tmp_path), resolution=32))
    assert isinstance(data, PairedData) and data.crop == 32 and len(data) == 10  # 12 pairs, 2 held out
    a, b = data.batch(torch.arange(4), torch.Generator().manual_seed(1))
    assert a.shape == b.shape == (4, 1, 32, 32)
    if layout == "folders":  # B = 255 - A, whichever crop and flip was drawn (JPEG: nearly)
        assert (a + b).abs().max() < 0.15
    assert data.holdout[0].shape == (64, 1, 32, 32)
    swapped = load_paired_folder(tmp_path, DataConfig(name=str(tmp_path), resolution=32, direction="BtoA"))
    assert torch.allclose(swapped.holdout[0], data.holdout[1]) and torch.allclose(
        swapped.holdout[1], data.holdout[0]
    )


def test_crops_follow_the_rng_so_a_resumed_run_draws_the_same(tmp_path):
    _pairs_folder(tmp_path)
    data = load_paired_folder(tmp_path, DataConfig(name=str(tmp_path), resolution=24))
    first = data.batch(torch.arange(6), torch.Generator().manual_seed(3))
    again = data.batch(torch.arange(6), torch.Generator().manual_seed(3))
    other = data.batch(torch.arange(6), torch.Generator().manual_seed(4))
    assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])


def test_rotations_turn_input_and_target_together_through_all_eight_symmetries():
    image = torch.arange(16.0).view(1, 4, 4)  # every symmetry of the square gives another image
    draw = lambda data: data.batch(torch.zeros(200, dtype=torch.long), torch.Generator().manual_seed(0))  # noqa: E731
    distinct = lambda t: len({tuple(x.flatten().tolist()) for x in t})  # noqa: E731
    a, b = draw(PairedData("t", "pairs", [image], [image * 2], crop=4, flip=True, rotate=True))
    assert torch.equal(a, b * 2)  # the input turned with its target
    assert distinct(b) == 8
    assert distinct(draw(PairedData("t", "pairs", [image], [image * 2], crop=4, flip=True))[1]) == 2


def test_too_small_images_are_one_line_error(tmp_path, capsys):
    _pairs_folder(tmp_path)
    code, _, err = run_cli(
        ["train", "--data", str(tmp_path), "--model", "pix2pix", "--resolution", "64"], capsys
    )
    assert code == 2 and "smaller than the crop 64" in err and "lower --resolution" in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def edges_run(tmp_path_factory):
    import gankit

    out = tmp_path_factory.mktemp("runs") / "edges"
    gankit.train(
        {"data": {"name": "mnist-edges"}, "model": {"name": "pix2pix"}, "train": {"steps": 4}},
        out=out, progress=False, overrides=["model.width=8", "train.batch_size=4", "monitor.eval_every=4"],
    )  # fmt: skip
    return out


def test_translate_writes_each_input_under_its_name_the_same_twice(edges_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    _save(tmp_path / "in" / "wide.png", rng.integers(0, 255, (37, 90), dtype=np.uint8))
    _save(tmp_path / "in" / "colour.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    for out in ("o1", "o2"):
        code, text, _ = run_cli(
            ["translate", str(edges_run), str(tmp_path / "in"), "--out", str(tmp_path / out)], capsys
        )
        assert code == 0 and "wrote 2 images" in text
    for name, size in (("wide.png", (90, 37)), ("colour.png", (20, 20))):
        first, second = Image.open(tmp_path / "o1" / name), Image.open(tmp_path / "o2" / name)
        assert first.size == size and np.array_equal(np.asarray(first), np.asarray(second))


def test_translator_commands_refuse_the_wrong_model_or_input_in_one_line(edges_run, tmp_path, capsys):
    _save(tmp_path / "x.png", np.zeros((16, 16), np.uint8))
    _save(tmp_path / "m.png", np.zeros((8, 8), np.uint8))
    x, o = str(tmp_path / "x.png"), str(tmp_path / "o")
    cases = [
        (["colorize", str(edges_run), x, "--out", o], "gankit translate"),
        (["inpaint", str(edges_run), x, "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "f.png")],
         "gankit translate"),
        (["translate", str(edges_run), str(tmp_path / "nope.png"), "--out", o], "not found"),
        (["translate", str(edges_run), x, "--out", o, "--direction", "BtoA"], "one way only"),
        (["sample", str(edges_run), "--out", str(tmp_path / "s.png")], "gankit translate"),
    ]  # fmt: skip
    for args, expected in cases:
        code, _, err = run_cli(args, capsys)
        assert code == 2 and expected in err, (args, err)
        assert len(err.strip().splitlines()) == 1


def test_evaluate_reports_each_metric_beside_its_baseline(edges_run, capsys):
    import gankit

    results = gankit.evaluate(edges_run)
    assert {"l1", "psnr", "ssim"} <= set(results)
    for r in results.values():
        assert {"model", "baseline", "baseline_name", "provenance"} <= set(r)
        assert r["provenance"]["pairs"] == 500
    assert (edges_run / "metrics.jsonl").is_file()


def test_cyclegan_exports_both_directions_and_translate_picks_one(tmp_path, capsys):
    import gankit
    from gankit.data.unpaired import UnpairedData

    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = UnpairedData("two", x[:16], -x[16:32], x[32:], -x[32:])
    run = tmp_path / "cycle"
    gankit.train(
        {"data": {"name": "two"}, "model": {"name": "cyclegan"}, "train": {"steps": 2}}, out=run,
        real_data=data, progress=False, overrides=["model.width=4", "model.blocks=1", "train.batch_size=4"],
    )  # fmt: skip
    ab = Translator.from_pretrained(run, direction="AtoB")
    ba = Translator.from_pretrained(run, direction="BtoA")
    probe = torch.rand(1, 1, 12, 20) * 2 - 1
    assert not torch.equal(ab.translate(probe), ba.translate(probe))
    _save(tmp_path / "in.png", np.zeros((12, 20), np.uint8))
    outs = {}
    for direction in ("AtoB", "BtoA"):
        args = ["translate", str(run), str(tmp_path / "in.png"), "--out", str(tmp_path / direction)]
        code, _, err = run_cli([*args, "--direction", direction], capsys)
        assert code == 0, err
        outs[direction] = np.asarray(Image.open(tmp_path / direction / "in.png"))
    assert outs["AtoB"].shape == (12, 20) and not np.array_equal(outs["AtoB"], outs["BtoA"])


def test_rotations_of_unpaired_domains_are_one_line_error(tmp_path, capsys):
    args = [
        "train",
        "--data",
        "mnist-thick",
        "--model",
        "cyclegan",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "r"),
    ]
    code, _, err = run_cli([*args, "--set", "data.rotate=true"], capsys)
    assert code == 2 and "data.rotate" in err and "drop data.rotate" in err and "Traceback" not in err
