"""Families whose trained model generates: ``G(z, y) -> x`` judged by ``D(x, y)``.

:class:`GeneratorFamily` declares the two networks (with the shared init and D stabilisers), the
standard game (models/adversarial.py), and the outputs of a run: the real and fixed-latent grids,
evaluation during training, and the exported generator (EMA weights, standing batch-norm statistics).
A subclass supplies the two network builders, its options and its recipes (models/mlp.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.config import Config
from gankit.latent import balanced_labels, sample_latent
from gankit.models.adversarial import Game
from gankit.models.base import Family, FlatOptions, Net, Outputs, model_view
from gankit.nn.init import init_weights
from gankit.nn.stabilisers import apply_spectral_norm
from gankit.training.objective import TrainContext

GRID_SIZE = 64


class GeneratorFamily(Family):
    task = "generate"
    network_names = ("G", "D")

    def build_generator(self, spec: Any, shape: tuple[int, ...], num_classes: int) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(
        self, spec: Any, shape: tuple[int, ...], num_classes: int, norm: str
    ) -> nn.Module:
        raise NotImplementedError

    def resolve(self, cfg: Config, data: Any) -> None:
        if cfg.model.d_norm == "auto":
            cfg.model.d_norm = "none"

    def networks(self, cfg: Config, data: Any) -> dict[str, Net]:
        spec = model_view(cfg.model)
        k = data.num_classes if cfg.model.conditional else 0
        g = init_weights(self.build_generator(spec, data.shape, k), cfg.model.init)
        d = init_weights(self.build_discriminator(spec, data.shape, k, cfg.model.d_norm), cfg.model.init)
        if cfg.model.spectral_norm:
            apply_spectral_norm(d)  # after init: it reparametrises the initialised weights
        return {"G": Net(g, "g", ema=True, export=True), "D": Net(d, "d")}

    def objective(self, ctx: TrainContext) -> Game:
        return Game(ctx)

    def outputs(self, ctx: TrainContext, run_dir: Path) -> GeneratorOutputs:
        return GeneratorOutputs(self, ctx, run_dir)

    def sampling_network(self, ctx: TrainContext) -> nn.Module:
        """What samples ``x = net(z, y)`` now: G's EMA when on, else G (exports copy it)."""
        return ctx.ema.get("G", ctx.plain["G"])

    def export_meta(self, ctx: TrainContext) -> dict[str, Any]:
        """config.json of the export (besides the format): what :meth:`build_export` reads."""
        return {**model_meta(ctx.cfg, ctx.data), "stage": ctx.stage}

    def build_export(self, meta: dict[str, Any]) -> nn.Module:
        spec = model_view(meta["model"])
        k = meta["num_classes"] if spec.conditional else 0
        return self.build_generator(spec, tuple(meta["shape"]), k)


def model_meta(cfg: Config, data: Any) -> dict[str, Any]:
    """What an exported generator's config.json says besides the format: model, data, task."""
    info = {k: v for k, v in data.info.items() if k in ("centres", "std", "class_names")}
    return {
        "task": "generate",
        "model": cfg.to_dict()["model"],
        "shape": list(data.shape),
        "kind": data.kind,
        "num_classes": data.num_classes,
        "data": {"name": cfg.data.name, "resolution": cfg.data.resolution, **info},
    }


