"""CTGAN (Xu et al. 2019): a conditional table synthesizer, as a family of the one training loop.

Networks: a residual generator ``G(z, cond)`` and a PacGAN critic ``D`` (gankit/tabular/model.py);
objective: WGAN-GP with training-by-sampling, or its critic under DP-SGD (gankit/tabular/game.py).
Its data is a table (``gankit train --model ctgan --data iris``, ``gankit tabular fit``); its export
is the ``TabularGAN`` directory (config.json, transformer.json, model.safetensors).
Heavy imports (pandas, the transformer) stay inside the methods.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.models.base import Family, Group, Net, Outputs, model_view, register_model


@dataclass
class CTGANOptions:
    g_dims: tuple[int, ...] = field(default=(128, 128), metadata={"help": "generator residual layer widths"})
    d_dims: tuple[int, ...] = field(default=(128, 128), metadata={"help": "critic layer widths"})
    tau: float = field(default=0.2, metadata={"help": "Gumbel-softmax temperature of one-hot columns"})
    max_modes: int = field(default=10, metadata={"help": "mixture modes per continuous column"})
    dp_epsilon: float | None = field(
        default=None, metadata={"help": "train the critic with DP-SGD to this ε"}
    )
    dp_delta: float | None = field(default=None, metadata={"help": "DP δ (default: 1 / (10 x rows))"})
    dp_max_grad_norm: float = field(default=1.0, metadata={"help": "DP-SGD per-row gradient clip"})


def default_batch(rows: int) -> int:
    """About half the table, 50..500: a small table gets two steps per epoch (CTGAN: one of 500 rows).

    A third (three steps) scored 0.00-0.03 higher on sdmetrics quality in 300 epochs but took half as
    long again; two keep the fit under half of CTGAN's time with start-up counted (docs/benchmarks.md).
    """
    return min(500, max(50, rows // 2))


def table_batch(rows: int, batch: int | None, pack: int, dp: bool) -> tuple[int, int]:
    """(pack, batch) a table trains with: DP clips per row, so a pack is one row; a pack is never
    larger than the table; the batch (default :func:`default_batch`) is a whole number of packs."""
    pack = 1 if dp else min(pack, rows)
    b = batch if batch is not None else default_batch(rows)
    return pack, max(pack, b // pack * pack)


def epoch_steps(rows: int, batch: int) -> int:
    """Steps in one pass over a table: rows / batch, rounded (at least one)."""
    return max(1, round(rows / batch))


@register_model
class CTGAN(Family):
    name = "ctgan"
    description = "CTGAN: conditional table synthesizer (WGAN-GP, PacGAN, training-by-sampling, optional DP)"
    task = "synthesize"
    Options = CTGANOptions
    data_kinds = ("table",)
    network_names = ("G", "D")

    def load_data(self, cfg: Config):
        from gankit.tabular.cli import column_list, read_table
        from gankit.tabular.datasets import TABLES
        from gankit.tabular.table import TableData, read_metadata

        if cfg.data.name == "dataframe":
            raise GankitError(
                "this run was fitted on a DataFrame from Python, which is not on disk",
                "resume it in Python: TabularGAN(...).fit(df, resume=RUN_DIR)",
            )
        frame = read_table(cfg.data.name)
        discrete = column_list(cfg.data.discrete)
        if discrete is None and cfg.data.name in TABLES and not Path(cfg.data.name).exists():
            discrete = list(TABLES.get(cfg.data.name).discrete)
        max_modes = cfg.model.options.get("max_modes", CTGANOptions.max_modes)
        metadata = read_metadata(cfg.data.metadata)
        return TableData.prepare(frame, discrete, metadata, max_modes, cfg.train.seed, cfg.data.name)

    def recipe(self, data_name: str, data) -> dict[str, Any]:
        # TabularGAN's defaults; pac 2 rather than CTGAN's 10 (docs/benchmarks.md)
        return {
            "model.latent_dim": 128, "model.pack": 2, "optim.lr_g": 5e-4, "optim.lr_d": 5e-4,
            "optim.betas_g": (0.5, 0.9), "optim.betas_d": (0.5, 0.9), "optim.n_critic": 1, "optim.ema": 0.99,
            "train.batch_size": default_batch(len(data)), "train.threads": 1, "train.channels_last": False,
            "monitor.eval_every": 0,
        }  # fmt: skip

    def resolve(self, cfg: Config, data) -> None:
        cfg.loss.name = "wgan-gp"  # the objective is CTGAN's own WGAN-GP
        cfg.model.d_norm = "none"
        dp = cfg.model.options.get("dp_epsilon") is not None
        if dp and cfg.model.options.get("dp_delta") is None:
            cfg.model.options["dp_delta"] = 1.0 / (10 * len(data))
        b = cfg.train.batch_size
        cfg.model.pack, batch = table_batch(len(data), b if isinstance(b, int) else None, cfg.model.pack, dp)
        if isinstance(b, int):  # "auto" is measured later, in packs
            cfg.train.batch_size = batch

    def validate(self, options: CTGANOptions, cfg: Config) -> list[str]:
        errors = []
        if cfg.model.conditional or cfg.model.spectral_norm or cfg.model.mbstd:
            errors.append("ctgan conditions on columns itself: drop model.conditional, spectral_norm, mbstd")
        if options.dp_epsilon is not None and options.dp_epsilon <= 0:
            errors.append(f"dp_epsilon={options.dp_epsilon} must be > 0 (e.g. --dp-epsilon 3)")
        if options.dp_delta is not None and not 0 < options.dp_delta < 1:
            errors.append(f"dp_delta={options.dp_delta} must be in (0, 1) (e.g. --dp-delta 1e-5)")
        return errors

    def steps_per_epoch(self, cfg: Config, data) -> int:
        return epoch_steps(len(data), cfg.train.batch_size)

    def groups(self, cfg: Config) -> dict[str, Group]:
        # CTGAN's optimiser settings: Adam with weight decay 1e-6
        o = cfg.optim
        return {"g": Group(o.lr_g, o.betas_g, 1e-6), "d": Group(o.lr_d, o.betas_d, 1e-6)}

    def networks(self, cfg: Config, data) -> dict[str, Net]:
        from gankit.tabular.model import Critic, Generator

        mc = network_config(cfg.model, data.shape[0], data.sampler.dim)
        return {"G": Net(Generator(mc), "g", ema=True, export=True), "D": Net(Critic(mc), "d")}

    def batches(self, cfg: Config, data, rank: int, world: int):
        return _Stateless()  # rows are drawn by condition from the global RNG, which checkpoints hold

    def objective(self, ctx):
        from gankit.tabular.game import TableGame

        return TableGame(ctx)

    def outputs(self, ctx, run_dir: Path) -> TableOutputs:
        return TableOutputs(ctx, run_dir)

    def load_model(self, directory, device: str = "cpu"):
        from gankit.tabular.synthesizer import TabularGAN

        return TabularGAN.load(directory)

    def build_export(self, meta: dict[str, Any]) -> nn.Module:
        from gankit.tabular.model import Generator, TabularModelConfig

        return Generator(TabularModelConfig(**meta["model"]))


def network_config(model, data_dim: int, cond_dim: int):
    from gankit.tabular.model import TabularModelConfig

    spec = model_view(model)
    return TabularModelConfig(
        data_dim=data_dim, cond_dim=cond_dim, latent_dim=spec.latent_dim, g_dims=tuple(spec.g_dims),
        d_dims=tuple(spec.d_dims), pac=spec.pack,
    )  # fmt: skip


def tabular_params(cfg: Config) -> dict[str, Any]:
    """A run config as ``TabularGAN``'s constructor arguments (what its config.json records)."""
    o, t, m = cfg.optim, cfg.train, cfg.model
    return {
        "epochs": t.epochs, "batch_size": t.batch_size, "latent_dim": m.latent_dim,
        "g_dims": list(m.g_dims), "d_dims": list(m.d_dims), "pac": m.pack, "lr_g": o.lr_g, "lr_d": o.lr_d,
        "d_steps": o.n_critic, "gp_weight": cfg.loss.gp_weight, "ema": o.ema or None,
        "dp_epsilon": m.dp_epsilon, "dp_delta": m.dp_delta, "dp_max_grad_norm": m.dp_max_grad_norm,
        "device": t.device, "seed": t.seed, "max_modes": m.max_modes, "threads": t.threads,
    }  # fmt: skip


