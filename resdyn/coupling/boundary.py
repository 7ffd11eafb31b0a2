"""Test 3 (boundary units): do the units that bridge communities carry larger Jacobian columns?

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
§3.2, Appendix A.5 and Fig. 8.

Column i of J_l is the response to input unit i, so the participation of unit i is read at
the block's input snapshot 2l. Cohen's d of column norms, top vs bottom participation tails;
two-sided label-permutation p; BH across the layers of each run, method and column-norm
reading; Spearman between participation and column norm per layer; across layers, Spearman
between self-alignment and d (permutation p). The paper's ||J_{:,i}|| is read two ways, both
reported: ``per_sample_mean`` (mean over samples of each sample's column norm) and
``mean_jacobian`` (column norm of the layer's mean Jacobian). Units tied at a tail cut are
all included or ordered at random (``stats.tail_indices``); the tail sizes are in the table.
"""
from __future__ import annotations

import numpy as np

from resdyn.core.linalg import spearman
from resdyn.coupling import stats
from resdyn.coupling.snapshots import rng_for


def boundary_test(participation, col_norm, tail_fraction: float, n_perm: int, rng, *,
                  tail_ties: str = "include", tie_rng=None, tails=None) -> dict:
    """Test 3 for one layer: Cohen's d (top vs bottom participation tails) and Spearman.

    ``tails`` = (top, bottom) index arrays reuses tails already drawn (both column-norm
    readings of a layer share them); otherwise they come from ``stats.tail_indices`` with
    ``tail_ties`` (``tie_rng`` for ``random``). Tails that share units (``include`` when
    most units tie) leave d and p undefined (NaN).
    """
    p, c = np.asarray(participation, float), np.asarray(col_norm, float)
    if p.shape != c.shape:
        raise ValueError(f"participation {p.shape} and column norms {c.shape} differ in shape")
    top, bottom = tails if tails is not None else stats.tail_indices(p, tail_fraction, tail_ties, tie_rng)
    if np.intersect1d(top, bottom).size:
        d, p_perm = float("nan"), float("nan")
    else:
        d, p_perm = stats.cohens_d_permutation(c[top], c[bottom], c, n_perm, rng)
    rho, rho_p = spearman(p, c)
    return {
        "n_tail": stats.tail_size(len(p), tail_fraction),
        "n_tail_top": len(top),
        "n_tail_bottom": len(bottom),
        "mean_colnorm_top": float(c[top].mean()),
        "mean_colnorm_bottom": float(c[bottom].mean()),
        "participation_top_min": float(p[top].min()),
        "participation_bottom_max": float(p[bottom].max()),
        "cohens_d": d,
        "p_perm": p_perm,
        "spearman_rho": rho,
        "spearman_p": rho_p,
    }


def boundary_rows(run: str, method: str, participation, readings: dict, pairs, self_alignment, *,
                  tail_fraction: float, tail_ties: str, n_perm: int, alpha: float, seed: int) -> dict[str, list[dict]]:
    """Test 3 at every layer, {column-norm reading: one row per layer}, with BH within each
    reading. The tails depend on participation only, so all readings share them."""
    part = np.asarray(participation)
    tails = [stats.tail_indices(part[s_in], tail_fraction, tail_ties, rng_for(seed, method, layer, "tail_ties"))
             for layer, (s_in, _) in enumerate(pairs)]
    by_reading = {}
    for reading, cols in readings.items():
        rows = []
        for layer, (s_in, _) in enumerate(pairs):
            res = boundary_test(part[s_in], cols[layer], tail_fraction, n_perm,
                                rng_for(seed, method, layer, "boundary"), tails=tails[layer])
            rows.append({"run": run, "method": method, "column_norm": reading, "layer": layer, "snapshot": s_in,
                         **res, "self_alignment": float(self_alignment[layer])})
        q, rej = stats.benjamini_hochberg([r["p_perm"] for r in rows], alpha)
        for r, qi, ri in zip(rows, q, rej):
            r["q_bh"] = float(qi)
            r["significant"] = bool(ri)
            r["significant_positive"] = bool(ri and r["cohens_d"] > 0)
            r["significant_negative"] = bool(ri and r["cohens_d"] < 0)
        by_reading[reading] = rows
    return by_reading


def selfalign_coupling(self_alignment, rows: list[dict], n_perm: int, seed: int, method: str) -> tuple[float, float]:
    """Spearman ρ between self-alignment and d across layers, permutation p; layers whose tails
    overlap (d undefined) drop out, and fewer than 3 left give NaN."""
    d = np.array([r["cohens_d"] for r in rows])
    ok = np.isfinite(d)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    return stats.spearman_permutation(np.asarray(self_alignment, float)[ok], d[ok], n_perm,
                                      rng_for(seed, method, 0, "selfalign"))