class GeneratorOutputs(Outputs):
    """Grids, evaluation and exports of a generator run."""

    def __init__(self, family: GeneratorFamily, ctx: TrainContext, run_dir: Path):
        from gankit.training.monitors import mean_pairwise_distance

        super().__init__(ctx, run_dir)
        cfg, data, device = ctx.cfg, ctx.data, ctx.device
        self.family, self.cfg, self.data = family, cfg, data
        self.meta = family.export_meta(ctx)
        first = data.batch(torch.arange(min(len(data), 256), device=device))[0]
        self.real_diversity = mean_pairwise_distance(first)
        k = data.num_classes if cfg.model.conditional else 0
        self.rows = k if 0 < k <= 16 else None  # whole rows of 0..k-1
        n_grid = k * max(1, round(GRID_SIZE / k)) if self.rows else GRID_SIZE
        g = torch.Generator().manual_seed(cfg.train.seed + 3)
        self.grid_z = sample_latent(n_grid, cfg.model.latent_dim, cfg.model.prior, g, device)
        self.grid_y = (torch.arange(n_grid) % k).to(device) if k else None
        self.evaluator = None
        if cfg.monitor.eval_every and ctx.rank == 0:
            from gankit.training.evaluation import TrainingEvaluator

            self.evaluator = TrainingEvaluator(cfg, data, self.meta, run_dir)

    def start(self) -> None:
        from gankit.visual import save_samples_png

        save_samples_png(
            self.data.all_x[:GRID_SIZE], self.run_dir / "reals.png", self.data.info.get("centres")
        )

    def make_export(self) -> nn.Module:
        """A frozen copy of the sampling generator (EMA when on), BN stats recomputed for its weights."""
        from gankit.training.ema import standing_stats

        cfg, device = self.cfg, self.ctx.device
        g = torch.Generator().manual_seed(cfg.train.seed + 2)
        n = max(cfg.train.batch_size, 256)

        def make_input(i: int):
            z = sample_latent(n, cfg.model.latent_dim, cfg.model.prior, g, device)
            y = balanced_labels(n, self.data.num_classes, g).to(device) if cfg.model.conditional else None
            return z, y

        source = self.family.sampling_network(self.ctx)
        # 16 batches for the final export, 4 for previews, evaluations and checkpoints along the way:
        # 1,024 samples pin the statistics to well under 1% of their spread, at a quarter of the cost
        return standing_stats(copy.deepcopy(source), make_input, batches=16 if self.final else 4)

    def save(self, step: int, model_dir: Path) -> None:
        from gankit.pretrained import save_pretrained

        self.meta = self.family.export_meta(self.ctx)  # a stage may have changed the architecture
        save_pretrained(model_dir, self.export(step), self.meta)

    def preview(self, step: int) -> float:
        """Write the fixed-latent grid; returns its diversity relative to the real data's."""
        from gankit.training.monitors import mean_pairwise_distance
        from gankit.visual import save_samples_png

        with torch.no_grad():
            x = self.export(step)(self.grid_z, self.grid_y)
        path = self.run_dir / f"fakes_{step:06d}.png"
        save_samples_png(x, path, self.data.info.get("centres"), nrow=self.rows)
        return mean_pairwise_distance(x) / max(self.real_diversity, 1e-12)

    def evaluate(self, step: int):
        """(results, stat values, best-model event or None), or None when evaluation is off."""
        if self.evaluator is None:
            return None
        self.evaluator.ctx.meta.update(self.family.export_meta(self.ctx))  # for best/
        results, values = self.evaluator(self.export(step), self.ctx.device)
        return results, values, self.evaluator.keep_if_best(results, self.export(step), step)


class ModelFamily(GeneratorFamily):
    """gankit 0.1's way to register a family: two builders in one object, e.g.
    ``register_model(ModelFamily(name="tiny", description=..., build_generator=lambda cfg, shape, k: ...,
    build_discriminator=lambda cfg, shape, k, norm: ...))``. The builders read ``cfg.width`` etc. from
    the shared options and the flat options of 0.1 (:class:`FlatOptions`)."""

    Options = FlatOptions

    def __init__(self, name: str, description: str, build_generator, build_discriminator, check_shape=None):
        self.name, self.description = name, description
        self._g, self._d, self._check = build_generator, build_discriminator, check_shape

    def check_shape(self, shape):
        return self._check(shape) if self._check is not None else None

    def build_generator(self, spec, shape, num_classes):
        return self._g(spec, shape, num_classes)

    def build_discriminator(self, spec, shape, num_classes, norm):
        return self._d(spec, shape, num_classes, norm)
