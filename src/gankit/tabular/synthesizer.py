"""``TabularGAN``: fit a table, sample a table — CTGAN's recipe (Xu et al. 2019) with missing values,
conditions on several columns, differential privacy and pickle-free saving."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from gankit.errors import GankitError
from gankit.tabular.model import Critic, Generator, TabularModelConfig
from gankit.tabular.sampler import CondSampler
from gankit.tabular.train import Game, TrainResult, TrainSettings, train
from gankit.tabular.transformer import MISSING, DataTransformer, _isna, _plain

log = logging.getLogger(__name__)
FORMAT, FORMAT_VERSION = "gankit-tabular", 1
MAX_REJECTION_ROUNDS = 50


class TabularGAN:
    """A conditional tabular GAN (CTGAN, Xu et al. 2019) with a scikit-learn-style API.

    ``TabularGAN(epochs=300).fit(df, discrete_columns=["sex"])``, then ``.sample(1000, seed=0,
    conditions={"sex": "F"})``, ``.save(dir)`` and ``TabularGAN.load(dir)``.

    ``batch_size=None`` picks about a third of the table (a multiple of ``pac``, 50..500), so a small
    table gets several steps per epoch rather than CTGAN's one. ``pac=2`` rather than CTGAN's 10: with
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

    def params(self) -> dict[str, Any]:
        keys = ["epochs", "batch_size", "latent_dim", "g_dims", "d_dims", "pac", "lr_g", "lr_d", "d_steps"]
        keys += ["gp_weight", "ema"]
        keys += ["dp_epsilon", "dp_delta", "dp_max_grad_norm", "device", "seed", "max_modes", "threads"]
        return {k: getattr(self, k) for k in keys}

    # ---- fit -------------------------------------------------------------------------------------
    def fit(
        self, data, discrete_columns: list[str] | None = None, metadata: dict | None = None, on_epoch=None
    ):
        """Learn the table ``data`` (a pandas DataFrame); returns ``self``."""
        from gankit.training.setup import pick_device

        self._check_params()
        device = pick_device(self.device)
        threads = torch.get_num_threads()
        if self.threads and device.type == "cpu":
            # networks this small gain nothing from intra-op threads and lose a lot when cores are shared
            torch.set_num_threads(self.threads)
        try:
            return self._fit(data, discrete_columns, metadata, on_epoch, device)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, data, discrete_columns, metadata, on_epoch, device) -> TabularGAN:
        torch.manual_seed(self.seed)
        self.transformer = DataTransformer(self.max_modes, seed=self.seed).fit(
            data, discrete_columns, metadata
        )
        matrix = self.transformer.transform(data, rng=np.random.default_rng(self.seed))
        dp = self.dp_epsilon is not None
        pac = 1 if dp else min(self.pac, len(data))  # DP clips per row, so a pack is one row
        sampler = CondSampler(self.transformer, matrix, device)
        self.model_config = TabularModelConfig(
            data_dim=matrix.shape[1], cond_dim=sampler.dim, latent_dim=self.latent_dim,
            g_dims=self.g_dims, d_dims=self.d_dims, pac=pac,
        )  # fmt: skip
        G, D = Generator(self.model_config).to(device), Critic(self.model_config).to(device)
        batch = self._batch_size(len(data), pac)
        settings = TrainSettings(
            epochs=self.epochs, batch_size=batch, steps_per_epoch=max(1, round(len(data) / batch)),
            lr_g=self.lr_g, lr_d=self.lr_d, d_steps=self.d_steps, gp_weight=self.gp_weight,
            latent_dim=self.latent_dim, ema=self.ema,
        )  # fmt: skip
        real = torch.from_numpy(matrix).float().to(device)
        game = Game(G, D, real, sampler, self.transformer.spans, settings)
        if dp:
            from gankit.tabular.dp import DPCritic

            delta = self.dp_delta if self.dp_delta is not None else 1.0 / (10 * len(data))
            dp_critic = DPCritic(game, self.dp_epsilon, delta, self.dp_max_grad_norm)
            self.result = train(game, dp_critic.step, uniform_g_cond=True, on_epoch=on_epoch)
            self.dp_delta = delta
            self.dp_epsilon_spent = self.result.dp_epsilon = dp_critic.epsilon_spent()
        else:
            self.result = train(game, on_epoch=on_epoch)
        self.generator = G.cpu().eval()
        return self

    def _batch_size(self, n: int, pac: int) -> int:
        b = self.batch_size if self.batch_size is not None else min(500, max(50, n // 3))
        return max(pac, b // pac * pac)

    def _check_params(self) -> None:
        if self.epochs < 1:
            raise GankitError(f"epochs={self.epochs} trains nothing", "use epochs=1 or more")
        if self.dp_epsilon is not None and self.dp_epsilon <= 0:
            raise GankitError(f"dp_epsilon={self.dp_epsilon} must be > 0", "e.g. --dp-epsilon 3")
        if self.dp_delta is not None and not 0 < self.dp_delta < 1:
            raise GankitError(f"dp_delta={self.dp_delta} must be in (0, 1)", "e.g. --dp-delta 1e-5")

    # ---- sample ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, conditions: dict | None = None, seed: int | None = 0, batch_size: int = 2000):
        """``n`` synthetic rows as a DataFrame; deterministic for a ``seed``.

        ``conditions`` fixes columns to values: one discrete column goes into the generator's condition
        vector, and every condition is then enforced by rejection sampling.
        """
        if self.generator is None or self.transformer is None:
            raise GankitError("this TabularGAN is not fitted", "call fit(df) or TabularGAN.load(dir) first")
        if n < 1:
            raise GankitError(f"n={n} asks for no rows", "ask for 1 or more")
        conds = self._parse_conditions(conditions or {})
        g = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
        sampler = CondSampler(self.transformer, None, torch.device("cpu"))
        vector = next(
            ((name, v) for name, v in conds.items() if self.transformer.column(name).discrete), None
        )
        frames, have = [], 0
        for _ in range(MAX_REJECTION_ROUNDS):
            df = self._generate(min(batch_size, max(n - have, 1) * (4 if conds else 1)), sampler, vector, g)
            for name, value in conds.items():
                df = df[_matches(df[name], value)]
            frames.append(df)
            have += len(df)
            if have >= n:
                break
        import pandas as pd

        out = pd.concat(frames, ignore_index=True)
        if len(out) < n:
            raise GankitError(
                f"only {len(out)} of {n} generated rows met the conditions {conditions}",
                "ask for fewer rows or conditions, or train longer",
            )
        return out.iloc[:n].reset_index(drop=True)

    def _generate(self, n: int, sampler: CondSampler, vector, g: torch.Generator):
        if not sampler.n_columns:
            cond = torch.zeros(n, 0)
        elif vector is None:
            cond = sampler.sample_cond(n, g)
        else:
            name, value = vector
            i = sampler.columns.index(name)
            j = self.transformer.column(name).categories.index(value)
            cond = sampler.one_hot(torch.full((n,), i), torch.full((n,), j))
        z = torch.randn(n, self.latent_dim, generator=g)
        raw = self.generator(z, cond)
        # one-hot spans: a draw from softmax(logits) (Gumbel-max with our generator), as CTGAN samples
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

    def _parse_conditions(self, conditions: dict) -> dict:
        parsed = {}
        for name, value in conditions.items():
            info = self.transformer.column(name)
            if info.discrete:
                v = MISSING if _isna(value) else _match_category(value, info.categories)
                if v is None:
                    shown = ", ".join(map(str, info.categories[:20]))
                    raise GankitError(f"column '{name}' has no value {value!r}", f"use one of: {shown}")
                parsed[name] = v
            elif _isna(value):
                if not info.has_missing:
                    raise GankitError(f"column '{name}' has no missing values", "condition on a value")
                parsed[name] = None
            else:
                parsed[name] = _numeric_condition(value, info)
        return parsed

    # ---- save / load -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """``config.json`` (settings, model config), ``transformer.json`` and ``model.safetensors``."""
        if self.generator is None:
            raise GankitError("this TabularGAN is not fitted", "call fit(df) before save")
        from gankit import __version__

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "gankit_version": __version__,
            "params": self.params(), "model": asdict(self.model_config),
            "dp_epsilon_spent": self.dp_epsilon_spent,
            "history": self.result.history if self.result else [],
        }  # fmt: skip
        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        save_file(state, d / "model.safetensors")
        (d / "transformer.json").write_text(json.dumps(self.transformer.state()))
        (d / "config.json").write_text(json.dumps(config, indent=2))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> TabularGAN:
        d = Path(directory)
        files = [d / "config.json", d / "transformer.json", d / "model.safetensors"]
        if not all(f.is_file() for f in files):
            raise GankitError(
                f"{d} is not a tabular model (config.json, transformer.json, model.safetensors)",
                "pass the --out directory of `gankit tabular fit`",
            )
        config = json.loads(files[0].read_text())
        if config.get("format") != FORMAT or config.get("format_version", 0) > FORMAT_VERSION:
            raise GankitError(f"{d} was not written by this gankit's tabular format", "refit the model")
        params = config["params"]
        gan = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        model = config["model"]
        gan.model_config = TabularModelConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in model.items()}
        )
        gan.transformer = DataTransformer.from_state(json.loads(files[1].read_text()))
        gan.generator = Generator(gan.model_config)
        gan.generator.load_state_dict(load_file(files[2]))
        gan.generator.eval()
        gan.dp_epsilon_spent = config.get("dp_epsilon_spent")
        gan.result = TrainResult(history=config.get("history", []))
        return gan


def _match_category(value, categories: list):
    """The category ``value`` names; CLI strings match numbers and booleans by their text."""
    value = _plain(value)
    if value in categories:
        return value
    text = str(value).strip().lower()
    for c in categories:
        if c != MISSING and str(c).lower() == text:
            return c
    return None


def _numeric_condition(value, info):
    import pandas as pd

    try:
        if info.kind == "datetime":
            return pd.Timestamp(value)
        v = float(value)
    except (TypeError, ValueError):
        raise GankitError(f"column '{info.name}' is {info.kind}; {value!r} is not", "give a number") from None
    if not info.lo <= v <= info.hi:
        raise GankitError(
            f"column '{info.name}' = {value} is outside the fitted range [{info.lo:g}, {info.hi:g}]",
            "condition on a value inside it",
        )
    return v


def _matches(series, value):
    if value is None:
        return series.isna()
    if value == MISSING:
        return series.isna()
    if not isinstance(value, (float, str, bool, int)):  # a timestamp
        return (series == value).fillna(False).astype(bool)
    if isinstance(value, float):
        return np.isclose(series.astype(float), value, rtol=1e-9, atol=1e-9) & series.notna()
    return series.map(lambda x: not _isna(x) and _plain(x) == value).astype(bool)
