"""A trained translator: ``gankit.load(run).translate(image)`` on images of any size, in evaluation mode.

The network always runs in evaluation mode (dropout off, batch-norm running statistics; instance
norm is the same either way), so the same input gives the same output, and exports match. Large
images go through overlapping tiles whose outputs are blended with a linear ramp, so seams don't
show; the tile size bounds memory. What the task wraps around the network lives here too:
colourisation keeps the input's lightness (L -> ab), inpainting returns the pixels outside the
mask unchanged, super-resolution outputs ``scale`` times the input size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

FORMAT = "gankit-translator"
FORMAT_VERSION = 1
TILE_MEMORY = 2**30  # bytes of activations one tile may take (about: see default_tile)


class Translator:
    """``translate(x, mask=None)``: (N, C, H, W) or (C, H, W) in [-1, 1] -> the translated images."""

    def __init__(
        self,
        network: nn.Module,
        meta: dict[str, Any],
        device: str | torch.device = "cpu",
        direction: str = "AtoB",
    ):
        self.in_channels, self.out_channels = int(meta["in_channels"]), int(meta["out_channels"])
        if isinstance(network, nn.ModuleDict):  # both directions (CycleGAN): pick one
            network = network[direction]
            if direction == "BtoA":
                self.in_channels, self.out_channels = self.out_channels, self.in_channels
        # channels-last: oneDNN's convolutions run 2-4x faster on it on a CPU (SRResNet x4, one
        # thread: 0.49 vs 1.40 s for a 64x64 input; its 9x9 output conv most), outputs equal to rounding
        self.network = network.to(device).to(memory_format=torch.channels_last).eval()
        self.meta, self.device, self.direction = meta, torch.device(device), direction
        t = meta["translation"]
        self.task, self.scale = t["task"], int(t.get("scale", 1))

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str | torch.device = "cpu", direction: str = "AtoB"
    ) -> Translator:
        from safetensors.torch import load_file

        from gankit.pretrained import family_of_export, find_model_dir, read_config

        directory = find_model_dir(path)
        meta = read_config(directory)
        if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
            raise GankitError(f"{directory} does not hold a translator this gankit can read", "re-export it")
        try:
            network = family_of_export(meta).build_export(meta)
            network.load_state_dict(load_file(directory / "model.safetensors"))
        except GankitError:
            raise
        except Exception as e:
            raise GankitError(
                f"{directory / 'model.safetensors'} does not fit its config.json ({type(e).__name__})",
                "re-export the model, or restore both files from the same run",
            ) from None
        return cls(network, meta, device, direction)

    @property
    def image_channels(self) -> int:
        """Channels of the images the task reads (colourisation reads RGB or grey, keeps L)."""
        return {"colorize": 3, "inpaint": self.out_channels}.get(self.task, self.in_channels)

    @torch.no_grad()
    def translate(self, x: Tensor, mask: Tensor | None = None, tile: int | None = None) -> Tensor:
        single = x.dim() == 3
        x = (x[None] if single else x).to(self.device, torch.float32)
        if mask is not None:
            mask = (mask[None] if mask.dim() == 3 else mask).to(self.device, torch.float32)
        out = self._task(x, mask, tile)
        return out[0] if single else out

    def _task(self, x: Tensor, mask: Tensor | None, tile: int | None) -> Tensor:
        run = lambda inp: self.apply(inp, tile)  # noqa: E731
        if self.task == "colorize":
            from gankit.translation.color import image_to_l_ab, l_ab_to_image

            light, _ = image_to_l_ab(x)
            return l_ab_to_image(light, run(light).clamp(-1, 1))
        if self.task == "inpaint":
            from gankit.translation.masks import composite, masked_input

            if mask is None:
                raise GankitError(
                    "inpainting needs a mask", "pass --mask MASK.png (non-zero where pixels are missing)"
                )
            mask = (mask > 0).float()
            return composite(x, run(masked_input(x, mask)), mask)
        if x.shape[1] != self.in_channels:
            x = _channels(x, self.in_channels)
        return run(x)

    def apply(self, x: Tensor, tile: int | None = None) -> Tensor:
        """The network over overlapping tiles of at most ``tile`` input pixels a side, blended."""
        tile = tile or default_tile(self.meta)
        h, w = x.shape[-2:]
        x = x.contiguous(memory_format=torch.channels_last)
        if h <= tile and w <= tile:
            return self.network(x).contiguous()
        overlap = max(8, tile // 8)
        s = self.scale
        out = torch.zeros(x.shape[0], self.out_channels, h * s, w * s, device=x.device)
        weight = torch.zeros(1, 1, h * s, w * s, device=x.device)
        for top in _starts(h, tile, overlap):
            for left in _starts(w, tile, overlap):
                piece = x[..., top : top + tile, left : left + tile]
                y = self.network(piece.contiguous(memory_format=torch.channels_last))
                ramp = _ramp(y.shape[-2], overlap * s, top > 0, top + tile < h, x.device)[:, None]
                ramp = ramp * _ramp(y.shape[-1], overlap * s, left > 0, left + tile < w, x.device)[None]
                region = (..., slice(top * s, top * s + y.shape[-2]), slice(left * s, left * s + y.shape[-1]))
                out[region] += y * ramp
                weight[region] += ramp
        return out / weight


def default_tile(meta: dict[str, Any]) -> int:
    """The largest tile whose activations fit TILE_MEMORY: about 16 bytes per output pixel and
    channel of the widest layer (several tensors alive at once), rounded to the network's stride."""
    widest = int(meta.get("widest", 512))
    scale = int(meta["translation"].get("scale", 1))
    side = math.sqrt(TILE_MEMORY / (16 * widest * scale * scale))
    stride = int(meta.get("stride", 1))
    return max(stride, int(side) // stride * stride)


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    if n <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, n - tile, step))
    return [*starts, n - tile]


def _ramp(n: int, overlap: int, fade_in: bool, fade_out: bool, device) -> Tensor:
    """Weights along one side of a tile: rising over the overlap where a neighbour precedes it,
    falling where one follows, so blended neighbours sum to a smooth transition."""
    r = torch.ones(n, device=device)
    k = min(overlap, n // 2)
    edge = (torch.arange(k, device=device, dtype=torch.float32) + 0.5) / k
    if fade_in:
        r[:k] = edge
    if fade_out:
        r[n - k :] = edge.flip(0)
    return r


def _channels(x: Tensor, c: int) -> Tensor:
    if c == 1:
        from gankit.translation.color import gray

        return gray(x)
    if x.shape[1] == 1:
        return x.expand(-1, c, -1, -1)
    raise GankitError(f"the model takes {c}-channel images, got {x.shape[1]}", "pass RGB or greyscale images")
