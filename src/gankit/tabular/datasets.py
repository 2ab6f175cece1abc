"""Built-in tables from installed packages (no download): for the tour, the tests and the benchmark."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gankit.registry import Registry


@dataclass(frozen=True)
class Table:
    """A bundled table: the frame, its discrete columns and a natural target for ML efficacy."""

    name: str
    description: str
    load: Callable[[], object]  # -> pandas.DataFrame
    discrete: tuple[str, ...]
    target: str


TABLES: Registry[Table] = Registry("table", "tabular datasets")


def _sklearn(loader: str, target_name: str = "target"):
    def load():
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)(as_frame=True)
        df = bunch.frame.copy()
        df[target_name] = np.asarray(bunch.target_names)[bunch.target]
        return df.drop(columns=["target"]) if target_name != "target" else df

    return load


def _autompg():
    import pandas as pd
    from mlxtend.data import autompg_data

    X, y = autompg_data()
    cols = ["cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year", "origin"]
    df = pd.DataFrame(X[:, :7], columns=cols)  # the 8th column (car name) is empty in mlxtend's copy
    for c in ("cylinders", "model_year", "origin"):
        df[c] = df[c].astype("int64")
    df["origin"] = df["origin"].map({1: "usa", 2: "europe", 3: "japan"})
    df["mpg"] = y
    return df


for _t in [
    Table("iris", "150 irises: 4 measurements + species (scikit-learn)", _sklearn("load_iris", "species"),
          ("species",), "species"),
    Table("wine", "178 wines: 13 chemical measurements + cultivar (scikit-learn)",
          _sklearn("load_wine", "cultivar"), ("cultivar",), "cultivar"),
    Table("breast-cancer", "569 tumours: 30 cell measurements + diagnosis (scikit-learn)",
          _sklearn("load_breast_cancer", "diagnosis"), ("diagnosis",), "diagnosis"),
    Table("autompg", "392 cars: mpg, engine, weight, year, origin (mlxtend)", _autompg,
          ("cylinders", "origin"), "mpg"),
]:  # fmt: skip
    TABLES.register(_t.name)(_t)


def load_table(name: str):
    """``(DataFrame, discrete columns, target)`` of a built-in table."""
    t = TABLES.get(name)
    return t.load(), list(t.discrete), t.target
