"""Each protocol's tables by the main stages' own functions, for the protocol comparison.

Tests the single-token simplification of Fernando & Guitchounts (2026), "Dynamics of the
Transformer Residual Stream", Appendix A.2: the layer files of both protocols
(resdyn.dynamics.protocols) go through layer_spectra, the cumulative products and coupling
Tests 1-3 exactly as the main stages' do, so the two protocols differ only in their Jacobians.
"""
from __future__ import annotations

import numpy as np

from resdyn.coupling.tables import COLUMN_NORMS, run_coupling
from resdyn.dynamics.cumulative import cumulative_products, cumulative_tables
from resdyn.dynamics.layer_table import layer_spectra


def protocol_tables(run: str, arrays: list[dict], memberships: dict, participations: dict, *, k: int,
                    regime_bounds, regime_layers=None, cumulative_method: str = "exact", rank: int = 512,
                    coupling: dict | None = None) -> dict:
    """One protocol's tables, by the main stages' own functions: layer_spectra, cumulative,
    cumulative_summary and the coupling tables (Tests 1-3 on these Jacobians' column norms)."""
    spectra, _ = layer_spectra(run, arrays, k, regime_bounds, regime_layers)
    mean_js = [np.asarray(a["mean_J"], dtype=np.float64) for a in arrays]
    result = cumulative_products(mean_js, method=cumulative_method, rank=rank)
    per_layer, summary, _ = cumulative_tables(run, result, spectra, cumulative_method)
    readings = {"mean_jacobian": [np.linalg.norm(J, axis=0) for J in mean_js],
                "per_sample_mean": [np.asarray(a["col_norm_mean"], float) for a in arrays]}
    first = (coupling or {}).get("column_norm", "mean_jacobian")  # the reading the summary counts comes first
    col_norms = {r: readings[r] for r in (first, *[r for r in COLUMN_NORMS if r != first])}
    coupled = run_coupling(run, memberships, participations, mean_js, col_norms,
                           spectra["self_alignment_J"].to_numpy(float), **(coupling or {}))
    return {"layer_spectra": spectra, "cumulative": per_layer, "cumulative_summary": summary, **coupled}
