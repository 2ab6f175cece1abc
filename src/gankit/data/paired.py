"""Paired images for translation: an input ``a`` and its target ``b``, cropped and flipped together.

:class:`PairedData` holds whole images (one stacked tensor when they share a size, else a list) and
draws random crops of the training size from them, so photographs of any size and shape train a
fully convolutional network. Some tasks derive the input from the target at batch time, with the
run's RNG (so a resumed run draws the same): ``inpaint`` (random masks) and ``sr`` (bicubic
downsampling of the crop). User data: folders ``A/`` and ``B/`` with matching file names, or
side-by-side ``A|B`` images (``data.direction`` picks the input half); a ``train/`` sub-folder is
trained on and ``val/`` or ``test/`` held out, as in pix2pix's datasets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.config import DataConfig
from gankit.errors import GankitError

DERIVED = ("inpaint", "sr")  # tasks whose input is made from the target at batch time


def downsample(b: Tensor, scale: int) -> Tensor:
    """Bicubic, antialiased downsampling by an integer factor (the low-resolution input of SR)."""
    h, w = b.shape[-2] // scale, b.shape[-1] // scale
    return F.interpolate(b, size=(h, w), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


class PairedData:
    """``task``: ``pairs`` (a stored beside b), ``colorize`` (a = L, b = ab, stored), ``inpaint`` or
    ``sr`` (a derived from b). ``crop``: the training size (of b); ``holdout``: fixed (a, b) pairs for
    evaluation and preview grids, never trained on."""

    kind = "pairs"
    labels = None
    num_classes = 0

    def __init__(
        self,
        name: str,
        task: str,
        b: list[Tensor] | Tensor,
        a: list[Tensor] | Tensor | None = None,
        crop: int | None = None,
        flip: bool = False,
        scale: int = 1,
        info: dict[str, Any] | None = None,
        rotate: bool = False,
    ):
        self.name, self.task, self.flip, self.scale, self.rotate = name, task, flip, scale, rotate
        self.b = b if isinstance(b, Tensor) else list(b)
        self.a = a if a is None or isinstance(a, Tensor) else list(a)
        if (self.a is None) != (task in DERIVED):
            raise ValueError(f"task {task!r}: inputs must be {'derived' if task in DERIVED else 'given'}")
        sizes = [tuple(t.shape[-2:]) for t in self.b]
        self.crop = crop or min(min(s) for s in sizes)
        self.crop -= self.crop % max(scale, 1)
        small = [s for s in sizes if min(s) < self.crop]
        if small:
            raise GankitError(
                f"dataset '{name}' has images of {small[0][0]}x{small[0][1]},"
                f" smaller than the crop {self.crop}",
                "lower --resolution, or raise --set data.load_size",
            )
        # a fixed number of crops per image and epoch, in proportion to its area
        per = [max(1, (h * w) // (self.crop * self.crop)) for h, w in sizes]
        self.owner = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(per))
        self.info: dict[str, Any] = {"task": task, "scale": scale, **(info or {})}
        self.holdout: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return len(self.owner)

    @property
    def in_channels(self) -> int:
        if self.task == "inpaint":
            return self.b[0].shape[0] + 1  # the masked image and the mask
        return (self.a[0] if self.a is not None else self.b[0]).shape[0]

    @property
    def out_channels(self) -> int:
        return self.b[0].shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """A training target's shape (b at the crop size)."""
        return (self.out_channels, self.crop, self.crop)

    @property
    def all_x(self) -> Tensor:
        """Targets at the crop size (for memory estimates and reference grids)."""
        return (
            self.holdout[1] if self.holdout is not None else self.batch(torch.arange(min(len(self), 64)))[1]
        )

    def to(self, device) -> PairedData:
        move = lambda t: t.to(device) if isinstance(t, Tensor) else [u.to(device) for u in t]  # noqa: E731
        self.b = move(self.b)
        self.a = move(self.a) if self.a is not None else None
        if self.holdout is not None:
            self.holdout = (self.holdout[0].to(device), self.holdout[1].to(device))
        return self

    def batch(self, idx: Tensor, rng: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(inputs, targets) for these indices: random crops (and flips), inputs derived if the task
        derives them. Without ``rng``: centre crops, no flips, a fixed mask (for evaluation)."""
        device = self.b[0].device
        owners = self.owner[idx.cpu()].tolist()
        draws = 5 if self.rotate else 3  # runs without rotations keep their random stream
        u = torch.rand(len(owners), draws, generator=rng, device=device).cpu() if rng is not None else None
        # a random flip, and with rotations a vertical flip and a transpose too: the 8 symmetries
        turns = [lambda t: t.flip(-1)] * self.flip + [lambda t: t.flip(-2), lambda t: t.mT] * self.rotate
        turns = turns if u is not None else []
        a_list, b_list = [], []
        for i, k in enumerate(owners):
            b = self.b[k]
            h, w = b.shape[-2:]
            fy, fx = (u[i, 0].item(), u[i, 1].item()) if u is not None else (0.5, 0.5)
            top, left = int((h - self.crop) * fy), int((w - self.crop) * fx)
            top, left = top - top % self.scale, left - left % self.scale
            b = b[:, top : top + self.crop, left : left + self.crop]
            a = None
            if self.a is not None:  # stored inputs share their target's grid, scaled for SR-like pairs
                s = self.a[k].shape[-1] / w
                ta, la, ca = round(top * s), round(left * s), round(self.crop * s)
                a = self.a[k][:, ta : ta + ca, la : la + ca]
            for j, turn in enumerate(turns):
                if u[i, 2 + j] < 0.5:
                    b, a = turn(b), turn(a) if a is not None else None
            b_list.append(b)
            a_list.append(a)
        b = torch.stack(b_list)
        a = torch.stack(a_list) if self.a is not None else self.derive(b, rng)
        return a, b

    def derive(self, b: Tensor, rng: torch.Generator | None) -> Tensor:
        if self.task == "sr":
            return downsample(b, self.scale)
        from gankit.translation.masks import masked_input, random_masks

        g = rng if rng is not None else torch.Generator(b.device).manual_seed(0)
        return masked_input(b, random_masks(len(b), b.shape[-2], b.shape[-1], g, b.device))

    def make_holdout(self, b: list[Tensor] | Tensor, a=None, n: int = 64, seed: int = 0) -> None:
        """Fixed evaluation pairs: ``n`` seeded crops of held-out images (never trained on)."""
        held = PairedData(self.name, self.task, b, a, self.crop, False, self.scale)
        g = torch.Generator().manual_seed(seed)
        idx = (
            torch.randperm(len(held), generator=g)[:n]
            if len(held) >= n
            else torch.randint(len(held), (n,), generator=g)
        )
        self.holdout = held.batch(idx, g)
        self.info["holdout"] = len(self.holdout[0])


# --- user folders ----------------------------------------------------------------------------------
def load_paired_folder(root: Path, cfg: DataConfig, task: str = "pairs") -> PairedData:
    """``root/A`` + ``root/B`` (matching names), or side-by-side A|B images; ``train/`` and
    ``val/``/``test/`` sub-folders when present."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise GankitError(
            f"paired data must be a folder: {root}", "pass a folder with A/ and B/, or of A|B images"
        )
    train = root / "train" if (root / "train").is_dir() else root
    held = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    a, b, names = _read_pairs(train, cfg)
    data = PairedData(root.name, task, b, a, cfg.resolution, cfg.flip if cfg.flip is not None else True)
    data.info["files"] = len(names)
    if held is not None:
        ha, hb, _ = _read_pairs(held, cfg)
        data.make_holdout(hb, ha)
    elif len(b) >= 10:  # no validation folder: hold out every tenth pair and train on the rest
        keep = [i for i in range(len(b)) if i % 10]
        out = [i for i in range(len(b)) if i % 10 == 0]
        data = PairedData(
            root.name, task, [b[i] for i in keep], [a[i] for i in keep], cfg.resolution, data.flip
        )
        data.make_holdout([b[i] for i in out], [a[i] for i in out])
    else:  # too few to spare: evaluate on centre crops of the training pairs, and say so
        data.make_holdout(b, a)
        data.info["holdout_is_train"] = True
    return data


