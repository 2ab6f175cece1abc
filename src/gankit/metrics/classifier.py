"""A small CNN trained on the real digits: the feature extractor and labeller behind digit metrics.

Inception features (FID, Heusel et al. 2017) describe natural photos, not 28x28 digits, so the digit
metrics use a classifier trained on the data itself, as in the "domain-specific FID" of e.g.
Lucic et al. 2018 ("Are GANs Created Equal?") and the mode counts on Stacked MNIST of Metz et al. 2017
("Unrolled GANs") and Srivastava et al. 2017 (VEEGAN): its 128-d penultimate layer gives the features
for the Fréchet / kernel distances, its softmax the class probabilities, and on Stacked MNIST it
reads each channel's digit.

Trained classifiers are cached as safetensors (no pickle) with a JSON sidecar, under
``$GANKIT_CACHE`` or ``~/.cache/gankit``, in ``classifiers/<dataset>-<resolution>-v1.safetensors``
(:mod:`gankit.metrics.classifier_cache`, whose ``get_classifier`` and ``cache_dir`` are importable
from here too).
"""

from __future__ import annotations

import contextlib
import logging
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError

log = logging.getLogger(__name__)

CACHE_VERSION = "v1"  # bump when the architecture or the training recipe changes
WORK_SIZE = 28  # every input is resized to this, so one architecture serves any resolution
FEATURE_DIM = 128
MIN_SIZE = 8
HOLDOUT_FRACTION = 0.1
DEFAULT_EPOCHS = 8
BUILTIN_DATASETS = ("mnist", "digits", "stacked-mnist")


class DigitClassifier(nn.Module):
    """Two conv blocks (conv-BN-ReLU-maxpool), a 128-d feature layer and a linear head.

    Input (B, C, H, W) in [-1, 1] with H, W >= 8; it is resized (bilinear, antialiased) to 28x28 first,
    so MNIST at 28x28, the 8x8 digits and other resolutions share one architecture.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.num_classes, self.in_channels = num_classes, in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 7x7
            nn.Flatten(),
            nn.Linear(64 * (WORK_SIZE // 4) ** 2, FEATURE_DIM, bias=False),
            nn.BatchNorm1d(FEATURE_DIM),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def prepare(self, x: Tensor) -> Tensor:
        """Check the shape and resize to the 28x28 working resolution."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise GankitError(
                f"the digit classifier expects (B, {self.in_channels}, H, W) images, "
                f"got shape {tuple(x.shape)}",
                "pass image batches with the data's channels",
            )
        h, w = x.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise GankitError(
                f"images of {h}x{w} are too small for the digit classifier",
                f"use a resolution of at least {MIN_SIZE}",
            )
        if (h, w) != (WORK_SIZE, WORK_SIZE):
            x = F.interpolate(
                x.float(), size=(WORK_SIZE, WORK_SIZE), mode="bilinear", antialias=True, align_corners=False
            )
        return x.float()

    def features(self, x: Tensor) -> Tensor:
        """(B, 128) penultimate activations (post-ReLU, like Inception's pool3 for FID)."""
        return self.body(self.prepare(x))

    def forward(self, x: Tensor) -> Tensor:
        """(B, num_classes) logits."""
        return self.head(self.dropout(self.features(x)))


# --------------------------------------------------------------------------------------------- training


