"""Does a synthetic table copy its training rows? Distances to the closest record, and an attack.

Rows are compared in one space: numbers (and datetimes) scaled by the real column's range, each
category one-hot (a different category costs 1), a missing value its own indicator. The baseline for
every figure is a real *hold-out* — rows the synthesizer never saw — measured against the same
training rows: synthetic rows should sit no closer to the training rows than fresh real rows do.

- DCR (distance to closest record): median over rows of the distance to the nearest training row.
- NNDR (nearest-neighbour distance ratio): nearest / second-nearest distance; near 0 = a copy.
- Exact-copy rate: share of rows identical to a training row.
- Membership inference (a distance attack, as in Chen et al. 2020's GAN-leaks "full black-box"):
  score each training row and hold-out row by its distance to the nearest synthetic row and report
  the AUC of telling members apart; 0.5 = the synthetic table gives membership away no better than chance.
"""

from __future__ import annotations

import numpy as np

from gankit.errors import GankitError


class _Space:
    def __init__(self, real, metadata: dict):
        import pandas as pd

        self.columns = list(real.columns)
        self.kinds = {c: metadata["columns"].get(c, {}).get("sdtype", "categorical") for c in self.columns}
        self.ranges, self.categories = {}, {}
        for c in self.columns:
            if self.kinds[c] in ("numerical", "datetime"):
                x = self._num(real[c], c, pd)
                lo, hi = np.nanmin(x), np.nanmax(x)
                self.ranges[c] = (lo, (hi - lo) if hi > lo else 1.0)
            else:
                self.categories[c] = sorted({str(v) for v in real[c]})

    def _num(self, s, c, pd):
        if self.kinds[c] == "datetime":
            t = pd.to_datetime(s, errors="coerce")
            return np.where(t.isna(), np.nan, t.astype("int64").astype(float))
        return pd.to_numeric(s, errors="coerce").astype(float).to_numpy()

    def encode(self, df) -> np.ndarray:
        import pandas as pd

        blocks = []
        for c in self.columns:
            if c in self.ranges:
                lo, width = self.ranges[c]
                x = (self._num(df[c], c, pd) - lo) / width
                miss = np.isnan(x)
                blocks += [np.where(miss, 0.0, x)[:, None], miss[:, None].astype(float)]
            else:
                index = {v: i for i, v in enumerate(self.categories[c])}
                codes = np.array([index.get(str(v), -1) for v in df[c]])
                onehot = np.zeros((len(df), len(index) + 1))
                onehot[np.arange(len(df)), codes] = 1.0  # unseen values share the last slot
                blocks.append(onehot / np.sqrt(2))  # two one-hots that differ are 1 apart
        return np.concatenate(blocks, axis=1)


def _nearest(reference: np.ndarray, query: np.ndarray, k: int = 2) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(reference))).fit(reference)
    dist, _ = nn.kneighbors(query)
    return dist


def _stats(dist: np.ndarray) -> dict:
    nearest = dist[:, 0]
    second = dist[:, 1] if dist.shape[1] > 1 else nearest
    ratio = np.where(second > 0, nearest / np.maximum(second, 1e-12), 0.0)
    return {
        "dcr_median": float(np.median(nearest)),
        "dcr_p05": float(np.percentile(nearest, 5)),
        "nndr_median": float(np.median(ratio)),
        "exact_copy_rate": float(np.mean(nearest < 1e-9)),
    }


def privacy_report(train_real, synthetic, metadata: dict, holdout=None, seed: int = 0) -> dict:
    """``{"synthetic": {dcr...}, "holdout": {dcr...}, "mia_auc": ...}``; holdout figures need ``holdout``."""
    if len(train_real) < 2 or len(synthetic) < 1:
        raise GankitError(
            "privacy figures need at least 2 real rows and 1 synthetic row", "pass bigger tables"
        )
    space = _Space(train_real, metadata)
    R, S = space.encode(train_real), space.encode(synthetic)
    out = {"synthetic": _stats(_nearest(R, S)), "rows": {"train": len(R), "synthetic": len(S)}}
    if holdout is None or len(holdout) == 0:
        out["note"] = "pass a hold-out table (real rows kept out of fit) for the baseline and the attack"
        return out
    H = space.encode(holdout)
    out["holdout"] = _stats(_nearest(R, H))
    out["rows"]["holdout"] = len(H)
    out["mia_auc"] = membership_auc(R, H, S, seed)
    return out


def membership_auc(
    members: np.ndarray, non_members: np.ndarray, synthetic: np.ndarray, seed: int = 0
) -> float:
    """AUC of "closer to a synthetic row = member" on equal numbers of members and non-members."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    k = min(len(members), len(non_members))
    m = members[rng.choice(len(members), k, replace=False)]
    h = non_members[rng.choice(len(non_members), k, replace=False)]
    d = _nearest(synthetic, np.concatenate([m, h]), k=1)[:, 0]
    labels = np.r_[np.ones(k), np.zeros(k)]
    return float(roc_auc_score(labels, -d))
