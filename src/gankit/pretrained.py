"""Shareable trained generators: ``config.json`` + ``model.safetensors``, loaded with no pickle.

:class:`GAN` is what ``gankit.load(dir)`` returns: a generator rebuilt from its config, with
seeded, deterministic sampling in data space.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import Tensor, nn

from gankit import durable
from gankit.errors import GankitError
from gankit.latent import balanced_labels, check_truncation, sample_latent

FORMAT = "gankit-generator"
FORMAT_VERSION = 2  # 2: config.json names its task; a version-1 file (no task) is a generator


def save_pretrained(directory: Path, generator: nn.Module, meta: dict[str, Any]) -> None:
    """``meta`` holds model (the model config section), shape, kind, num_classes, data info."""
    directory.mkdir(parents=True, exist_ok=True)
    from gankit import __version__

    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "gankit_version": __version__, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    durable.write_bytes(directory / "model.safetensors", save(tensors))  # each file lands whole
    durable.write_text(directory / "config.json", json.dumps(config, indent=2))


def build_generator(meta: dict[str, Any]) -> nn.Module:
    """The exported network rebuilt by its family from ``config.json`` (weights not loaded). A field
    added after the model was saved takes its default, i.e. the architecture it was built with."""
    from gankit.models.base import family_of

    return family_of(meta["model"]).build_export(meta)


def read_config(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GankitError(f"{directory / 'config.json'} is not valid JSON", "re-export the model") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model", {}), dict):
        raise GankitError(f"{directory / 'config.json'} is not a model's config", "re-export the model")
    return meta


def find_model_dir(path: str | Path) -> Path:
    """Accept a model directory, or a run directory holding ``model/``."""
    p = Path(path)
    if not p.exists():
        raise GankitError(f"not found: {p}", "pass a run directory (runs/NNNNN-...) or a model directory")
    # a run's model/ mid-swap (a crash between two renames) is read from the previous export
    for candidate in (p, durable.readable_dir(p / "model")):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    raise GankitError(
        f"{p} holds no trained model (config.json + model.safetensors)",
        "train first, or pass the run directory that `gankit train` printed",
    )


def task_of(meta: dict[str, Any]) -> str:
    """What a saved model does: ``generate``, ``translate`` or ``synthesize`` (files written before
    exports named their task: tabular models synthesize, every other one generates)."""
    if "task" in meta:
        return meta["task"]
    return "synthesize" if meta.get("format") == "gankit-tabular" else "generate"


def family_of_export(meta: dict[str, Any]):
    """The family that wrote an export (tabular models of 0.1 name none: they are ctgan's)."""
    from gankit.models import MODELS

    name = meta.get("family") or (
        "ctgan" if meta.get("format") == "gankit-tabular" else meta["model"]["name"]
    )
    return MODELS.get(name)


def _use_for(meta: dict[str, Any]) -> str:
    task = task_of(meta)
    if task == "synthesize":
        return "it synthesizes table rows: use `gankit tabular sample`"
    if task == "translate":
        return "it translates inputs: use `gankit translate`"
    return "re-export the model"


class GAN:
    """A trained generator ready to sample: ``GAN.from_pretrained(dir).sample(16, seed=0)``."""

    def __init__(self, generator: nn.Module, meta: dict[str, Any], device: str | torch.device = "cpu"):
        self.generator = generator.to(device).eval()
        self.meta = meta
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> GAN:
        directory = find_model_dir(path)
        meta = read_config(directory)
        if task_of(meta) != "generate":
            raise GankitError(f"{directory} holds a model that does not generate from noise", _use_for(meta))
        if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
            raise GankitError(
                f"{directory} was not written by this gankit version's format",
                "upgrade gankit or re-export the model",
            )
        try:
            generator = build_generator(meta)
            state = load_file(directory / "model.safetensors")
            generator.load_state_dict(state)
        except GankitError:
            raise
        except Exception as e:
            raise GankitError(
                f"{directory / 'model.safetensors'} does not fit its config.json ({type(e).__name__})",
                "the files belong to different models; re-export them together",
            ) from None
        return cls(generator, meta, device)

    @property
    def num_classes(self) -> int:
        return self.meta["num_classes"] if self.meta["model"]["conditional"] else 0

    def save_pretrained(self, directory: str | Path) -> None:
        save_pretrained(Path(directory), self.generator, self.meta)

    @property
    def truncation_space(self) -> str:
        """``"w"`` when the export truncates around a tracked mean w (its generator takes
        ``truncation=psi``, and has ``mapping(z, y, truncation)`` and ``synthesis(ws)``), else ``"z"``."""
        return self.meta.get("truncation", "z")

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        seed: int | None = 0,
        labels: Tensor | list[int] | int | None = None,
        truncation: float | None = None,
        batch_size: int = 1000,
        return_labels: bool = False,
        raw: bool = False,
    ):
        """``n`` samples in data space: images as (N, C, H, W) in [0, 1], points as (N, D).

        Deterministic for a seed on a platform: latents are drawn on the CPU from a local generator.
        Conditional models take ``labels`` (one int, or one per sample); without them the classes come
        in near-equal shares. ``raw=True`` returns the generator's own range ([-1, 1] for images).
        """
        g = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
        # a generator that truncates in w (its export says so) takes psi itself; z stays plain
        in_w = self.truncation_space == "w"
        check_truncation(truncation, self.truncation_space)
        z_psi = None if in_w else truncation
        z = sample_latent(
            n, self.meta["model"]["latent_dim"], self.meta["model"]["prior"], g, truncation=z_psi
        )
        y = self._labels(n, labels, g)
        w_psi = {"truncation": truncation} if in_w and truncation is not None else {}
        chunks = []
        for i in range(0, n, batch_size):
            zi = z[i : i + batch_size].to(self.device)
            yi = y[i : i + batch_size].to(self.device) if y is not None else None
            chunks.append(self.generator(zi, yi, **w_psi).float().cpu())
        x = torch.cat(chunks) if chunks else torch.empty(0, *self.meta["shape"])
        if self.meta["kind"] == "images" and not raw:
            x = ((x + 1) / 2).clamp(0, 1)
        return (x, y) if return_labels else x

    def _labels(self, n: int, labels, g: torch.Generator) -> Tensor | None:
        k = self.num_classes
        if not k:
            if labels is not None:
                raise GankitError("this model is not conditional, so it takes no labels", "drop --labels")
            return None
        if labels is None:
            return balanced_labels(n, k, g)
        y = torch.as_tensor(labels, dtype=torch.int64).flatten()
        if len(y) == 1:
            y = y.expand(n).clone()
        elif len(y) != n:  # a list shorter than n is cycled: --labels 3,7 alternates
            y = y.repeat((n + len(y) - 1) // len(y))[:n]
        if (y < 0).any() or (y >= k).any():
            raise GankitError(f"labels must be in 0..{k - 1}", f"this model has {k} classes")
        return y
