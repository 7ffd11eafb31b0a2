"""Test 2 (mesoscale): how much of a layer's Jacobian the community partition captures.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
§3.2 and Appendix A.5.

K = C_out^T J C_in with community bases C (columns 1/sqrt(n_c) on members; C_in from block
l's input snapshot, C_out from its output snapshot, resdyn.coupling.snapshots); variance
captured = ||C_out K C_in^T||_F^2 / ||J||_F^2 (= ||K||_F^2 / ||J||_F^2 since C has orthonormal
columns), against random same-size partitions (each membership vector shuffled
independently), one-sided z.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from resdyn.coupling import stats
from resdyn.coupling.snapshots import rng_for

Z_ABOVE_NULL = 1.96  # a layer's K counts as above its null at z > 1.96


def _indicator(membership: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    m = np.asarray(membership, dtype=np.int64)
    _, m = np.unique(m, return_inverse=True)
    sizes = np.bincount(m)
    ind = sparse.csr_matrix((np.ones(len(m)), (m, np.arange(len(m)))), shape=(len(sizes), len(m)))
    return ind, sizes


def coarse_grain(J: np.ndarray, m_out, m_in) -> np.ndarray:
    """K = C_out^T J C_in with community bases C (columns 1/sqrt(n_c) on members)."""
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 2 or J.shape[0] != len(m_out) or J.shape[1] != len(m_in):
        raise ValueError(f"J has shape {J.shape}, memberships have {len(m_out)} and {len(m_in)} units")
    a, n_out = _indicator(m_out)
    b, n_in = _indicator(m_in)
    block_sums = (b @ (a @ J).T).T  # (c_out, c_in) sums of J over member blocks
    return block_sums / np.sqrt(np.outer(n_out, n_in))


def variance_captured(J: np.ndarray, m_out, m_in) -> float:
    J = np.asarray(J, dtype=np.float64)
    return float((coarse_grain(J, m_out, m_in) ** 2).sum() / (J**2).sum())


def mesoscale_test(J: np.ndarray, m_out, m_in, n_random: int, rng: np.random.Generator) -> dict:
    """Variance captured by K and its null over ``n_random`` random same-size partitions."""
    J = np.asarray(J, dtype=np.float64)
    total = (J**2).sum()
    if total == 0:
        raise ValueError("Jacobian is identically zero")
    k = coarse_grain(J, m_out, m_in)
    obs = float((k**2).sum() / total)
    m_out, m_in = np.asarray(m_out), np.asarray(m_in)
    null = np.empty(n_random)
    for r in range(n_random):
        null[r] = (coarse_grain(J, rng.permutation(m_out), rng.permutation(m_in)) ** 2).sum() / total
    z, p_z = stats.z_test_greater(obs, null)
    return {
        "variance_captured": obs,
        "sigma_max_k": float(np.linalg.norm(k, 2)),
        "null_mean": float(null.mean()),
        "null_std": float(null.std(ddof=1)) if n_random > 1 else float("nan"),
        "null_p05": float(np.quantile(null, 0.05)),
        "null_p95": float(np.quantile(null, 0.95)),
        "z": z,
        "p_z": p_z,
        "p_perm": stats.permutation_p(obs, null, "greater"),
    }


def mesoscale_rows(run: str, memberships: dict, jacobians, pairs, n_random: int, seed: int,
                   log=None) -> dict[str, list[dict]]:
    """Test 2 at every layer, {method: one row per layer}; layer-outer, so that each Jacobian
    is loaded once for all methods (they are large at d = 4096)."""
    by_method = {method: [] for method in memberships}
    for layer, (s_in, s_out) in enumerate(pairs):
        J = np.asarray(jacobians[layer], dtype=np.float64)
        for method, mem in memberships.items():
            mem = np.asarray(mem)
            if J.shape != (mem.shape[1], mem.shape[1]):
                raise ValueError(f"{run} layer {layer}: Jacobian shape {J.shape} vs {mem.shape[1]} units")
            res = mesoscale_test(J, mem[s_out], mem[s_in], n_random, rng_for(seed, method, layer, "mesoscale"))
            by_method[method].append(
                {"run": run, "method": method, "layer": layer, "in_snapshot": s_in, "out_snapshot": s_out,
                 "n_communities_in": int(len(np.unique(mem[s_in]))),
                 "n_communities_out": int(len(np.unique(mem[s_out]))), **res,
                 "above_null": bool(np.isfinite(res["z"]) and res["z"] > Z_ABOVE_NULL)}
            )
        del J
        if log:
            log(f"{run} layer {layer}: mesoscale done")
    return by_method
