"""Translation metrics, each beside its trivial baseline, on held-out pairs.

PSNR and SSIM come from scikit-image (``skimage.metrics``), on images in [0, 1], per image then
averaged; "rgb" is over the three channels, "y" over luma (ITU-R BT.601, as super-resolution papers
report). Baselines: bicubic upsampling (SR), the grey copy (colourisation: ab = 0), mean fill and a
harmonic (diffusion) fill (inpainting), the input itself (other pairs, when channels match).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError
from gankit.nn.fill import diffusion_fill, mean_fill


def _skimage_metrics():
    try:
        from skimage import metrics
    except ImportError:
        raise GankitError(
            "translation metrics need scikit-image", 'pip install "gankit[translate]"'
        ) from None
    return metrics


def _unit(x: Tensor) -> np.ndarray:
    """[-1, 1] (N, C, H, W) -> [0, 1] (N, H, W, C) float64."""
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).double().numpy()


def luma(x: np.ndarray) -> np.ndarray:
    """Y of YCbCr (BT.601, studio range as MATLAB's rgb2ycbcr) of [0, 1] RGB, scaled to [0, 1]."""
    if x.shape[-1] == 1:
        return x
    y = (16 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255
    return y[..., None]


def psnr(pred: Tensor, target: Tensor, space: str = "rgb") -> float:
    m = _skimage_metrics()
    p, t = _unit(pred), _unit(target)
    if space == "y":
        p, t = luma(p), luma(t)
    values = [m.peak_signal_noise_ratio(ti, pi, data_range=1.0) for pi, ti in zip(p, t, strict=True)]
    return float(np.mean(np.minimum(values, 100.0)))  # identical images: inf, capped


def ssim(pred: Tensor, target: Tensor, space: str = "rgb") -> float:
    m = _skimage_metrics()
    p, t = _unit(pred), _unit(target)
    if space == "y":
        p, t = luma(p), luma(t)
    win = min(7, min(p.shape[1:3]) // 2 * 2 - 1)
    return float(
        np.mean(
            [
                m.structural_similarity(ti, pi, data_range=1.0, channel_axis=-1, win_size=win)
                for pi, ti in zip(p, t, strict=True)
            ]
        )
    )


def colourfulness(x: Tensor) -> float:
    """Hasler & Suesstrunk (2003): spread and mean of the opponent channels rg and yb, on 0-255."""
    if x.shape[1] != 3:
        return 0.0
    rgb = (x.float().clamp(-1, 1) + 1) * 127.5
    rg = rgb[:, 0] - rgb[:, 1]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]
    std = (rg.flatten(1).std(1) ** 2 + yb.flatten(1).std(1) ** 2).sqrt()
    mean = (rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2).sqrt()
    return float((std + 0.3 * mean).mean())


def lab_error(pred: Tensor, target: Tensor) -> float:
    """Mean ΔE*76 (Euclidean distance in CIE Lab) per pixel."""
    from gankit.translation.color import rgb_to_lab

    p, t = rgb_to_lab((pred.float() + 1) / 2), rgb_to_lab((target.float() + 1) / 2)
    return float((p - t).norm(dim=1).mean())


def masked_error(pred: Tensor, target: Tensor, mask: Tensor, power: int, inside: bool) -> float:
    """Mean |pred - target|^power (on [0, 1]) over the pixels inside (or outside) the mask."""
    m = mask if inside else 1 - mask
    diff = ((pred - target).abs() / 2) ** power * m
    return float(diff.sum() / (m.sum() * pred.shape[1]).clamp_min(1))


def evaluate_pairs(
    run: Callable[[Tensor], Tensor], a: Tensor, b: Tensor, task: str, scale: int = 1
) -> dict[str, Any]:
    """``run``: the network (network space in, network space out) over held-out pairs (a, b).
    Returns {metric: {"model": v, "baseline": v, "baseline_name": ...}} with higher/lower noted."""
    with torch.no_grad():
        out = torch.cat([run(a[i : i + 64]) for i in range(0, len(a), 64)]).clamp(-1, 1)
    results: dict[str, dict[str, Any]] = {}

    def add(name: str, model: float, baseline: float, baseline_name: str, better: str) -> None:
        results[name] = {
            "model": model,
            "baseline": baseline,
            "baseline_name": baseline_name,
            "better": better,
        }

    if task == "colorize":
        from gankit.translation.color import l_ab_to_image

        pred, target = l_ab_to_image(a, out), l_ab_to_image(a, b)
        grey = l_ab_to_image(a, torch.zeros_like(b))
        add("lab_error", lab_error(pred, target), lab_error(grey, target), "grey copy", "lower")
        add("psnr", psnr(pred, target), psnr(grey, target), "grey copy", "higher")
        add("colourfulness", colourfulness(pred), colourfulness(grey), "grey copy", "closer to real")
        results["colourfulness"]["real"] = colourfulness(target)
    elif task == "inpaint":
        from gankit.translation.masks import composite

        mask = a[:, -1:]
        pred = composite(b, out, mask)
        fills = {"mean fill": mean_fill(b, mask), "diffusion fill": diffusion_fill(b, mask)}
        best = min(fills, key=lambda k: masked_error(fills[k], b, mask, 1, True))
        add(
            "l1_in_mask",
            masked_error(pred, b, mask, 1, True),
            masked_error(fills[best], b, mask, 1, True),
            best,
            "lower",
        )
        add(
            "l2_in_mask",
            masked_error(pred, b, mask, 2, True),
            masked_error(fills[best], b, mask, 2, True),
            best,
            "lower",
        )
        add("l1_out_mask", masked_error(pred, b, mask, 1, False), 0.0, "input", "lower")
        add("psnr", psnr(pred, b), psnr(fills[best], b), best, "higher")
    elif task == "sr":
        bicubic = F.interpolate(a, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)
        for space in ("rgb", "y"):
            add(f"psnr_{space}", psnr(out, b, space), psnr(bicubic, b, space), "bicubic", "higher")
            add(f"ssim_{space}", ssim(out, b, space), ssim(bicubic, b, space), "bicubic", "higher")
    else:
        same = a.shape == b.shape
        nan = float("nan")
        add("l1", float((out - b).abs().mean() / 2), float((a - b).abs().mean() / 2) if same else nan,
            "input", "lower")  # fmt: skip
        add("psnr", psnr(out, b), psnr(a, b) if same else float("nan"), "input", "higher")
        add("ssim", ssim(out, b), ssim(a, b) if same else float("nan"), "input", "higher")
    space = "rgb" if b.shape[1] in (2, 3) else "grey"  # colourisation's targets are ab: shown as RGB
    for r in results.values():
        r["provenance"] = {"pairs": len(a), "library": "scikit-image", "range": "[0, 1]", "task": task,
                           "channels": space}  # fmt: skip
    return results


def flat(results: dict[str, Any]) -> dict[str, float]:
    """``eval/<metric>/model`` and ``eval/<metric>/baseline`` scalars for stats.jsonl."""
    out = {}
    for name, r in results.items():
        for key in ("model", "baseline"):
            if isinstance(r.get(key), float) and np.isfinite(r[key]):
                out[f"eval/{name}/{key}"] = r[key]
    return out


def evaluate_cycle(nets, held_a: Tensor, held_b: Tensor, data=None) -> dict[str, Any]:
    """CycleGAN on held-out images of both domains: cycle reconstruction error; where the held-out
    images are pairs (a built-in task knows the true translation), L1 to it beside the identity's; and
    where the domains carry digit labels, a domain classifier's verdict on the translations and
    whether a digit classifier still reads the source digit (both trained on the training images)."""
    with torch.no_grad():
        fb, fa = nets["AtoB"](held_a), nets["BtoA"](held_b)
        rec_a, rec_b = nets["BtoA"](fb), nets["AtoB"](fa)
    results: dict[str, dict[str, Any]] = {}
    l1 = lambda x, y: float((x - y).abs().mean() / 2)  # noqa: E731
    results["cycle_l1"] = {"model": (l1(rec_a, held_a) + l1(rec_b, held_b)) / 2, "baseline": 0.0,
                           "baseline_name": "identity", "better": "lower"}  # fmt: skip
    info = data.info if data is not None else {}
    if info.get("paired_holdout"):
        results["l1_to_target"] = {"model": l1(fb, held_b), "baseline": l1(held_a, held_b),
                                   "baseline_name": "identity", "better": "lower"}  # fmt: skip
    if data is not None and "labels_a" in info:
        domain, digits = _cycle_judges(data)
        labels = info["held_labels"].to(held_a.device)

        def share(judge, x: Tensor, wanted) -> float:
            return float((_judge(judge, x) == wanted).float().mean())

        results["target_domain"] = {
            "model": (share(domain, fb, 1) + share(domain, fa, 0)) / 2,
            "baseline": (share(domain, held_a, 1) + share(domain, held_b, 0)) / 2,
            "baseline_name": "identity", "better": "higher",
        }  # fmt: skip
        results["identity_kept"] = {
            "model": (share(digits, fb, labels) + share(digits, fa, labels)) / 2,
            "baseline": (share(digits, held_a, labels) + share(digits, held_b, labels)) / 2,
            "baseline_name": "identity", "better": "higher",
        }  # fmt: skip
    for r in results.values():
        r["provenance"] = {"images": len(held_a), "range": "[0, 1]", "task": "unpaired"}
    return results


def _cycle_judges(data):
    """(domain classifier A=0/B=1, digit classifier over both domains), trained once and cached."""
    from gankit.data.base import RealData
    from gankit.metrics.classifier_cache import get_classifier

    a, b = data.a.cpu(), data.b.cpu()
    domain_data = RealData(f"{data.name}-domain", torch.cat([a, b]), "images",
                           torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long(), 2)  # fmt: skip
    digit_data = RealData(f"{data.name}-digits", torch.cat([a, b]), "images",
                          torch.cat([data.info["labels_a"], data.info["labels_b"]]).long(), 10)  # fmt: skip
    return get_classifier(domain_data.name, domain_data)[0], get_classifier(digit_data.name, digit_data)[0]


def _judge(classifier, x: Tensor) -> Tensor:
    from gankit.metrics.classifier import predict_logits

    return predict_logits(classifier, x.cpu()).argmax(1).to(x.device)
