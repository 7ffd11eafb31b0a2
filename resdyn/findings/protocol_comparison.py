"""How much the single-token simplification moves each per-layer finding: the two protocols side by side.

Tests the single-token simplification of Fernando & Guitchounts (2026), "Dynamics of the
Transformer Residual Stream", Appendix A.2.

Input: one run's tables computed twice, once with the paper's single-token Jacobians and once
in context (same model, corpus and layers): `layer_spectra.csv` rows, and optionally
`cumulative.csv` and `coupling.csv` rows. Output: the long table `protocol_comparison.csv`,
one row per (layer, quantity) with columns COLUMNS; relative_difference is
(in_context − single_token) / |single_token|, empty where single_token is 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = ["run", "layer", "quantity", "single_token", "in_context", "difference", "relative_difference"]
# per-layer columns of layer_spectra.csv compared (frac_complex_robust only where both tables have it)
SPECTRA_QUANTITIES = ("kappa_median", "self_alignment_J", "henrici_J", "frac_complex")
OPTIONAL_SPECTRA_QUANTITIES = ("frac_complex_robust",)
CUMULATIVE_QUANTITY = "erank_P"  # erank of P_ℓ = J_{L−1} ⋯ J_ℓ, column `erank` of cumulative.csv
COUPLING_QUANTITY = "cohens_d"  # boundary-unit effect size, column `cohens_d` of coupling.csv
QUANTITIES = SPECTRA_QUANTITIES + OPTIONAL_SPECTRA_QUANTITIES + (CUMULATIVE_QUANTITY, COUPLING_QUANTITY)


@dataclass
class ProtocolTables:
    """One protocol's tables for a run. `run` picks that run's rows from multi-run tables
    (default: the only run present)."""

    layer_spectra: pd.DataFrame
    cumulative: pd.DataFrame | None = None
    coupling: pd.DataFrame | None = None
    run: str | None = None


def _run_rows(table: pd.DataFrame, run: str | None, what: str) -> tuple[str, pd.DataFrame]:
    runs = sorted(table["run"].unique()) if "run" in table else []
    if run is None:
        if len(runs) != 1:
            raise ValueError(f"{what}: holds runs {runs}; name the run to compare (ProtocolTables.run)")
        run = runs[0]
    rows = table[table["run"] == run]
    if rows.empty:
        raise ValueError(f"{what}: no rows for run {run!r} (runs present: {runs})")
    return run, rows


def _per_layer(rows: pd.DataFrame, columns, what: str) -> pd.DataFrame:
    """rows indexed by layer, one row per layer, with `columns` present."""
    missing = [c for c in ("layer", *columns) if c not in rows]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}")
    if rows["layer"].duplicated().any():
        dup = sorted(rows.loc[rows["layer"].duplicated(), "layer"].unique())
        raise ValueError(f"{what}: more than one row for layer(s) {dup}")
    return rows.set_index("layer")[list(columns)].astype(float)


def _single_value(rows: pd.DataFrame, column: str, what: str, chosen=None):
    values = sorted(rows[column].unique())
    if chosen is None:
        if len(values) != 1:
            raise ValueError(f"{what}: several {column} values {values}; choose one")
        return values[0]
    if chosen not in values:
        raise ValueError(f"{what}: no rows with {column} {chosen!r} (present: {values})")
    return chosen


def _paired(single: pd.DataFrame, context: pd.DataFrame, quantity_of: dict[str, str], what: str) -> pd.DataFrame:
    """Long rows (layer, quantity, single_token, in_context) for the same layers in both protocols."""
    if set(single.index) != set(context.index):
        only_s = sorted(set(single.index) - set(context.index))
        only_c = sorted(set(context.index) - set(single.index))
        raise ValueError(f"{what}: the protocols cover different layers (single-token only: {only_s}; "
                         f"in-context only: {only_c}); compare the same run and layers")
    parts = []
    for column, quantity in quantity_of.items():
        parts.append(pd.DataFrame({"layer": single.index, "quantity": quantity,
                                   "single_token": single[column].to_numpy(),
                                   "in_context": context.loc[single.index, column].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def protocol_comparison(single_token: ProtocolTables, in_context: ProtocolTables,
                        coupling_method: str | None = None) -> pd.DataFrame:
    """The comparison table (COLUMNS), `run` named after the single-token run, rows in QUANTITIES order, then by layer.

    coupling_method picks the community method of coupling.csv's rows (default: the only one present).
    """
    run, s_spec = _run_rows(single_token.layer_spectra, single_token.run, "single-token layer_spectra")
    _, c_spec = _run_rows(in_context.layer_spectra, in_context.run, "in-context layer_spectra")
    quantities = list(SPECTRA_QUANTITIES)
    for name in OPTIONAL_SPECTRA_QUANTITIES:
        present = (name in s_spec, name in c_spec)
        if present == (True, True):
            quantities.append(name)
        elif any(present):
            side = "single-token" if present[0] else "in-context"
            raise ValueError(f"{name} is in the {side} layer_spectra only: the two tables come from different "
                             "versions of the workflow; rebuild both")
    parts = [_paired(_per_layer(s_spec, quantities, "single-token layer_spectra"),
                     _per_layer(c_spec, quantities, "in-context layer_spectra"),
                     {q: q for q in quantities}, "layer_spectra")]
    if (single_token.cumulative is None) != (in_context.cumulative is None):
        raise ValueError("cumulative rows given for one protocol only")
    if single_token.cumulative is not None:
        tables = []
        for side, tabs in (("single-token", single_token), ("in-context", in_context)):
            _, rows = _run_rows(tabs.cumulative, tabs.run, f"{side} cumulative")
            _single_value(rows, "method", f"{side} cumulative")  # one product method per table
            tables.append(_per_layer(rows, ["erank"], f"{side} cumulative"))
        parts.append(_paired(*tables, {"erank": CUMULATIVE_QUANTITY}, "cumulative"))
    if (single_token.coupling is None) != (in_context.coupling is None):
        raise ValueError("coupling rows given for one protocol only")
    if single_token.coupling is not None:
        tables = []
        for side, tabs in (("single-token", single_token), ("in-context", in_context)):
            _, rows = _run_rows(tabs.coupling, tabs.run, f"{side} coupling")
            method = _single_value(rows, "method", f"{side} coupling", coupling_method)
            tables.append(_per_layer(rows[rows["method"] == method], ["cohens_d"], f"{side} coupling ({method})"))
        parts.append(_paired(*tables, {"cohens_d": COUPLING_QUANTITY}, "coupling"))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "run", run)
    out["difference"] = out["in_context"] - out["single_token"]
    scale = out["single_token"].abs()
    out["relative_difference"] = np.where(scale > 0, out["difference"] / scale.where(scale > 0, 1.0), np.nan)
    order = {q: i for i, q in enumerate(QUANTITIES)}
    out = out.sort_values(["quantity", "layer"], key=lambda c: c.map(order) if c.name == "quantity" else c)
    return out[COLUMNS].reset_index(drop=True)
