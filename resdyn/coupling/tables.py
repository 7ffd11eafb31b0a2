"""The topology-dynamics coupling tables of one run: Tests 1-3 over every community method.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
§3.2-3.3, Appendix A.5 and D, by the three tests: Test 1 rate level (resdyn.coupling.rate),
Test 2 mesoscale (resdyn.coupling.mesoscale), Test 3 boundary units (resdyn.coupling.boundary),
on the snapshot pairing of resdyn.coupling.snapshots. Also the inputs they read: the
Jacobian layer files' mean J and column norms, and self-alignment from layer_spectra.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from resdyn.coupling.boundary import boundary_rows, selfalign_coupling
from resdyn.coupling.mesoscale import mesoscale_rows
from resdyn.coupling.rate import layer_changes, rate_rows
from resdyn.coupling.snapshots import block_snapshots


def run_coupling(
    run: str,
    memberships: dict[str, np.ndarray],
    participations: dict[str, np.ndarray],
    jacobians: list[np.ndarray],
    col_norms,
    self_alignment: np.ndarray,
    *,
    column_norm: str = "mean_jacobian",
    tail_ties: str = "include",
    tail_fraction: float = 0.1,
    n_perm_rate: int = 10000,
    n_perm_units: int = 5000,
    n_random_partitions: int = 100,
    alpha: float = 0.05,
    seed: int = 0,
    log=None,
) -> dict[str, pd.DataFrame]:
    """All three tests for one run and every method. Returns the tables
    ``coupling``, ``mesoscale``, ``rate_coupling`` and ``coupling_summary``.

    ``col_norms`` is a list of per-layer column-norm vectors (one reading, named by
    ``column_norm``) or a dict {reading: list}: Test 3 then runs once per reading (rows of
    ``coupling`` carry ``column_norm``; BH runs within each reading), and the summary's
    counts use the reading ``column_norm``. Both readings share each layer's tails.
    """
    n_layers = len(jacobians)
    readings = dict(col_norms) if isinstance(col_norms, dict) else {column_norm: col_norms}
    if column_norm not in readings:
        raise ValueError(f"coupling.column_norm = {column_norm!r} is not among the readings given {sorted(readings)}")
    for name, cols in readings.items():
        if len(cols) != n_layers or len(self_alignment) != n_layers:
            raise ValueError(
                f"{run}: {n_layers} Jacobians, {len(cols)} column-norm vectors ({name}), "
                f"{len(self_alignment)} self-alignment values"
            )
    pairs = block_snapshots(n_layers)
    for method, mem in memberships.items():
        if np.shape(mem)[0] != 2 * n_layers:
            raise ValueError(f"{run}/{method}: {np.shape(mem)[0]} snapshot partitions for {n_layers} layers "
                             f"(need {2 * n_layers})")
    meso_by_method = mesoscale_rows(run, memberships, jacobians, pairs, n_random_partitions, seed, log)
    coupling_rows, meso_rows, rates, summary_rows = [], [], [], []
    for method, mem in memberships.items():
        meso = meso_by_method[method]
        changes = layer_changes(mem, meso, pairs)
        for m, change in zip(meso, changes):
            m.update(change)
        meso_rows += meso
        rates += rate_rows(run, method, changes, n_perm_rate, seed)
        by_reading = boundary_rows(run, method, participations[method], readings, pairs, self_alignment,
                                   tail_fraction=tail_fraction, tail_ties=tail_ties, n_perm=n_perm_units,
                                   alpha=alpha, seed=seed)
        for rows in by_reading.values():
            coupling_rows += rows
        summary_rows.append(_summary(run, method, column_norm, by_reading[column_norm], meso,
                                     selfalign_coupling(self_alignment, by_reading[column_norm], n_perm_rate, seed,
                                                        method)))
        if log:
            log(f"{run}/{method}: {summary_rows[-1]['n_fdr_sig_pos']}+/{summary_rows[-1]['n_fdr_sig_neg']}- "
                f"FDR-significant layers of {n_layers}")
    return {
        "coupling": pd.DataFrame(coupling_rows),
        "mesoscale": pd.DataFrame(meso_rows),
        "rate_coupling": pd.DataFrame(rates),
        "coupling_summary": pd.DataFrame(summary_rows),
    }


def _summary(run: str, method: str, column_norm: str, rows: list[dict], meso: list[dict], selfalign) -> dict:
    """One run and method: FDR counts of Test 3 (reading ``column_norm``), its median d, the
    self-alignment coupling, and Test 2's layers above their null."""
    d = np.array([r["cohens_d"] for r in rows])
    zs = np.array([m["z"] for m in meso])
    return {
        "run": run, "method": method, "column_norm": column_norm, "n_layers": len(rows),
        "n_fdr_sig_pos": int(sum(r["significant_positive"] for r in rows)),
        "n_fdr_sig_neg": int(sum(r["significant_negative"] for r in rows)),
        "frac_fdr_sig_pos": float(np.mean([r["significant_positive"] for r in rows])),
        "frac_fdr_sig_neg": float(np.mean([r["significant_negative"] for r in rows])),
        "median_cohens_d": float(np.nanmedian(d)), "mean_cohens_d": float(np.nanmean(d)),
        "selfalign_d_spearman_rho": selfalign[0], "selfalign_d_p_perm": selfalign[1],
        "n_mesoscale_above_null": int(sum(m["above_null"] for m in meso)),
        "median_mesoscale_z": float(np.nanmedian(zs)),
    }


