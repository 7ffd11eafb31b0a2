"""The tables and run roles one scorecard reads, and the look-ups every rule shares."""
from __future__ import annotations

import numpy as np
import pandas as pd

from resdyn.core.linalg import spearman
from resdyn.findings.checkpoint_series import run_rows
from resdyn.findings.verdicts import Untestable

REGIMES = ("early", "mid", "late")


class Context:
    """Result tables (name -> frame; absent tables are missing or None) and the run set."""

    def __init__(self, tables: dict, runs, null_of: dict, method: str = "signed_cpm",
                 column_norm: str = "mean_jacobian", untrained=()):
        self.t = {k: v for k, v in tables.items() if v is not None}
        self.runs = list(runs)
        self.null_of = dict(null_of)  # trained -> null
        self.trained_of = {null: run for run, null in self.null_of.items()}
        self.nulls = [r for r in self.runs if r in self.trained_of]
        self.trained = [r for r in self.runs if r not in self.trained_of]
        self.method = method
        self.column_norm = column_norm
        self.untrained = set(self.nulls) | set(untrained)  # nulls and random initialisations (source: init)

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.t:
            raise Untestable(f"no {name} table (its stage is not run in this config, or the table is absent)")
        return self.t[name]

    def rows(self, name: str, run: str, **match) -> pd.DataFrame:
        """Rows of table ``name`` for ``run`` (and column == value for each match whose column exists)."""
        sub = run_rows(self.table(name), run, **match)
        if sub.empty:
            raise Untestable(f"no {name} rows for run {run}" + (f" ({match})" if match else ""))
        return sub

    def summary(self, run: str) -> pd.Series:
        return self.rows("coupling_summary", run, method=self.method).iloc[0]

    def null(self, run: str) -> str:
        if run not in self.null_of:
            raise Untestable(f"no run declares null_of: {run}")
        return self.null_of[run]

    def trained_run(self, null: str) -> str:
        return self.trained_of[null]


def regime_means(table: pd.DataFrame, column: str) -> dict[str, float]:
    means = table.groupby("regime")[column].mean()
    return {r: float(means.get(r, np.nan)) for r in REGIMES}


def depth_trend(table: pd.DataFrame, column: str) -> tuple[float, float]:
    """Spearman ρ(layer, column) and its p-value (NaN where the column is constant)."""
    t = table[["layer", column]].dropna()
    return spearman(t["layer"], t[column])


def fmt_regimes(means: dict[str, float], spec: str = ".3g") -> str:
    return " / ".join(f"{means[r]:{spec}}" for r in REGIMES) + " (early / mid / late)"
