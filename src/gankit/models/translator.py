"""Families whose trained model translates: ``G(a) -> b`` (pix2pix; CycleGAN and SRGAN build on it).

:class:`TranslatorFamily` supplies what every translation family shares: paired data (built-in
tasks by name, or a user's folder), the outputs of a run — preview grids of held-out inputs,
outputs and targets; evaluation on the held-out pairs beside the task's trivial baseline
(translation/metrics.py); the exported network — and loading it back as a
:class:`~gankit.translation.translator.Translator`. A subclass declares networks, objective,
options and :meth:`build_translator`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.models.base import Family, Outputs, model_view
from gankit.training.objective import Objective, TrainContext

PREVIEW = 8  # held-out examples in a preview grid (rows of input | output | target)


class TranslatorFamily(Family):
    task = "translate"
    data_kinds = ("pairs",)
    convolutional = True
    exported = "G"  # the network the saved model is made of

    def load_data(self, cfg: Config):
        from gankit.data import DATASETS
        from gankit.data.paired import PairedData, load_paired_folder

        if cfg.data.name in DATASETS:
            data = DATASETS.get(cfg.data.name).load(cfg.data)
            if not isinstance(data, PairedData):
                raise GankitError(
                    f"dataset '{cfg.data.name}' has no input/target pairs for {self.name}",
                    "use a translation task (e.g. --data mnist-edges) or a folder with A/ and B/",
                )
            return data
        return load_paired_folder(Path(cfg.data.name), cfg.data)

    def check_data(self, data) -> str | None:
        """None if the family can learn this task, else a one-line reason with the fix."""
        return None

    def resolve(self, cfg: Config, data) -> None:
        reason = self.check_data(data)
        if reason:
            raise GankitError(f"model '{self.name}' can't learn '{data.name}': {reason}")
        cfg.model.conditional = False
        if cfg.data.flip is None:  # recorded as the task chose it
            cfg.data.flip = bool(getattr(data, "flip", False))
        if cfg.data.rotate is None:
            cfg.data.rotate = bool(getattr(data, "rotate", False))
        elif hasattr(data, "rotate"):  # every paired dataset turns its crops as the config says
            data.rotate = cfg.data.rotate
        elif cfg.data.rotate:
            raise GankitError(
                f"data.rotate: '{data.name}' is unpaired and crops without rotations", "drop data.rotate"
            )
        if cfg.model.d_norm == "auto":
            cfg.model.d_norm = "none"

    def build_translator(
        self, spec: Any, in_channels: int, out_channels: int, meta: dict[str, Any]
    ) -> nn.Module:
        raise NotImplementedError

    def outputs(self, ctx: TrainContext, run_dir: Path) -> TranslatorOutputs:
        return TranslatorOutputs(self, ctx, run_dir)

    def export_meta(self, ctx: TrainContext) -> dict[str, Any]:
        from gankit.translation.translator import FORMAT, FORMAT_VERSION

        cfg, data = ctx.cfg, ctx.data
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "task": "translate", "family": self.name,
            "model": cfg.to_dict()["model"],
            "in_channels": data.in_channels, "out_channels": data.out_channels,
            "translation": {"task": data.task, "scale": data.scale, "crop": data.crop},
            "data": {"name": cfg.data.name, "resolution": cfg.data.resolution},
            **self.network_facts(cfg),
        }  # fmt: skip

    def network_facts(self, cfg: Config) -> dict[str, int]:
        """``stride`` (input sizes the network needs, a multiple of) and ``widest`` (channels of its
        widest layer), for the translator's memory-bounded tiles."""
        return {"stride": 1, "widest": 256}

    def build_export(self, meta: dict[str, Any]) -> nn.Module:
        spec = model_view(meta["model"])
        return self.build_translator(spec, int(meta["in_channels"]), int(meta["out_channels"]), meta)

    def load_model(self, directory, device: str = "cpu"):
        from gankit.translation.translator import Translator

        return Translator.from_pretrained(directory, device)


def show_input(a: Tensor, task: str, scale: int = 1) -> Tensor:
    """A network input as an image: L as grey, an inpainting input without its mask channel (holes
    mid-grey), an SR input enlarged (nearest) to the output size."""
    if task == "inpaint":
        return a[:, :-1]
    if task == "sr" and scale > 1:
        return torch.nn.functional.interpolate(a, scale_factor=scale, mode="nearest")
    return a


