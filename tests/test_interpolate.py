"""`gankit interpolate` (gankit/interpolate.py): paths through seeds' latents, in z or in w."""

import json

import pytest
import torch
from PIL import Image
from torch import nn

import gankit
from gankit.cli import main as cli
from gankit.data import RealData
from gankit.interpolate import interpolation, lerp, slerp
from gankit.pretrained import GAN


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny conditional dcgan (3 classes, 8x8), trained for 2 steps."""
    x = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = RealData("tiny", x, "images", torch.arange(48) % 3, 3)
    out = tmp_path_factory.mktemp("interp") / "run"
    overrides = ["model.width=4", "model.latent_dim=8", "train.batch_size=8", "monitor.eval_every=0"]
    gankit.train(data="tiny", model="dcgan", conditional=True, steps=2, real_data=data, out=out,
                 overrides=overrides, progress=False)  # fmt: skip
    return out


def test_the_ends_are_the_seeds_plain_samples_and_the_label_is_kept(run):
    gan = gankit.load(run)
    images = interpolation(gan, [3, 7, 11], steps=5, label=1)
    assert images.shape == (1, 9, 1, 8, 8)  # 5 per pair, the middle seed shared
    for column, seed in ((0, 3), (4, 7), (8, 11)):
        plain = gan.sample(1, seed=seed, labels=1, raw=True)[0]
        torch.testing.assert_close(images[0, column], plain, rtol=0, atol=1e-5)
    rows = interpolation(gan, [3, 7], steps=4)  # one row per class by default
    assert rows.shape == (3, 4, 1, 8, 8)
    torch.testing.assert_close(rows[1], interpolation(gan, [3, 7], steps=4, label=1)[0], rtol=0, atol=1e-5)
    assert not torch.allclose(rows[0], rows[2])


def test_slerp_and_lerp_share_the_ends_and_differ_between_them(run):
    gan = gankit.load(run)
    a, b = interpolation(gan, [0, 1], 6, label=0), interpolation(gan, [0, 1], 6, spherical=True, label=0)
    assert torch.equal(a[:, [0, -1]], b[:, [0, -1]])
    assert not torch.allclose(a[:, 1:-1], b[:, 1:-1])
    za, zb = torch.randn(16), torch.randn(16)
    t = torch.linspace(0, 1, 7)
    s, line = slerp(za, zb, t), lerp(za, zb, t)
    assert torch.equal(s[0], za) and torch.equal(s[-1], zb) and torch.equal(line[-1], zb)
    # the great circle keeps the norm between those of the ends; the chord dips below both
    assert s[3].norm() >= min(za.norm(), zb.norm()) - 1e-4 > line[3].norm()


def test_png_strip_and_gif_frames(run, tmp_path):
    cli(["interpolate", str(run), "--steps", "5", "--seeds", "0,1,2", "--out", str(tmp_path / "s.png")])
    strip = Image.open(tmp_path / "s.png")
    assert strip.size == (9 * 10 + 2, 3 * 10 + 2)  # 9 columns, a row per class, 8 px + 2 px borders
    cli(
        ["interpolate", str(run), "--steps", "4", "--label", "2", "--slerp", "--out", str(tmp_path / "a.gif")]
    )
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 4 and gif.size[0] >= 96  # one frame per step, enlarged from 8x8


class Styled(nn.Module):
    """A generator with a mapping network: w = z^3 + label, x = tanh of a projection of w."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 16)

    def mapping(self, z, y):
        return z**3 + y[:, None].float()

    def synthesis(self, w):
        return torch.tanh(self.proj(w)).view(-1, 1, 4, 4)

    def forward(self, z, y=None):
        return self.synthesis(self.mapping(z, y))


def test_a_generator_with_a_mapping_network_is_interpolated_in_w():
    meta = {"model": {"latent_dim": 4, "prior": "gaussian", "conditional": True}, "shape": [1, 4, 4],
            "kind": "images", "num_classes": 2, "data": {}}  # fmt: skip
    torch.manual_seed(0)
    gan = GAN(Styled(), meta)
    images = interpolation(gan, [5, 9], steps=3, label=1)
    g = gan.generator
    za, zb = (gan.sample(1, seed=s, labels=1, raw=True) for s in (5, 9))
    torch.testing.assert_close(images[0, 0], za[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(images[0, 2], zb[0], rtol=0, atol=1e-5)
    from gankit.interpolate import seed_latents

    z = seed_latents(gan, [5, 9])
    y = torch.ones(2, dtype=torch.int64)
    with torch.no_grad():
        w = g.mapping(z, y)
        in_w = g.synthesis(((w[0] + w[1]) / 2)[None])[0]
        in_z = g(((z[0] + z[1]) / 2)[None], y[:1])[0]
    torch.testing.assert_close(images[0, 1], in_w, rtol=0, atol=1e-5)  # the midpoint of the ws
    assert not torch.allclose(images[0, 1], in_z)  # not the image of the midpoint of the zs


def error_line(capsys, args):
    with pytest.raises(SystemExit) as e:
        cli(args)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_bad_input_is_one_line_naming_the_fix(run, tmp_path, capsys):
    out = ["--out", str(tmp_path / "x.png")]
    assert "two ends" in error_line(capsys, ["interpolate", str(run), "--seeds", "4", *out])
    assert "not a list" in error_line(capsys, ["interpolate", str(run), "--seeds", "a,b", *out])
    assert "--steps 2 or more" in error_line(capsys, ["interpolate", str(run), "--steps", "1", *out])
    assert ".png or .gif" in error_line(capsys, ["interpolate", str(run), "--out", str(tmp_path / "x.jpg")])
    assert "use 0..2" in error_line(capsys, ["interpolate", str(run), "--label", "3", *out])
    translator = tmp_path / "colorizer"
    translator.mkdir()
    config = {"task": "translate", "translation": {"task": "colorize"}, "model": {"name": "pix2pix"}}
    (translator / "config.json").write_text(json.dumps(config))
    (translator / "model.safetensors").write_bytes(b"")
    assert "gankit colorize" in error_line(capsys, ["interpolate", str(translator), *out])
