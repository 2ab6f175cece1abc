"""Rows from a fitted table generator, in numpy: what ``TabularGAN.sample`` and ``gankit tabular
sample`` run, so that sampling never imports torch.

Importing torch costs a process about 1.3 s of a 2-core machine's time, more than generating 1,000
rows; a sampling command is a process of its own. The generator's evaluation-mode forward is small
(CTGAN's residual blocks: Linear, BatchNorm1d on its running statistics, ReLU, concatenation; then
a Linear), so it is restated here in float32; tests/test_tabular.py checks it against the torch
module. Each one-hot span is a draw from softmax(logits) (Gumbel-max), as CTGAN samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gankit import durable
from gankit.errors import GankitError
from gankit.tabular.transformer import MISSING, DataTransformer, _isna, _plain

FORMAT, FORMAT_VERSION = "gankit-tabular", 1
MAX_REJECTION_ROUNDS = 50
# config.json's "sampler": exports written since sampling moved to numpy say so; older ones (no key)
# keep sampling with torch's generator, so a seed gives the rows it gave when they were written
SAMPLER = "numpy"
BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default, which the generator uses


def read_model_dir(directory: str | Path) -> tuple[dict, DataTransformer, dict[str, np.ndarray], Path]:
    """(config.json, transformer, generator weights, the model directory) of a saved model directory,
    or of a run directory holding one in ``model/``; one-line errors for anything else."""
    from safetensors.numpy import load_file

    d = Path(directory)
    model = durable.readable_dir(d / "model")  # mid-swap after a crash: the previous export
    if not (d / "config.json").is_file() and (model / "config.json").is_file():
        d = model
    files = [d / "config.json", d / "transformer.json", d / "model.safetensors"]
    if not all(f.is_file() for f in files):
        raise GankitError(
            f"{d} is not a tabular model (config.json, transformer.json, model.safetensors)",
            "pass the --out directory of `gankit tabular fit`",
        )
    config = json.loads(files[0].read_text())
    if config.get("format") != FORMAT or config.get("format_version", 0) > FORMAT_VERSION:
        raise GankitError(f"{d} was not written by this gankit's tabular format", "refit the model")
    transformer = DataTransformer.from_state(json.loads(files[1].read_text()))
    try:
        weights = load_file(files[2])
    except Exception as e:  # not safetensors: a planted pickle is never unpickled
        raise bad_weights(files[2], e) from None
    return config, transformer, weights, d


def bad_weights(path: Path, e: Exception) -> GankitError:
    return GankitError(
        f"{path} is not this model's weights ({type(e).__name__})",
        "refit the model, or restore the directory as `gankit tabular fit` wrote it",
    )


class RowSampler:
    """``sample(n, conditions, seed)``: a DataFrame of ``n`` rows; deterministic for a seed.

    ``weights``: the generator's state dict as numpy arrays; ``latent_dim``: its noise size."""

    def __init__(self, transformer: DataTransformer, weights: dict[str, np.ndarray], latent_dim: int,
                 source: Path | str = "the model"):  # fmt: skip
        self.transformer, self.latent_dim = transformer, latent_dim
        self.layers = self._layers({k: np.asarray(v, np.float32) for k, v in weights.items()}, source)
        discrete = [c for c in transformer.columns if c.discrete]
        self.columns = [c.name for c in discrete]
        self.sizes = [len(c.categories) for c in discrete]
        self.offsets = np.cumsum([0, *self.sizes])[:-1]
        self.cond_dim = int(sum(self.sizes))
        self.cdf = [np.cumsum(np.asarray(c.counts, np.float64) / max(sum(c.counts), 1)) for c in discrete]

    @classmethod
    def load(cls, directory: str | Path):
        """The sampler a model directory was written for: this one, or (for an export from before
        sampling moved to numpy, which has no ``"sampler"``) a ``TabularGAN``, sampling as it did."""
        config, transformer, weights, d = read_model_dir(directory)
        if config.get("sampler") != SAMPLER:
            from gankit.tabular.synthesizer import TabularGAN

            return TabularGAN.from_model_dir(config, transformer, weights, d)
        return cls(transformer, weights, int(config["model"]["latent_dim"]), d / "model.safetensors")

    @staticmethod
    def _layers(w: dict[str, np.ndarray], source) -> list[tuple]:
        """[("residual", W, b, scale, shift), ..., ("linear", W, b)] from ``net.<i>.…`` keys."""
        layers, i = [], 0
        try:
            while f"net.{i}.fc.weight" in w:
                p = f"net.{i}."
                scale = w[p + "bn.weight"] / np.sqrt(w[p + "bn.running_var"] + BN_EPS)
                shift = w[p + "bn.bias"] - w[p + "bn.running_mean"] * scale
                layers.append(("residual", w[p + "fc.weight"].T, w[p + "fc.bias"], scale, shift))
                i += 1
            layers.append(("linear", w[f"net.{i}.weight"].T, w[f"net.{i}.bias"]))
        except KeyError as e:
            raise bad_weights(Path(str(source)), e) from None
        return layers

    def forward(self, z: np.ndarray, cond: np.ndarray) -> np.ndarray:
        """The generator's raw output for noise ``z`` and conditions ``cond`` (float32)."""
        x = np.concatenate([z, cond], 1).astype(np.float32)
        for kind, weight, bias, *norm in self.layers:
            h = x @ weight + bias
            if kind == "linear":
                return h
            scale, shift = norm
            x = np.concatenate([np.maximum(h * scale + shift, 0), x], 1)
        raise AssertionError("a generator ends with a linear layer")

    def conditions(self, n: int, rng: np.random.Generator, vector=None) -> np.ndarray:
        """One-hot conditions: a discrete column at random and its category at its real frequency,
        or ``vector`` = (column, category) fixed."""
        cond = np.zeros((n, self.cond_dim), np.float32)
        if not self.columns:
            return cond
        if vector is not None:
            i = self.columns.index(vector[0])
            cond[:, self.offsets[i] + self.transformer.column(vector[0]).categories.index(vector[1])] = 1
            return cond
        col = rng.integers(len(self.columns), size=n)
        u = rng.random(n)
        cat = np.array([min(np.searchsorted(self.cdf[c], v, side="right"), self.sizes[c] - 1)
                        for c, v in zip(col, u, strict=True)], dtype=np.int64)  # fmt: skip
        cond[np.arange(n), self.offsets[col] + cat] = 1
        return cond

    def rng(self, seed: int | None):
        return np.random.default_rng(seed)

    def generate(self, n: int, rng: np.random.Generator, vector=None):
        z = rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        raw = self.forward(z, self.conditions(n, rng, vector))
        out, start = [], 0
        for s in self.transformer.spans:
            x = raw[:, start : start + s.dim]
            if s.activation == "tanh":
                out.append(np.tanh(x))
            else:  # logits + Gumbel noise: the transformer's argmax is then a softmax draw
                u = np.clip(rng.random(x.shape, dtype=np.float32), 1e-10, 1 - 1e-7)
                out.append(x - np.log(-np.log(u)))
            start += s.dim
        return self.transformer.inverse_transform(np.concatenate(out, 1).astype(np.float64))

    def sample(self, n: int, conditions: dict | None = None, seed: int | None = 0, batch_size: int = 2000):
        """``n`` rows; ``conditions`` fixes columns to values: one discrete column goes into the
        generator's condition vector, and every condition is then enforced by rejection sampling."""
        import pandas as pd

        if n < 1:
            raise GankitError(f"n={n} asks for no rows", "ask for 1 or more")
        conds = parse_conditions(self.transformer, conditions or {})
        rng = self.rng(seed)
        vector = next(((k, v) for k, v in conds.items() if self.transformer.column(k).discrete), None)
        frames, have = [], 0
        for _ in range(MAX_REJECTION_ROUNDS):
            df = self.generate(min(batch_size, max(n - have, 1) * (4 if conds else 1)), rng, vector)
            for name, value in conds.items():
                df = df[_matches(df[name], value)]
            frames.append(df)
            have += len(df)
            if have >= n:
                break
        out = pd.concat(frames, ignore_index=True)
        if len(out) < n:
            raise GankitError(
                f"only {len(out)} of {n} generated rows met the conditions {conditions}",
                "ask for fewer rows or conditions, or train longer",
            )
        return out.iloc[:n].reset_index(drop=True)


def parse_conditions(transformer: DataTransformer, conditions: dict) -> dict:
    parsed = {}
    for name, value in conditions.items():
        info = transformer.column(name)
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
    if value is None or value == MISSING:
        return series.isna()
    if not isinstance(value, (float, str, bool, int)):  # a timestamp
        return (series == value).fillna(False).astype(bool)
    if isinstance(value, float):
        return np.isclose(series.astype(float), value, rtol=1e-9, atol=1e-9) & series.notna()
    return series.map(lambda x: not _isna(x) and _plain(x) == value).astype(bool)