def show_output(a: Tensor, b: Tensor, task: str) -> Tensor:
    """A network output (or target) as an image: colourisation's ab over its input's L."""
    if task == "colorize":
        from gankit.translation.color import l_ab_to_image

        return l_ab_to_image(a, b)
    return b


class TranslatorOutputs(Outputs):
    """Preview grids and evaluation on the held-out pairs, and the exported translator."""

    def __init__(self, family: TranslatorFamily, ctx: TrainContext, run_dir: Path):
        super().__init__(ctx, run_dir)
        self.family, self.data = family, ctx.data
        a, b = ctx.data.holdout
        self.held = (a.to(ctx.device), b.to(ctx.device))
        self.meta = family.export_meta(ctx)

    def _rows(self, out: Tensor) -> Tensor:
        """Rows of (input, output, target), as images with the same channels."""
        d, a, b = self.data, self.held[0][:PREVIEW], self.held[1][:PREVIEW]
        images = [show_input(a, d.task, d.scale), show_output(a, out, d.task), show_output(a, b, d.task)]
        c = max(x.shape[1] for x in images)
        return torch.stack([x.expand(-1, c, -1, -1) for x in images], 1).flatten(0, 1)

    def start(self) -> None:
        from gankit.visual import save_samples_png

        a, b = self.held
        save_samples_png(show_output(a[:64], b[:64], self.data.task), self.run_dir / "reals.png")

    def make_export(self) -> nn.Module:
        name = self.family.exported
        return copy.deepcopy(self.ctx.ema.get(name, self.ctx.plain[name])).eval()

    def save(self, step: int, model_dir: Path) -> None:
        from gankit.pretrained import save_pretrained

        save_pretrained(model_dir, self.export(step), self.meta)

    @torch.no_grad()
    def preview(self, step: int) -> None:
        from gankit.visual import save_samples_png

        out = self.export(step)(self.held[0][:PREVIEW])
        save_samples_png(self._rows(out), self.run_dir / f"fakes_{step:06d}.png", nrow=3)
        return None

    def evaluate(self, step: int):
        from gankit.translation.metrics import evaluate_pairs, flat

        net, d = self.export(step), self.data
        results = evaluate_pairs(net, *self.held, d.task, d.scale)
        return results, flat(results), None


class PairedObjective(Objective):
    """What pix2pix's and SRGAN's games share: this repeat's (input, target) batch — crops, flips
    and derived inputs drawn from the run's RNG — and ``G(input)``, whose forward graph the D phase
    keeps for the G phase (G's weights have not changed in between), which then sees D's pair."""

    def __init__(self, ctx: TrainContext):
        from gankit.losses import LOSSES

        super().__init__(ctx)
        self.loss = LOSSES.get(ctx.cfg.loss.name)
        self.probabilistic = self.loss.probabilistic
        self._pair: tuple[Tensor, Tensor] | None = None
        self._fake: Tensor | None = None

    def new_repeat(self) -> None:
        if self._fake is None:  # a G phase that reuses D's forward pass keeps D's pair with it
            self._pair = None

    def pair(self) -> tuple[Tensor, Tensor]:
        if self._pair is None:
            a, b = self.ctx.data.batch(self.ctx.batches.next(), self.local_rng)
            if self.ctx.channels_last:
                a, b = (t.contiguous(memory_format=torch.channels_last) for t in (a, b))
            self._pair = (a, b)
        return self._pair

    def report_scores(self, real_out: Tensor, fake_out: Tensor) -> None:
        """D's verdicts as probabilities, for the monitor (a loss without them reports none)."""
        if self.loss.probabilistic:
            self.stats.report("D(x)", torch.sigmoid(real_out))
            self.stats.report("D(G(z))", torch.sigmoid(fake_out))

    def fake(self, for_generator: bool = False) -> Tensor:
        """G(input). D gets it detached; with ``keep_graph`` the graph is kept for the G phase."""
        if for_generator and self._fake is not None:
            fake, self._fake = self._fake, None
            return fake
        a, _ = self.pair()
        if for_generator:
            return self.ctx.nets["G"](a)
        if self.ctx.keep_graph:
            self._fake = self.ctx.nets["G"](a)
            return self._fake.detach()
        with torch.no_grad():
            return self.ctx.nets["G"](a)
