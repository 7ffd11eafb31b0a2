"""Test 1 (rate level): does the partition change fastest where the mesoscale operator does?

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
§3.3, Appendix A.5 and D (Table 4, Figure S9).

Topology disruption between layers l and l+1 is 1 - NMI(partition at 2l, at 2l+2), the two
blocks' input snapshots, giving L-1 adjacent pairs. Spearman between the disruption and
|Δσ_max(K)|, |Δ variance captured| (and the signed Δσ_max(K) and Δ variance of Figure S9),
Δ taken between the same adjacent layers of Test 2's rows; two-sided permutation p.
"""
from __future__ import annotations

import numpy as np

from resdyn.coupling import stats
from resdyn.coupling.snapshots import rng_for
from resdyn.topology.communities import nmi

MIN_LAYERS = 4  # fewer layers leave too few adjacent pairs for a rank correlation


def layer_changes(membership, meso: list[dict], pairs) -> list[dict]:
    """Per layer l, the change to layer l+1: disruption, Δσ_max(K), Δ variance captured
    (NaN at the last layer), from the partitions and Test 2's rows (one per layer)."""
    mem, n_layers = np.asarray(membership), len(pairs)
    disruption = np.array([1.0 - nmi(mem[pairs[l][0]], mem[pairs[l + 1][0]]) for l in range(n_layers - 1)])
    d_sig = np.diff([m["sigma_max_k"] for m in meso])
    d_var = np.diff([m["variance_captured"] for m in meso])
    last = [np.nan]
    return [{"disruption_next": x, "delta_sigma_max_next": s, "delta_variance_next": v}
            for x, s, v in zip([*disruption, *last], [*d_sig, *last], [*d_var, *last])]


def rate_rows(run: str, method: str, changes: list[dict], n_perm: int, seed: int) -> list[dict]:
    """Test 1 for one run and method: one row per measure of the operator's change."""
    n_layers = len(changes)
    pairs = changes[:-1]
    disruption = np.array([c["disruption_next"] for c in pairs])
    d_sig = np.array([c["delta_sigma_max_next"] for c in pairs])
    d_var = np.array([c["delta_variance_next"] for c in pairs])
    measures = {"abs_delta_sigma_max": np.abs(d_sig), "abs_delta_variance_captured": np.abs(d_var),
                "delta_sigma_max": d_sig, "delta_variance_captured": d_var}
    rows = []
    for name, values in measures.items():
        if n_layers >= MIN_LAYERS:
            rho, p = stats.spearman_permutation(disruption, values, n_perm, rng_for(seed, method, 0, "rate"))
        else:
            rho, p = float("nan"), float("nan")
        rows.append({"run": run, "method": method, "measure": name, "spearman_rho": rho, "p_perm": p,
                     "n": len(values)})
    return rows
