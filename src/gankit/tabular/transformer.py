"""A reversible table <-> matrix transform: CTGAN's mode-specific normalisation, plus missing values.

Continuous columns (floats, integers, datetimes) become a scalar in [-1, 1] and a one-hot *mode* of a
variational Gaussian mixture fitted to the column (Xu et al. 2019, "Modeling Tabular data using
Conditional GAN"); discrete columns (categories, booleans) become one-hots. A continuous column with
missing values gets a two-way "missing" one-hot; a discrete column treats missing as one more
category. The fitted state is plain JSON (lists of floats and strings), so saving needs no pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from gankit.errors import GankitError

Kind = Literal["continuous", "integer", "datetime", "categorical", "boolean"]
DISCRETE_KINDS = ("categorical", "boolean")
MISSING = "__gankit_missing__"  # the category that stands for a missing discrete value
GMM_FIT_ROWS = 2000  # the mixture is fitted on at most this many values: most of CTGAN's prep time
GMM_MAX_ITER = 100  # variational EM iterations per column (sklearn default)
_UNIT_NS = {"D": 86_400 * 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


@dataclass
class Span:
    """A slice of the transformed matrix and how the generator should produce it."""

    dim: int
    activation: Literal["tanh", "softmax"]


@dataclass
class ColumnInfo:
    name: str
    kind: Kind
    dtype: str  # the pandas dtype to restore
    has_missing: bool = False
    categories: list = field(default_factory=list)  # discrete: values in one-hot order (MISSING too)
    counts: list[int] = field(default_factory=list)  # discrete: rows per category, for sampling
    means: list[float] = field(default_factory=list)  # continuous: the mixture's kept modes
    stds: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    lo: float = 0.0  # continuous: the range seen in fit, enforced on the way back
    hi: float = 0.0
    decimals: int | None = None  # floats: the precision seen in fit (None = keep all)
    unit: str = "ns"  # datetimes: the coarsest unit all values are whole multiples of
    tz: str | None = None

    @property
    def discrete(self) -> bool:
        return self.kind in DISCRETE_KINDS

    @property
    def spans(self) -> list[Span]:
        if self.discrete:
            return [Span(len(self.categories), "softmax")]
        spans = [Span(1, "tanh"), Span(len(self.means), "softmax")]
        return spans + ([Span(2, "softmax")] if self.has_missing else [])

    @property
    def width(self) -> int:
        return sum(s.dim for s in self.spans)


def infer_kinds(
    df: pd.DataFrame, discrete_columns: list[str] | None = None, metadata: dict | None = None
) -> dict[str, Kind]:
    """Column kinds from dtypes, overridden by ``discrete_columns`` and SDV-style ``metadata``.

    ``metadata`` is ``{"columns": {name: {"sdtype": "numerical"|"categorical"|"boolean"|"datetime"}}}``.
    """
    discrete = set(discrete_columns or [])
    declared = (metadata or {}).get("columns", {})
    for name in [*discrete, *declared]:
        if name not in df.columns:
            raise GankitError(
                f"column '{name}' is not in the table", f"columns are: {', '.join(map(str, df.columns))}"
            )
    kinds: dict[str, Kind] = {}
    for name in df.columns:
        s = df[name]
        sdtype = declared.get(name, {}).get("sdtype")
        if name in discrete or sdtype == "categorical":
            kinds[name] = "boolean" if pd.api.types.is_bool_dtype(s) else "categorical"
        elif sdtype == "boolean" or (sdtype is None and pd.api.types.is_bool_dtype(s)):
            kinds[name] = "boolean"
        elif sdtype == "datetime" or (sdtype is None and pd.api.types.is_datetime64_any_dtype(s)):
            kinds[name] = "datetime"
        elif sdtype == "numerical" or (sdtype is None and pd.api.types.is_numeric_dtype(s)):
            if not pd.api.types.is_numeric_dtype(s):
                raise GankitError(f"column '{name}' is declared numerical but holds text", "fix its sdtype")
            kinds[name] = "integer" if pd.api.types.is_integer_dtype(s) else "continuous"
        elif sdtype in (None, "categorical", "id", "text"):
            kinds[name] = "categorical"
        else:
            raise GankitError(
                f"column '{name}' has unknown sdtype '{sdtype}'",
                "use numerical, categorical, boolean or datetime",
            )
    return kinds


class DataTransformer:
    """``fit(df)`` learns each column's encoding; ``transform`` / ``inverse_transform`` are exact inverses.

    ``max_modes`` and ``weight_prior`` follow CTGAN (10 modes, Dirichlet-process prior 1e-3); the mixture
    is fitted on at most :data:`GMM_FIT_ROWS` values per column, which is where CTGAN spends its prep time.
    """

    def __init__(self, max_modes: int = 10, weight_prior: float = 1e-3, seed: int = 0):
        self.max_modes, self.weight_prior, self.seed = max_modes, weight_prior, seed
        self.columns: list[ColumnInfo] = []

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(
        self, df: pd.DataFrame, discrete_columns: list[str] | None = None, metadata: dict | None = None
    ) -> DataTransformer:
        if len(df) == 0 or len(df.columns) == 0:
            raise GankitError("the table is empty", "give a table with at least one row and one column")
        kinds = infer_kinds(df, discrete_columns, metadata)
        fitted = [self._fit_column(df[name], kinds[name]) for name in df.columns]
        self.columns = [info for info, _ in fitted]
        self._fit_modes([(info, x) for info, x in fitted if x is not None])
        return self

    def _fit_column(self, s: pd.Series, kind: Kind) -> tuple[ColumnInfo, np.ndarray | None]:
        """The column's description, and its values when its modes are still to be fitted."""
        info = ColumnInfo(name=str(s.name), kind=kind, dtype=str(s.dtype), has_missing=bool(s.isna().any()))
        if info.discrete:
            values = [v for v in pd.unique(s.dropna())]
            info.categories = sorted((_plain(v) for v in values), key=lambda v: (str(type(v)), v))
            if info.has_missing:
                info.categories.append(MISSING)
            counts = s.map(lambda v: MISSING if _isna(v) else _plain(v)).value_counts()
            info.counts = [int(counts.get(v, 0)) for v in info.categories]
            return info, None
        if kind == "datetime":
            s = pd.to_datetime(s)
            info.tz = str(s.dt.tz) if s.dt.tz is not None else None
        x = self._numeric(s, info)
        if not np.isfinite(x).all() or (len(x) and np.abs(x).max() > 1e100):  # squares overflow the mixture
            raise GankitError(
                f"column '{info.name}' holds infinite or astronomically large values",
                "remove them, or rescale the column",
            )
        if len(x) == 0:
            x = np.zeros(1)  # an all-missing column: one mode at 0, always restored as missing
        if kind == "continuous":
            info.decimals = _decimals(x)
        info.lo, info.hi = float(x.min()), float(x.max())
        return info, x

    def _numeric(self, s: pd.Series, info: ColumnInfo) -> np.ndarray:
        """The column's non-missing values as float64 (datetimes as whole units of ``info.unit``)."""
        if info.kind != "datetime":
            return s.dropna().to_numpy(dtype=np.float64)
        ns = s.dropna().astype("datetime64[ns, UTC]" if info.tz else "datetime64[ns]").astype("int64")
        ns = ns.to_numpy()
        if not info.means:  # fitting: pick the unit
            info.unit = next(u for u, k in _UNIT_NS.items() if (ns % k == 0).all())
        return (ns // _UNIT_NS[info.unit]).astype(np.float64)

    def _fit_modes(self, columns: list[tuple[ColumnInfo, np.ndarray]]) -> None:
        """Each numeric column's modes: one mixture per column, all fitted side by side."""
        from gankit.tabular.mixture import fit_mixtures

        fits = []
        for info, x in columns:
            rng = np.random.default_rng(self.seed)  # each column's sample drawn as when fitted alone
            fit_x = rng.choice(x, GMM_FIT_ROWS, replace=False) if len(x) > GMM_FIT_ROWS else x
            k = min(self.max_modes, len(np.unique(fit_x)))
            if k < 2:
                info.means, info.stds, info.weights = [float(x[0])], [max(float(x.std()), 1e-3)], [1.0]
            else:
                fits.append((info, x, fit_x, k))
        # a mode that has not converged in GMM_MAX_ITER steps is still a fine mode
        mixtures = fit_mixtures(
            [f[2] for f in fits], [f[3] for f in fits], self.weight_prior, GMM_MAX_ITER, 1e-3
        )
        for (info, x, _, _), gmm in zip(fits, mixtures, strict=True):
            keep = gmm.weights_ > 0.005
            # a mode narrower than the data's spacing makes alpha explode; floor it
            floor = max(1e-3 * (x.max() - x.min()), 1e-6)
            info.means = gmm.means_[keep].tolist()
            info.stds = np.maximum(np.sqrt(gmm.variances_[keep]), floor).tolist()
            info.weights = gmm.weights_[keep].tolist()

    # ---- transform -------------------------------------------------------------------------------
    @property
    def spans(self) -> list[Span]:
        return [s for c in self.columns for s in c.spans]

    @property
    def output_dim(self) -> int:
        return sum(c.width for c in self.columns)

    def transform(self, df: pd.DataFrame, rng: np.random.Generator | None = None) -> np.ndarray:
        """(N, output_dim) float64 (exact to invert).

        ``rng`` draws each value's mode from its posterior (CTGAN's choice, smoother for training);
        without it the most likely mode is used.
        """
        self._check_columns(df)
        blocks = [self._transform_column(df[c.name], c, rng) for c in self.columns]
        return np.concatenate(blocks, axis=1)

    def _transform_column(self, s: pd.Series, info: ColumnInfo, rng) -> np.ndarray:
        n = len(s)
        if info.discrete:
            index = {v: i for i, v in enumerate(info.categories)}
            codes = [index.get(MISSING if _isna(v) else _plain(v), -1) for v in s]
            if -1 in codes:
                bad = s.iloc[codes.index(-1)]
                raise GankitError(f"column '{info.name}' has value {bad!r} not seen in fit", "refit")
            return np.eye(len(info.categories))[codes]
        missing = s.isna().to_numpy()
        x = np.full(n, info.means[0])
        x[~missing] = self._numeric(s, info)
        mu, sd = np.array(info.means), np.array(info.stds)
        logp = np.log(np.array(info.weights)) - np.log(sd) - 0.5 * ((x[:, None] - mu) / sd) ** 2
        if rng is None:
            mode = logp.argmax(1)
        else:
            p = np.exp(logp - logp.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            mode = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
        alpha = (x - mu[mode]) / (4 * sd[mode])
        parts = [alpha[:, None], np.eye(len(mu))[mode]]
        if info.has_missing:
            parts.append(np.eye(2)[missing.astype(int)])
        return np.concatenate(parts, axis=1)

    def inverse_transform(self, matrix: np.ndarray) -> pd.DataFrame:
        """The table back from a (N, output_dim) matrix; one-hot spans are read by their argmax."""
        out, start = {}, 0
        for info in self.columns:
            block = np.asarray(matrix[:, start : start + info.width], dtype=np.float64)
            out[info.name] = self._inverse_column(block, info)
            start += info.width
        return pd.DataFrame(out)

    def _inverse_column(self, block: np.ndarray, info: ColumnInfo) -> pd.Series:
        if info.discrete:
            values = [info.categories[i] for i in block.argmax(1)]
            s = pd.Series([None if v == MISSING else v for v in values], dtype=object)
            return _restore_discrete(s, info)
        k = len(info.means)
        mode = block[:, 1 : 1 + k].argmax(1)
        alpha = np.clip(block[:, 0], -1, 1)
        x = alpha * 4 * np.array(info.stds)[mode] + np.array(info.means)[mode]
        x = np.clip(x, info.lo, info.hi)
        missing = block[:, 1 + k :].argmax(1) == 1 if info.has_missing else np.zeros(len(x), bool)
        if info.kind == "continuous":
            x = np.round(x, info.decimals) if info.decimals is not None else x
            s = pd.Series(np.where(missing, np.nan, x))
            return s.astype(info.dtype) if info.dtype.startswith("float") else s
        x = np.round(x)
        if info.kind == "integer":  # a plain int dtype has no missing values; Int64 keeps them
            return pd.Series(x).astype("Int64").mask(missing).astype(info.dtype)
        ns = x.astype(np.int64) * _UNIT_NS[info.unit]
        s = pd.Series(pd.to_datetime(ns, utc=info.tz is not None)).mask(missing)
        return s.dt.tz_convert(info.tz) if info.tz else s.astype(info.dtype)

    def _check_columns(self, df: pd.DataFrame) -> None:
        missing = [c.name for c in self.columns if c.name not in df.columns]
        if missing:
            raise GankitError(f"the table lacks column(s) {missing} seen in fit", "pass the same columns")

    # ---- state -----------------------------------------------------------------------------------
    def state(self) -> dict:
        """Plain JSON-able state: ``DataTransformer.from_state(t.state())`` rebuilds ``t``."""
        return {
            "max_modes": self.max_modes,
            "weight_prior": self.weight_prior,
            "seed": self.seed,
            "columns": [asdict(c) for c in self.columns],
        }

    @classmethod
    def from_state(cls, state: dict) -> DataTransformer:
        t = cls(state["max_modes"], state["weight_prior"], state["seed"])
        t.columns = [ColumnInfo(**c) for c in state["columns"]]
        return t

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise GankitError(f"column '{name}' is not in the table", f"columns are: {self.column_names}")

    @property
    def column_names(self) -> str:
        return ", ".join(c.name for c in self.columns)

    def offset(self, name: str) -> int:
        """Where a column's block starts in the transformed matrix."""
        start = 0
        for c in self.columns:
            if c.name == name:
                return start
            start += c.width
        raise KeyError(name)


def _plain(v):
    """A JSON-able Python scalar for a category value (numpy ints/floats/bools -> int/float/bool)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _isna(v) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def _restore_discrete(s: pd.Series, info: ColumnInfo) -> pd.Series:
    if info.dtype == "object":
        return s
    if info.has_missing and info.dtype in ("bool", "int64", "int32"):
        return s.astype("boolean" if info.dtype == "bool" else "Int64")
    try:
        return s.astype(info.dtype)
    except (TypeError, ValueError):
        return s


def _decimals(x: np.ndarray, most: int = 6) -> int | None:
    """The fewest decimals (<= ``most``) that represent every value exactly, or None."""
    for d in range(most + 1):
        if np.allclose(np.round(x, d), x, rtol=0, atol=10.0 ** -(most + 3)):
            return d
    return None