def _read_pairs(folder: Path, cfg: DataConfig) -> tuple[list[Tensor], list[Tensor], list[str]]:
    from gankit.translation.imagefile import IMAGE_SUFFIXES, read_image

    def images(d: Path) -> dict[str, Path]:
        return {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}

    channels = cfg.channels
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        fa, fb = images(folder / "A"), images(folder / "B")
        names = sorted(set(fa) & set(fb))
        if not names:
            raise GankitError(
                f"no file name is in both {folder / 'A'} and {folder / 'B'}", "name each pair alike"
            )
        pairs = [(read_image(fa[n], channels), read_image(fb[n], channels)) for n in names]
    else:
        found = images(folder)
        if not found:
            raise GankitError(
                f"no images in {folder}", "put A/ and B/ folders there, or side-by-side A|B images"
            )
        names, pairs = sorted(found), []
        for n in names:
            x = read_image(found[n], channels)
            half = x.shape[-1] // 2
            pairs.append((x[..., :half], x[..., half : 2 * half]))
    if cfg.direction == "BtoA":
        pairs = [(b, a) for a, b in pairs]
    a, b = zip(*[_resize_pair(pa, pb, cfg.load_size) for pa, pb in pairs], strict=True)
    return list(a), list(b), names


def _resize_pair(a: Tensor, b: Tensor, load_size: int | None) -> tuple[Tensor, Tensor]:
    """Both to the target's size (the short side to ``load_size`` when given), keeping the aspect."""
    h, w = b.shape[-2:]
    if load_size is not None:
        s = load_size / min(h, w)
        h, w = max(load_size, round(h * s)), max(load_size, round(w * s))

    def resize(t: Tensor) -> Tensor:
        if tuple(t.shape[-2:]) == (h, w):
            return t
        return F.interpolate(t[None], size=(h, w), mode="bicubic", antialias=True).clamp(-1, 1)[0]

    return resize(a), resize(b)


def load_image_folder_sr(root: Path, cfg: DataConfig, scale: int) -> PairedData:
    """A folder of high-resolution images for super-resolution: inputs are their bicubic
    reductions; every tenth image is held out (or, with fewer than ten, centre crops of all)."""
    from gankit.translation.imagefile import IMAGE_SUFFIXES, read_image

    root = Path(root).expanduser()
    if not root.is_dir():
        raise GankitError(f"super-resolution data must be a folder of images: {root}", "pass a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GankitError(f"no images in {root}", "put PNG/JPEG photographs there")
    images = [_resize_pair(x, x, cfg.load_size)[1] for x in (read_image(f, cfg.channels or 3) for f in files)]
    crop = cfg.resolution or 64
    flip = cfg.flip if cfg.flip is not None else True
    if len(images) >= 10:
        train, held = [x for i, x in enumerate(images) if i % 10], images[::10]
    else:
        train, held = images, images
    data = PairedData(root.name, "sr", train, None, crop, flip, scale)
    data.make_holdout(held)
    data.info["holdout_is_train"] = len(images) < 10
    return data
