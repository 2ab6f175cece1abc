"""Colour spaces in torch: sRGB <-> CIE Lab (D65), differentiable and on any device.

Colourisation predicts Lab's ab channels from L (Zhang et al. 2016; pix2pix's colorization task), so
the lightness of the input is kept exactly and the network only chooses colours. Tensors are
(N, 3, H, W): RGB in [0, 1]; L in [0, 100], a and b in about [-110, 110].
"""

from __future__ import annotations

import torch
from torch import Tensor

_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])  # D65
_DELTA = 6 / 29
AB_SCALE = 110.0  # ab / AB_SCALE is about [-1, 1], the network's range


def _apply(matrix: Tensor, x: Tensor) -> Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    rgb = rgb.clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = _apply(_RGB_TO_XYZ, linear) / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    L, a, b = lab[:, 0:1], lab[:, 1:2], lab[:, 2:3]
    fy = (L + 16) / 116
    f = torch.cat([fy + a / 500, fy, fy - b / 200], 1)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * _WHITE.to(lab).view(1, 3, 1, 1)
    linear = _apply(torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)
    rgb = torch.where(
        linear <= 0.0031308, 12.92 * linear, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055
    )
    return rgb.clamp(0, 1)


# --- the network's ranges: images in [-1, 1], L and ab scaled to about [-1, 1] ----------------------
def image_to_l_ab(x: Tensor) -> tuple[Tensor, Tensor]:
    """An RGB image in [-1, 1] as (L in [-1, 1], ab / AB_SCALE); a 1-channel image is its own L."""
    if x.shape[1] == 1:
        return x, torch.zeros_like(x).expand(-1, 2, -1, -1)
    lab = rgb_to_lab((x + 1) / 2)
    return lab[:, :1] / 50 - 1, lab[:, 1:] / AB_SCALE


def l_ab_to_image(l: Tensor, ab: Tensor) -> Tensor:  # noqa: E741
    """(L in [-1, 1], ab / AB_SCALE) -> an RGB image in [-1, 1]."""
    lab = torch.cat([(l + 1) * 50, ab * AB_SCALE], 1)
    return lab_to_rgb(lab) * 2 - 1


def gray(x: Tensor) -> Tensor:
    """Luma (ITU-R BT.601) of an RGB image in [-1, 1], as one channel (a 1-channel image as it is)."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)
