"""How good is a synthetic table: sdmetrics' QualityReport as the headline, plus ML efficacy.

The QualityReport (column shapes: KS / total-variation complements; column-pair trends: correlation
and contingency similarity) is SDV's own yardstick, so scores compare with CTGAN's directly.
ML efficacy trains one model on real rows and one on synthetic rows, and tests both on held-out
real rows ("train on synthetic, test on real", Esteban et al. 2017; Xu et al. 2019).
"""

from __future__ import annotations

import warnings

import numpy as np

from gankit.errors import GankitError
from gankit.tabular.transformer import infer_kinds

SDTYPES = {"continuous": "numerical", "integer": "numerical", "categorical": "categorical",
           "boolean": "boolean", "datetime": "datetime"}  # fmt: skip


def sdv_metadata(df, discrete_columns: list[str] | None = None, metadata: dict | None = None) -> dict:
    """SDV single-table metadata ``{"columns": {name: {"sdtype": ...}}}`` for a frame."""
    kinds = infer_kinds(df, discrete_columns, metadata)
    return {"columns": {name: {"sdtype": SDTYPES[k]} for name, k in kinds.items()}}


def quality_report(real, synthetic, metadata: dict) -> dict:
    """sdmetrics QualityReport: ``{"score", "column_shapes", "column_pair_trends", "columns": {...}}``."""
    from sdmetrics.reports import QualityReport

    _check_same_columns(real, synthetic)
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate({"table": real}, {"table": synthetic}, {"tables": {"table": metadata}}, verbose=False)
    props = dict(zip(report.get_properties()["Property"], report.get_properties()["Score"], strict=True))
    shapes = report.get_details("Column Shapes")
    return {
        "score": float(report.get_score()),
        "column_shapes": float(props["Column Shapes"]),
        "column_pair_trends": float(props["Column Pair Trends"]),
        "columns": {str(r["Column"]): round(float(r["Score"]), 4) for _, r in shapes.iterrows()},
    }


def _check_same_columns(real, synthetic) -> None:
    missing = [c for c in real.columns if c not in synthetic.columns]
    if missing:
        raise GankitError(
            f"the synthetic table lacks column(s) {missing}", "compare tables with the same columns"
        )
    if len(synthetic) == 0:
        raise GankitError("the synthetic table is empty", "sample some rows first")


def _features(frames: list, target: str, metadata: dict):
    """One numeric design matrix for several frames (shared one-hot columns), and their targets."""
    import pandas as pd

    kinds = {c: m["sdtype"] for c, m in metadata["columns"].items()}
    parts = []
    for df in frames:
        X = df.drop(columns=[target]).copy()
        for c in X.columns:
            if kinds.get(c) == "datetime":
                X[c] = pd.to_datetime(X[c]).astype("int64") / 1e9
            elif kinds.get(c) in ("categorical", "boolean"):
                X[c] = X[c].astype(str)
        parts.append(X)
    both = pd.get_dummies(pd.concat(parts, keys=range(len(parts))), dummy_na=False)
    both = both.apply(pd.to_numeric, errors="coerce").astype(float).fillna(-1.0)
    return [both.xs(i).to_numpy() for i in range(len(parts))]


def ml_efficacy(train_real, synthetic, test_real, target: str, metadata: dict, seed: int = 0) -> dict:
    """Random forests fitted on real and on synthetic rows, both scored on ``test_real``.

    Classification (discrete target): macro F1; regression: R². ``ratio`` = synthetic / real.
    """
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import f1_score, r2_score

    if target not in metadata["columns"]:
        raise GankitError(
            f"--target '{target}' is not a column", f"columns are: {', '.join(metadata['columns'])}"
        )
    classify = metadata["columns"][target]["sdtype"] in ("categorical", "boolean")
    X_real, X_syn, X_test = _features([train_real, synthetic, test_real], target, metadata)
    scores = {}
    for name, X, df in (("real", X_real, train_real), ("synthetic", X_syn, synthetic)):
        y, y_test = df[target], test_real[target]
        keep = y.notna().to_numpy()
        if classify:
            model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
            model.fit(X[keep], y[keep].astype(str))
            scores[name] = float(f1_score(y_test.astype(str), model.predict(X_test), average="macro"))
        else:
            model = RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1)
            model.fit(X[keep], y[keep].astype(float))
            scores[name] = float(r2_score(y_test.astype(float), model.predict(X_test)))
    ratio = scores["synthetic"] / scores["real"] if scores["real"] > 0 else float("nan")
    return {"target": target, "task": "classification" if classify else "regression",
            "metric": "macro_f1" if classify else "r2", **scores, "ratio": ratio}  # fmt: skip


def split(df, test_fraction: float = 0.3, seed: int = 0):
    """A seeded (train, test) split of rows."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    k = int(round(len(df) * test_fraction))
    return df.iloc[order[k:]].reset_index(drop=True), df.iloc[order[:k]].reset_index(drop=True)
