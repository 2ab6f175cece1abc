"""``TabularGAN``: fit a table, sample a table — CTGAN's recipe (Xu et al. 2019) with missing values,
conditions on several columns, differential privacy and pickle-free saving."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from gankit import durable
from gankit.errors import GankitError
from gankit.tabular.model import Generator, TabularModelConfig
from gankit.tabular.rows import FORMAT, FORMAT_VERSION, SAMPLER, RowSampler, bad_weights, read_model_dir
from gankit.tabular.transformer import DataTransformer

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one record per epoch
    seconds: float = 0.0
    dp_epsilon: float | None = None


class TabularGAN:
    """A conditional tabular GAN (CTGAN, Xu et al. 2019) with a scikit-learn-style API.

    ``TabularGAN(epochs=300).fit(df, discrete_columns=["sex"])``, then ``.sample(1000, seed=0,
    conditions={"sex": "F"})``, ``.save(dir)`` and ``TabularGAN.load(dir)``.

    ``batch_size=None`` picks about half the table (a multiple of ``pac``, 50..500), so a small
    table gets two steps per epoch rather than CTGAN's one. ``pac=2`` rather than CTGAN's 10: with
    10 rows per pack a batch of 50 gives the critic only 5 judgements per step; measured at 300 epochs,
    3 seeds, pac 2 raised sdmetrics quality on every bundled table (iris 0.71 -> 0.85, wine 0.74 ->
    0.86, autompg 0.79 -> 0.88, breast-cancer 0.80 -> 0.86; docs/benchmarks.md). ``dp_epsilon`` trains
    the critic with DP-SGD (see :mod:`gankit.tabular.dp`); ``fit`` then sets ``dp_epsilon_spent``.
    """

    def __init__(
        self,
        epochs: int = 300,
        batch_size: int | None = None,
        latent_dim: int = 128,
        g_dims: tuple[int, ...] = (128, 128),
        d_dims: tuple[int, ...] = (128, 128),
        pac: int = 2,
        lr_g: float = 5e-4,
        lr_d: float = 5e-4,
        d_steps: int = 1,
        gp_weight: float = 10.0,
        ema: float | None = 0.99,
        max_modes: int = 10,
        threads: int | None = 1,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        dp_max_grad_norm: float = 1.0,
        device: str = "auto",
        seed: int = 0,
    ):
        self.epochs, self.batch_size, self.latent_dim = epochs, batch_size, latent_dim
        self.g_dims, self.d_dims, self.pac = tuple(g_dims), tuple(d_dims), pac
        self.lr_g, self.lr_d, self.d_steps, self.gp_weight, self.ema = lr_g, lr_d, d_steps, gp_weight, ema
        self.dp_epsilon, self.dp_delta, self.dp_max_grad_norm = dp_epsilon, dp_delta, dp_max_grad_norm
        self.device, self.seed, self.max_modes, self.threads = device, seed, max_modes, threads
        self.transformer: DataTransformer | None = None
        self.generator: Generator | None = None
        self.model_config: TabularModelConfig | None = None
        self.result: TrainResult | None = None
        self.dp_epsilon_spent: float | None = None
        self.run_dir: Path | None = None
        self.sampler = SAMPLER  # what a fit's export samples with ("torch": exports from before it)

    def params(self) -> dict[str, Any]:
        keys = ["epochs", "batch_size", "latent_dim", "g_dims", "d_dims", "pac", "lr_g", "lr_d", "d_steps"]
        keys += ["gp_weight", "ema"]
        keys += ["dp_epsilon", "dp_delta", "dp_max_grad_norm", "device", "seed", "max_modes", "threads"]
        return {k: getattr(self, k) for k in keys}

    # ---- fit -------------------------------------------------------------------------------------
    def fit(
        self,
        data,
        discrete_columns: list[str] | None = None,
        metadata: dict | None = None,
        on_epoch=None,
        *,
        out: str | Path | None = None,
        resume: str | Path | None = None,
        name: str = "dataframe",
        metadata_path: str | None = None,
        progress: bool = False,
    ) -> TabularGAN:
        """Learn the table ``data`` (a pandas DataFrame); returns ``self``.

        Training runs in gankit's training loop: with ``out`` it writes a run directory there
        (config.yaml, stats.jsonl, checkpoints/, model/); ``resume=DIR`` continues such a run
        exactly. Without either, the run lives in a temporary directory.
        """
        import tempfile

        from gankit.api import train
        from gankit.tabular.table import TableData

        self._check_params()
        table = TableData.prepare(data, discrete_columns, metadata, self.max_modes, self.seed, name)
        config = self.config(table, metadata_path or metadata)
        # a tick per epoch (config.train.log_every), so each record is an epoch's
        callbacks = [_epoch_callback(on_epoch, config.train.log_every)] if on_epoch is not None else None
        with tempfile.TemporaryDirectory(prefix="gankit-tabular-") as tmp:
            target = out if (out is not None or resume is not None) else Path(tmp) / "run"
            kwargs = {"resume": resume} if resume is not None else {"config": config}
            run = train(out=None if resume else target, real_data=table, progress=progress,
                        callbacks=callbacks, **kwargs)  # fmt: skip
            self.run_dir = run.run_dir if (out is not None or resume is not None) else None
            self._take(TabularGAN.load(run.run_dir / "model"))
        self.result.seconds = float(run.last_stats.get("time_s", 0.0))
        return self

    @classmethod
    def resume(cls, run_dir: str | Path, epochs: int | None = None, progress: bool = False) -> TabularGAN:
        """Continue a run directory of ``gankit tabular fit`` exactly (``epochs`` trains it further)."""
        from gankit.api import train

        overrides = [f"train.epochs={epochs}"] if epochs is not None else []
        run = train(resume=run_dir, overrides=overrides, progress=progress)
        gan = cls.load(run.run_dir / "model")
        gan.run_dir = run.run_dir
        gan.result.seconds = float(run.last_stats.get("time_s", 0.0))
        return gan

    def config(self, table, metadata: dict | str | None = None):
        """This synthesizer's settings as a run config of the ctgan family."""
        from gankit.config import Config
        from gankit.models.ctgan import epoch_steps, table_batch
        from gankit.training.setup import pick_device

        cfg = Config()
        cfg.data.name = table.name
        discrete = [c.name for c in table.transformer.columns if c.discrete]
        cfg.data.discrete = ",".join(discrete) or None
        cfg.data.metadata = json.dumps(metadata) if isinstance(metadata, dict) else metadata
        cfg.model.name, cfg.model.latent_dim = "ctgan", self.latent_dim
        cfg.model.pack = self.pac
        cfg.model.options = {
            "g_dims": list(self.g_dims), "d_dims": list(self.d_dims), "max_modes": self.max_modes,
            "dp_epsilon": self.dp_epsilon, "dp_delta": self.dp_delta,
            "dp_max_grad_norm": self.dp_max_grad_norm,
        }  # fmt: skip
        cfg.loss.name, cfg.loss.gp_weight = "wgan-gp", self.gp_weight
        o = cfg.optim
        o.optimizer, o.lr_g, o.lr_d, o.n_critic = "adam", self.lr_g, self.lr_d, self.d_steps
        o.betas_g = o.betas_d = (0.5, 0.9)
        o.ema, o.schedule = self.ema or 0.0, "constant"
        t = cfg.train
        _, t.batch_size = table_batch(len(table), self.batch_size, self.pac, self.dp_epsilon is not None)
        t.epochs, t.seed, t.device = self.epochs, self.seed, self.device
        t.log_every = epoch_steps(len(table), t.batch_size)  # a tick per epoch
        t.threads = self.threads if pick_device(self.device).type == "cpu" else None
        cfg.monitor.eval_every = 0
        return cfg

    def _take(self, other: TabularGAN) -> None:
        self.transformer, self.generator, self.model_config = (
            other.transformer,
            other.generator,
            other.model_config,
        )
        self.result, self.dp_epsilon_spent = other.result, other.dp_epsilon_spent
        self.sampler = other.sampler
        if other.dp_delta is not None:
            self.dp_delta = other.dp_delta

    def _check_params(self) -> None:
        if self.epochs < 1:
            raise GankitError(f"epochs={self.epochs} trains nothing", "use epochs=1 or more")
        if self.dp_epsilon is not None and self.dp_epsilon <= 0:
            raise GankitError(f"dp_epsilon={self.dp_epsilon} must be > 0", "e.g. --dp-epsilon 3")
        if self.dp_delta is not None and not 0 < self.dp_delta < 1:
            raise GankitError(f"dp_delta={self.dp_delta} must be in (0, 1)", "e.g. --dp-delta 1e-5")

    # ---- sample ----------------------------------------------------------------------------------
    def sample(self, n: int, conditions: dict | None = None, seed: int | None = 0, batch_size: int = 2000):
        """``n`` synthetic rows as a DataFrame; deterministic for a ``seed``.

        ``conditions`` fixes columns to values: one discrete column goes into the generator's condition
        vector, and every condition is then enforced by rejection sampling. Runs in numpy
        (:mod:`gankit.tabular.rows`), as ``gankit tabular sample`` does.
        """
        if self.generator is None or self.transformer is None:
            raise GankitError("this TabularGAN is not fitted", "call fit(df) or TabularGAN.load(dir) first")
        if self.sampler == SAMPLER:
            weights = {k: v.detach().cpu().numpy() for k, v in self.generator.state_dict().items()}
            rows = RowSampler(self.transformer, weights, self.latent_dim)
        else:
            rows = TorchRowSampler(self.transformer, self.generator.eval(), self.latent_dim)
        return rows.sample(n, conditions, seed, batch_size)

    # ---- save / load -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """``config.json`` (settings, model config), ``transformer.json`` and ``model.safetensors``."""
        if self.generator is None:
            raise GankitError("this TabularGAN is not fitted", "call fit(df) before save")
        from gankit import __version__

        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "gankit_version": __version__,
            "task": "synthesize", "family": "ctgan", "params": self.params(),
            "model": asdict(self.model_config), "dp_epsilon_spent": self.dp_epsilon_spent,
            "history": self.result.history if self.result else [], "sampler": self.sampler,
        }  # fmt: skip
        return write_model(Path(directory), config, self.generator, self.transformer)

    @classmethod
    def load(cls, directory: str | Path) -> TabularGAN:
        """A saved model directory, or a run directory holding one in ``model/``."""
        return cls.from_model_dir(*read_model_dir(directory))

    @classmethod
    def from_model_dir(cls, config: dict, transformer, weights: dict, d: Path) -> TabularGAN:
        """What :func:`~gankit.tabular.rows.read_model_dir` read, as a ``TabularGAN``."""
        params = config["params"]
        gan = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        model = config["model"]
        gan.model_config = TabularModelConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in model.items()}
        )
        gan.transformer = transformer
        gan.generator = Generator(gan.model_config)
        try:
            gan.generator.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        except Exception as e:  # another model's weights
            raise bad_weights(d / "model.safetensors", e) from None
        gan.generator.eval()
        gan.dp_epsilon_spent = config.get("dp_epsilon_spent")
        gan.result = TrainResult(history=config.get("history", []))
        gan.sampler = config.get("sampler", "torch")
        return gan