COLUMN_NORMS = ("per_sample_mean", "mean_jacobian")


class JacobianFiles:
    """Lazy view of per-layer Jacobian files (``layer_XX.npz`` with ``mean_J``, ``col_norm_mean``).

    ``jac[l]`` loads mean_J of layer l; :meth:`column_norms` gives the per-unit column norms:
    ``per_sample_mean`` = mean over samples of ||J^(n)_{:,i}|| (the stored ``col_norm_mean``),
    ``mean_jacobian`` = ||mean_J_{:,i}||.
    """

    def __init__(self, paths, column_norm: str = "per_sample_mean"):
        if column_norm not in COLUMN_NORMS:
            raise ValueError(f"coupling.column_norm must be one of {COLUMN_NORMS}, got {column_norm!r}")
        self.paths = list(paths)
        self.column_norm = column_norm

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, layer: int) -> np.ndarray:
        with np.load(self.paths[layer]) as z:  # the float64 accumulator where the file has it
            J = z["mean_J_f64" if "mean_J_f64" in z else "mean_J"]
        if not np.all(np.isfinite(J)):
            raise ValueError(f"{self.paths[layer]}: non-finite entries in mean_J")
        return J

    def all_column_norms(self) -> dict[str, list[np.ndarray]]:
        """Both readings, {reading: per-layer vectors}, the configured one first."""
        readings = (self.column_norm,) + tuple(r for r in COLUMN_NORMS if r != self.column_norm)
        return {r: JacobianFiles(self.paths, r).column_norms() for r in readings}

    def column_norms(self) -> list[np.ndarray]:
        out = []
        for layer, path in enumerate(self.paths):
            if self.column_norm == "per_sample_mean":
                with np.load(path) as z:
                    if "col_norm_mean" not in z:
                        raise ValueError(f"{path}: no 'col_norm_mean' array")
                    c = np.asarray(z["col_norm_mean"], dtype=np.float64)
            else:
                c = np.linalg.norm(np.asarray(self[layer], dtype=np.float64), axis=0)
            if not np.all(np.isfinite(c)):
                raise ValueError(f"{path}: non-finite column norms")
            out.append(c)
        return out


def self_alignment_from_spectra(table: pd.DataFrame, n_layers: int, run: str | None = None) -> np.ndarray:
    """Per-layer ``self_alignment_J`` from a layer_spectra table (one row per layer)."""
    if run is not None and "run" in table:
        table = table[table["run"] == run]
    for col in ("layer", "self_alignment_J"):
        if col not in table:
            raise ValueError(f"layer_spectra table has no column {col!r}")
    series = table.set_index("layer")["self_alignment_J"]
    missing = sorted(set(range(n_layers)) - set(series.index))
    if missing:
        raise ValueError(f"layer_spectra lacks layers {missing}")
    return series.loc[list(range(n_layers))].to_numpy(dtype=float)
