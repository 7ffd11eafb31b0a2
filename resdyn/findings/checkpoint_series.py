"""Checkpoint series: the headline findings of each run of a declared training order.

Implements the training claims of Fernando & Guitchounts (2026), "Dynamics of the Transformer
Residual Stream", Tables 1-2 and Fig. 7d.

A config declares ordered series of runs (``checkpoint_series: {name: {runs: [...], steps:
[...]}}``, checked by ``resdyn.core.run_roles.declared_series``), never parsed from run names. For each run of each series this module gathers,
from tables the other stages already write, the quantities the paper follows over OLMo's
checkpoints (Fig. 7d generalised), in one long table: series, run, step, quantity, value and
a band where the source has one (over the run's layers). ``trend`` is the rule the scorecard
applies over the declared order.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from resdyn.core.linalg import spearman

COLUMNS = ["series", "run", "step", "quantity", "value", "band_low", "band_high", "band", "source"]

# quantity -> (figure panel, label); panels are drawn in this order
QUANTITIES = {
    "frac_fdr_sig": ("coupling", "FDR-significant (either sign)"),
    "frac_fdr_sig_pos": ("coupling", "FDR-significant, d > 0"),
    "frac_fdr_sig_neg": ("coupling", "FDR-significant, d < 0"),
    "n_fdr_sig": (None, "FDR-significant layers"),  # the paper's count (0 -> 14 -> 24); the panel shows fractions
    "median_cohens_d": ("cohens_d", "median Cohen's d"),
    "erank_p0": ("erank", "erank($P_0$)"),
    "self_alignment_early": ("self_alignment", "early"),
    "self_alignment_mid": ("self_alignment", "mid"),
    "self_alignment_late": ("self_alignment", "late"),
    "frac_complex": ("complex", "raw (|Im λ| > 1e-6)"),
    "frac_complex_robust": ("complex", "robust (beyond conditioning)"),
    "median_mesoscale_z": ("mesoscale", "median z over layers"),
    "frac_mesoscale_above_null": (None, "fraction of layers with z > 1.96"),
}
LAYER_IQR, LAYER_RANGE = "layer q25-q75", "layer min-max"


def run_rows(table: pd.DataFrame, run: str, **match) -> pd.DataFrame:
    """Rows of ``table`` for ``run`` (and column == value for each match whose column exists); may be empty."""
    sub = table[table["run"] == run]
    for column, value in match.items():
        if column in sub:
            sub = sub[sub[column] == value]
    return sub


def _rows(table: pd.DataFrame, run: str, name: str, **match) -> pd.DataFrame:
    sub = run_rows(table, run, **match)
    if sub.empty:
        raise KeyError(f"{name} has no rows for run {run!r}" + (f" ({match})" if match else ""))
    return sub


def _q(values, q: float) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.quantile(v, q)) if v.size else float("nan")


def run_quantities(tables: dict, run: str, method: str, column_norm: str) -> list[dict]:
    """The headline quantities of one run: {quantity, value, band_low, band_high, band, source}.

    ``tables`` holds layer_spectra, table2_self_alignment, cumulative_summary, coupling,
    coupling_summary and mesoscale (the combined tables); coupling rows are those of the
    primary community ``method`` and the configured ``column_norm`` reading."""
    out = []

    def add(quantity, value, source, low=np.nan, high=np.nan, band=""):
        out.append({"quantity": quantity, "value": float(value), "band_low": float(low), "band_high": float(high),
                    "band": band, "source": source})

    s = _rows(tables["coupling_summary"], run, "coupling_summary", method=method).iloc[0]
    n_sig = int(s["n_fdr_sig_pos"]) + int(s["n_fdr_sig_neg"])
    add("n_fdr_sig", n_sig, "coupling_summary: n_fdr_sig_pos + n_fdr_sig_neg")
    add("frac_fdr_sig", n_sig / int(s["n_layers"]), "coupling_summary: (n_fdr_sig_pos + n_fdr_sig_neg) / n_layers")
    add("frac_fdr_sig_pos", s["frac_fdr_sig_pos"], "coupling_summary: frac_fdr_sig_pos")
    add("frac_fdr_sig_neg", s["frac_fdr_sig_neg"], "coupling_summary: frac_fdr_sig_neg")
    c = _rows(tables["coupling"], run, "coupling", method=method, column_norm=column_norm)
    add("median_cohens_d", s["median_cohens_d"], "coupling_summary: median_cohens_d",
        _q(c["cohens_d"], 0.25), _q(c["cohens_d"], 0.75), LAYER_IQR)
    m = _rows(tables["mesoscale"], run, "mesoscale", method=method)
    add("median_mesoscale_z", s["median_mesoscale_z"], "coupling_summary: median_mesoscale_z",
        _q(m["z"], 0.25), _q(m["z"], 0.75), LAYER_IQR)
    add("frac_mesoscale_above_null", int(s["n_mesoscale_above_null"]) / int(s["n_layers"]),
        "coupling_summary: n_mesoscale_above_null / n_layers")

    cs = _rows(tables["cumulative_summary"], run, "cumulative_summary").iloc[0]
    add("erank_p0", cs["erank_first"], "cumulative_summary: erank_first"
        + (f" (truncated SVD: capped at {int(cs['kept_rank'])})" if cs.get("method") == "truncated" else ""))

    spectra = _rows(tables["layer_spectra"], run, "layer_spectra")
    t2 = _rows(tables["table2_self_alignment"], run, "table2_self_alignment").iloc[0]
    for regime in ("early", "mid", "late"):
        layers = spectra.loc[spectra["regime"] == regime, "self_alignment_J"]
        add(f"self_alignment_{regime}", t2[regime], f"table2_self_alignment: {regime}",
            _q(layers, 0.25), _q(layers, 0.75), LAYER_IQR)
    for column in ("frac_complex", "frac_complex_robust"):
        if column in spectra:
            add(column, spectra[column].mean(), f"layer_spectra: mean of {column} over layers",
                spectra[column].min(), spectra[column].max(), LAYER_RANGE)
    return out


def series_table(tables: dict, series: dict[str, dict], method: str, column_norm: str) -> pd.DataFrame:
    """The long table (``COLUMNS``) of every run of every declared series, in declared order."""
    rows = []
    for name, spec in series.items():
        for run, step in zip(spec["runs"], spec["steps"]):
            for q in run_quantities(tables, run, method, column_norm):
                rows.append({"series": name, "run": run, "step": int(step), **q})
    return pd.DataFrame(rows, columns=COLUMNS)


def trend(steps, values) -> dict:
    """Spearman ρ of the values against training step, and their first and last value.

    ρ is NaN when the values are constant (no order to rank) or fewer than 2 are finite."""
    x, y = np.asarray(steps, float), np.asarray(values, float)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    rho, _ = spearman(x, y, min_n=2)
    return {"rho": rho, "first": float(y[0]) if y.size else float("nan"),
            "last": float(y[-1]) if y.size else float("nan"), "n": int(y.size),
            "monotone": bool(y.size >= 2 and (np.all(np.diff(y) >= 0) or np.all(np.diff(y) <= 0)))}


def grows(t: dict, sign: int = +1) -> bool:
    """The rule over a declared order: ρ(step, value) has the sign and the last value is beyond the first."""
    return bool(np.isfinite(t["rho"]) and sign * t["rho"] > 0 and sign * (t["last"] - t["first"]) > 0)