def write_model(d: Path, config: dict, generator, transformer) -> Path:
    """Write a model directory; each file lands whole (gankit/durable.py; a run's model/ is also
    swapped in whole by the training loop)."""
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    durable.write_bytes(d / "model.safetensors", save(state))
    durable.write_text(d / "transformer.json", json.dumps(transformer.state()))
    durable.write_text(d / "config.json", json.dumps(config, indent=2))
    return d


def _epoch_callback(on_epoch, steps_per_epoch: int):
    """The loop's per-step callback as the per-epoch one of 0.1: called with each epoch's record
    (``epoch``, the losses, ``time_s``); returning False stops the fit, as Ctrl-C does."""
    seen = {"step": 0}

    def callback(step: int, last: dict):
        if last and last.get("step", 0) > seen["step"]:
            seen["step"] = last["step"]
            return on_epoch({"epoch": last["step"] // steps_per_epoch, **last})

    return callback


class TorchRowSampler(RowSampler):
    """How exports written before sampling moved to numpy sample: torch's generator draws the
    conditions, the noise and the Gumbel noise (the same rows for a seed as then)."""

    def __init__(self, transformer: DataTransformer, generator: Generator, latent_dim: int):
        from gankit.tabular.sampler import CondSampler

        self.transformer, self.generator, self.latent_dim = transformer, generator, latent_dim
        self.cond_sampler = CondSampler(transformer, None, torch.device("cpu"))

    def rng(self, seed: int | None) -> torch.Generator:
        return torch.Generator().manual_seed(seed if seed is not None else torch.seed())

    @torch.no_grad()
    def generate(self, n: int, g: torch.Generator, vector=None):
        sampler = self.cond_sampler
        if not sampler.n_columns:
            cond = torch.zeros(n, 0)
        elif vector is None:
            cond = sampler.sample_cond(n, g)
        else:
            name, value = vector
            i, j = sampler.columns.index(name), self.transformer.column(name).categories.index(value)
            cond = sampler.one_hot(torch.full((n,), i), torch.full((n,), j))
        raw = self.generator(torch.randn(n, self.latent_dim, generator=g), cond)
        out, start = [], 0
        for s in self.transformer.spans:
            x = raw[:, start : start + s.dim]
            if s.activation == "tanh":
                out.append(torch.tanh(x))
            else:
                u = torch.rand(x.shape, generator=g).clamp(1e-10, 1 - 1e-10)
                out.append(x - torch.log(-torch.log(u)))
            start += s.dim
        return self.transformer.inverse_transform(torch.cat(out, 1).numpy())