class _Stateless:
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class TableOutputs(Outputs):
    """A table run's export: the generator (its EMA weights, batch-norm statistics recomputed for
    them) in the ``TabularGAN`` format. No preview grid and no evaluation during training."""

    def make_export(self) -> nn.Module:
        from gankit.training.ema import standing_stats

        ctx, t = self.ctx, self.ctx.cfg.train
        if "G" not in ctx.ema:
            net = copy.deepcopy(ctx.plain["G"])
        else:  # sample from the average, with batch-norm statistics of its own; the draws come from
            # the global RNG as training's do, restored after so exports never change the training
            net = copy.deepcopy(ctx.ema["G"])
            game, latent = ctx.objective, ctx.cfg.model.latent_dim
            devices = [ctx.device] if ctx.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                standing_stats(net, lambda i: (torch.randn(t.batch_size, latent, device=ctx.device),
                                               game.sampler_cond(t.batch_size)))  # fmt: skip
        return net.eval()

    def save(self, step: int, model_dir: Path) -> None:
        from gankit import __version__
        from gankit.tabular.rows import SAMPLER
        from gankit.tabular.synthesizer import FORMAT, FORMAT_VERSION, write_model

        cfg, data = self.ctx.cfg, self.ctx.data
        mc = network_config(cfg.model, data.shape[0], data.sampler.dim)
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "gankit_version": __version__,
            "task": "synthesize", "family": "ctgan", "params": tabular_params(cfg),
            "model": dataclasses.asdict(mc), "dp_epsilon_spent": self.ctx.objective.epsilon_spent(),
            "history": self.history(), "sampler": SAMPLER,
        }  # fmt: skip
        write_model(model_dir, config, self.export(step), data.transformer)

    def history(self) -> list[dict]:
        """stats.jsonl as one record per tick (an epoch when train.log_every is an epoch's steps)."""
        path = self.run_dir / "stats.jsonl"
        if not path.is_file():
            return []
        every = self.ctx.cfg.train.log_every
        skip = {"kimg", "img_per_s", "lr_g", "lr_d", "warnings"}
        out = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            out.append(
                {"epoch": record["step"] // every, **{k: v for k, v in record.items() if k not in skip}}
            )
        return out