def holdout_split(y: Tensor, fraction: float = HOLDOUT_FRACTION, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Stratified seeded split: (train indices, held-out indices), ``fraction`` of each class held out.

    Classes with a single sample stay in the training part.
    """
    g = torch.Generator().manual_seed(seed)
    y = y.cpu()
    held = []
    for c in torch.unique(y):
        idx = (y == c).nonzero().flatten()
        if len(idx) < 2:
            continue
        k = max(1, round(len(idx) * fraction))
        held.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    mask = torch.zeros(len(y), dtype=torch.bool)
    if held:
        mask[torch.cat(held)] = True
    return (~mask).nonzero().flatten(), mask.nonzero().flatten()


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], edges replicated.

    Two gathers on the padded batch, so the whole batch moves at once (no per-image Python loop).
    """
    if max_shift <= 0:
        return x
    b, c, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H): source rows of each output row
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * p))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def _resize_all(x: Tensor, chunk: int = 2000) -> Tensor:
    """Resize the whole training set to 28x28 once (in chunks to bound memory), not every batch."""
    if tuple(x.shape[-2:]) == (WORK_SIZE, WORK_SIZE):
        return x.float()
    return torch.cat(
        [
            F.interpolate(
                x[i : i + chunk].float(),
                size=(WORK_SIZE, WORK_SIZE),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            for i in range(0, len(x), chunk)
        ]
    )


def _check_training_data(x: Tensor, y: Tensor, num_classes: int) -> None:
    if x.ndim != 4:
        raise GankitError(
            f"the digit classifier trains on (N, C, H, W) images, got shape {tuple(x.shape)}",
            "use an image dataset",
        )
    if min(x.shape[-2:]) < MIN_SIZE:
        raise GankitError(
            f"images of {x.shape[-2]}x{x.shape[-1]} are too small for the digit classifier",
            f"use a resolution of at least {MIN_SIZE}",
        )
    if y.ndim != 1 or len(y) != len(x):
        raise GankitError(f"{len(y)} labels for {len(x)} images", "give exactly one label per image")
    if num_classes < 2 or len(y) == 0 or int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise GankitError(
            f"labels must lie in [0, {num_classes}) with at least 2 classes",
            "check the dataset's labels and num_classes",
        )
    if len(x) < 20:
        raise GankitError(f"{len(x)} labelled images are too few to train a classifier", "use more data")


def _accuracy(model: DigitClassifier, x: Tensor, y: Tensor) -> float:
    if len(x) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(1) == y.cpu()).float().mean())


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Temporarily run torch ops on ``n`` intra-op threads (None: leave torch's setting)."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(
    model: DigitClassifier,
    x: Tensor,
    y: Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    max_shift: int,
    generator: torch.Generator,
) -> None:
    """Minibatch AdamW with a one-cycle learning rate, label smoothing and random shifts."""
    steps_per_epoch = len(x) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch))
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(
                model(random_shift(x[idx], max_shift, generator)), y[idx], label_smoothing=0.05
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def train_classifier(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    lr: float = 3e-3,
    max_shift: int = 2,
    threads: int | None = 1,
) -> tuple[DigitClassifier, float]:
    """Train a :class:`DigitClassifier`; returns (model in eval mode, held-out accuracy).

    A stratified, seeded 10% of the data is held out and never trained on; the returned model is
    the one trained on the other 90%, so the reported accuracy is an honest estimate for exactly the
    weights that get used (no fine-tuning on the held-out part afterwards). Training: AdamW with a
    one-cycle learning rate (Smith 2018), label smoothing 0.05, and random ±``max_shift`` px
    translations at the 28x28 working resolution, so the classifier tolerates the imperfect centring
    of generated digits.

    Deterministic for a given seed: the global RNG is forked (the caller's RNG state is untouched),
    and on the CPU training runs on ``threads`` threads (default 1). One thread because this net is
    too small to gain much from more, the result then does not depend on the core count, and on a
    busy machine OpenMP threads waiting on each other made training 10-20x slower.
    """
    _check_training_data(x, y, num_classes)
    device = torch.device(device)
    x, y = _resize_all(x.detach().cpu()), y.detach().cpu().long()
    train_idx, held_idx = holdout_split(y, HOLDOUT_FRACTION, seed)
    t0 = time.perf_counter()
    with _torch_threads(threads if device.type == "cpu" else None), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # init and dropout draw from the global RNG
        model = DigitClassifier(num_classes, x.shape[1]).to(device)
        _fit(
            model,
            x[train_idx].to(device),
            y[train_idx].to(device),
            epochs,
            min(batch_size, len(train_idx)),
            lr,
            max_shift,
            torch.Generator().manual_seed(seed),
        )
        acc = _accuracy(model, x[held_idx], y[held_idx])
    log.info(
        "digit classifier: %d images, %d classes, %d epochs, held-out accuracy %.4f, %.1fs",
        len(x),
        num_classes,
        epochs,
        acc,
        time.perf_counter() - t0,
    )
    return model, acc


# ------------------------------------------------------------------------------------------- inference


def _batched(model: DigitClassifier, x: Tensor, batch_size: int, features: bool) -> Tensor:
    """Features (or logits) in eval mode, batch by batch; the result is float32 on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        fn = model.features if features else model
        out = [fn(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not out:
        return torch.empty(0, FEATURE_DIM if features else model.num_classes)
    return torch.cat(out)


@torch.no_grad()
def extract_features(model: DigitClassifier, x: Tensor, batch_size: int = 500) -> Tensor:
    """(N, 128) penultimate features of images (N, C, H, W) in [-1, 1], computed in eval mode."""
    return _batched(model, x, batch_size, features=True)


@torch.no_grad()
def predict_logits(model: DigitClassifier, x: Tensor, batch_size: int = 500) -> Tensor:
    """(N, num_classes) logits, computed in eval mode."""
    return _batched(model, x, batch_size, features=False)


@torch.no_grad()
def predict_proba(model: DigitClassifier, x: Tensor, batch_size: int = 500) -> Tensor:
    """(N, num_classes) softmax class probabilities, computed in eval mode."""
    return predict_logits(model, x, batch_size).softmax(dim=1)


@torch.no_grad()
def read_stacked(model: DigitClassifier, x: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Stacked-MNIST labels d1*100 + d2*10 + d3 (Metz et al. 2017), the digit classifier read per
    channel, and the classifier's confidence in each channel's digit.

    ``x`` is (B, 3, H, W); returns labels (B,) int64 and confidences (B, 3), both on the CPU.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise GankitError(
            f"Stacked MNIST images are (B, 3, H, W), got shape {tuple(x.shape)}",
            "pass 3-channel stacked digits",
        )
    b, _, h, w = x.shape
    probs = predict_logits(model, x.reshape(b * 3, 1, h, w), batch_size * 3).softmax(dim=1)
    confidence, digits = probs.max(dim=1)
    digits = digits.reshape(b, 3)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2], confidence.reshape(b, 3)


def classify_stacked(model: DigitClassifier, x: Tensor, batch_size: int = 500) -> Tensor:
    """Stacked-MNIST labels d1*100 + d2*10 + d3 of images (B, 3, H, W): see :func:`read_stacked`."""
    return read_stacked(model, x, batch_size)[0]


def __getattr__(name: str):  # the cache's names, importable from here as before it had its own module
    if name in ("get_classifier", "cache_dir"):
        from gankit.metrics import classifier_cache

        return getattr(classifier_cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
