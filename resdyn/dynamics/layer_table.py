"""The per-layer spectral table of one run (one row per layer) and its eigenvalues.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.3 and Table 2.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from resdyn.core.linalg import henrici_departure
from resdyn.dynamics import spectra
from resdyn.dynamics.stat_names import STAT_NAMES


def layer_spectra(run: str, layers: Iterable[dict], k: int, regime_bounds, regime_layers=None) -> tuple[pd.DataFrame, dict]:
    """Table rows and eigenvalues (eig_J, eig_R: complex (L, d); robust_J: bool (L, d)) from each
    layer's Jacobian file.

    `layers` yields the layer files' arrays in layer order; only the top-k singular
    subspaces of the previous layer are kept between iterations. Spectra come from the float64
    mean (`mean_J_f64`) where the file has it, else from the float32 `mean_J`.
    """
    rows, eig_J, eig_R, robust_J = [], [], [], []
    previous = None  # (U_k of J, U_k of R) of the previous layer
    for layer, arrays in enumerate(layers):
        mean_J = np.asarray(arrays["mean_J_f64"] if "mean_J_f64" in arrays else arrays["mean_J"], dtype=np.float64)
        d = mean_J.shape[0]
        if k > d:
            raise ValueError(f"spectra.k = {k} exceeds the hidden size d = {d} of run {run!r}")
        R = mean_J - np.eye(d)
        eJ, cond = spectra.eigen_conditioned(mean_J)
        eR = eJ - 1.0  # the spectrum of R = J - I is J's shifted: one eigensolve, not two
        # Radius at the Jacobians' precision (float32 unless every sample was made in float64).
        eps = float(arrays["jacobian_eps"]) if "jacobian_eps" in arrays else float(np.finfo(np.float32).eps)
        robust = spectra.robust_complex(eJ, spectra.perturbation_radius(mean_J, cond, eps))
        uJ, vJ = spectra.top_singular_subspaces(mean_J, k)
        uR, vR = spectra.top_singular_subspaces(R, k)
        row = {"run": run, "layer": layer, "d": d, **spectra.eigen_summary(eJ)}
        row.update(frac_complex_robust=float(robust.mean()), eig_cond_median=float(np.median(cond)),
                   eig_cond_max=float(cond.max()))
        row.update(
            self_alignment_J=spectra.self_alignment(uJ, vJ),
            self_alignment_R=spectra.self_alignment(uR, vR),
            henrici_J=henrici_departure(np.sum(np.abs(mean_J) ** 2), eJ),
            henrici_R=henrici_departure(np.sum(np.abs(R) ** 2), eR),
            residual_norm_ratio=float(np.linalg.norm(R) / np.linalg.norm(mean_J)),
            random_alignment_baseline=k / d,
            n_samples=len(arrays["kappa"]),
            **_kappa_resolution(arrays),
        )
        if previous is not None:  # forward alignment belongs to the earlier layer of the pair
            rows[-1]["forward_alignment_J"] = spectra.forward_alignment(previous[0], vJ)
            rows[-1]["forward_alignment_R"] = spectra.forward_alignment(previous[1], vR)
        for name in STAT_NAMES:
            row.update(spectra.quantile_summary(name, np.asarray(arrays[name])))
        log_kappa = np.log10(np.asarray(arrays["kappa"], dtype=np.float64))  # κ spans orders of magnitude
        row.update(log10_kappa_mean=float(log_kappa.mean()), log10_kappa_median=float(np.median(log_kappa)))
        rows.append(row)
        eig_J.append(eJ)
        eig_R.append(eR)
        robust_J.append(robust)
        previous = (uJ, uR)
    table = pd.DataFrame(rows)
    table.insert(2, "regime", spectra.regime_labels(len(rows), regime_bounds, regime_layers))
    for col in ("forward_alignment_J", "forward_alignment_R"):
        if col not in table:
            table[col] = np.nan
    return table, {"eig_J": np.array(eig_J), "eig_R": np.array(eig_R), "robust_J": np.array(robust_J)}


def _kappa_resolution(arrays) -> dict[str, int]:
    """Samples whose float32 σ_min was below resolution, and those still censored after any
    float64 recompute (layer files of the old format have neither array: counted as 0 / unknown)."""
    n = len(arrays["kappa"])
    unresolved = arrays["kappa_unresolved"] if "kappa_unresolved" in arrays else np.zeros(n, bool)
    censored = arrays["kappa_censored"] if "kappa_censored" in arrays else np.zeros(n, bool)
    return {"n_kappa_unresolved": int(np.sum(unresolved)), "n_kappa_censored": int(np.sum(censored))}


REGIME_COLUMNS = ["kappa_median", "log10_kappa_mean", "log10_kappa_median", "frac_expanding", "mean_abs_eig",
                  "self_alignment_J", "self_alignment_R", "residual_norm_ratio", "henrici_J", "forward_alignment_J",
                  "forward_alignment_R"]


def regime_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean of each summary over the early/mid/late layers of each run (the paper's Table 2 and Fig. 2d–f)."""
    means = table.groupby(["run", "regime"], sort=False)[REGIME_COLUMNS].mean().reset_index()
    order = {"early": 0, "mid": 1, "late": 2}
    return means.sort_values(["run", "regime"], key=lambda c: c.map(order) if c.name == "regime" else c)


def self_alignment_table(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2: mean J self-alignment per regime, and the layer where it is lowest."""
    rows = []
    for run, t in table.groupby("run", sort=False):
        means = t.groupby("regime")["self_alignment_J"].mean()
        low = t.loc[t["self_alignment_J"].idxmin()]
        rows.append({"run": run, "early": means.get("early"), "mid": means.get("mid"), "late": means.get("late"),
                     "min_layer": int(low["layer"]), "min_self_alignment": float(low["self_alignment_J"])})
    return pd.DataFrame(rows)
