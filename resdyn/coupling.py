"""Topology-dynamics coupling tests (paper §3.2-3.3, Appendix A.5 and D).

Snapshot pairing. Snapshot 2l is the residual state before attention of block l, 2l+1
before its MLP. Block l maps snapshot 2l (its input) to snapshot 2l+2 (its output, the
next block's input). Hence:

* the input community basis C_in of block l comes from snapshot 2l and the output basis
  C_out from snapshot 2l+2; the last block has no snapshot 2L, so its output basis falls
  back to snapshot 2L-1 (before its MLP, the latest state recorded). ``out_snapshot`` in
  the tables says which one was used;
* column i of J_l is the response to input unit i, so the participation of unit i is read
  at the block's input snapshot 2l (Test 3);
* topology disruption between layers l and l+1 is 1 - NMI(partition at 2l, at 2l+2),
  giving L-1 adjacent pairs (Test 1).

Test 1 (rate level): Spearman between disruption and |Δσ_max(K)|, |Δ variance captured|
(and the signed Δσ_max(K) of Figure S9), two-sided permutation p.
Test 2 (mesoscale): K = C_out^T J C_in, variance captured = ||C_out K C_in^T||_F^2/||J||_F^2
(= ||K||_F^2 / ||J||_F^2 since C has orthonormal columns), vs random same-size partitions
(each membership vector shuffled independently), one-sided z.
Test 3 (boundary units): Cohen's d of column norms, top vs bottom participation tails;
two-sided label-permutation p; BH across the layers of each run, method and column-norm
reading; Spearman between participation and column norm per layer; across layers,
Spearman between self-alignment and d (permutation p). The paper's ||J_{:,i}|| is read
two ways, both reported: ``per_sample_mean`` (mean over samples of each sample's column
norm) and ``mean_jacobian`` (column norm of the layer's mean Jacobian). Units tied at a
tail cut are all included or ordered at random (``stats.tail_indices``); the tail sizes
are in the table.

Every random draw comes from SeedSequence(seed, spawn_key=(crc32(method), layer, test)),
so results do not depend on job or loop order.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy import sparse

from resdyn import stats
from resdyn.communities import nmi

TEST_IDS = {"mesoscale": 1, "boundary": 2, "rate": 3, "selfalign": 4, "tail_ties": 5}


def rng_for(seed: int, method: str, layer: int, test: str) -> np.random.Generator:
    key = (zlib.crc32(method.encode()), int(layer), TEST_IDS[test])
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def block_snapshots(n_layers: int) -> list[tuple[int, int]]:
    """(input snapshot, output snapshot) of every block (see module docstring)."""
    if n_layers < 1:
        raise ValueError("need at least one layer")
    return [(2 * l, 2 * l + 2 if l < n_layers - 1 else 2 * l + 1) for l in range(n_layers)]


# ------------------------------------------------------------------- mesoscale
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


# ------------------------------------------------------------------- boundary units
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
    rho, rho_p = stats.spearman(p, c)
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


# ------------------------------------------------------------------- one run
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
    coupling_rows, meso_rows, rate_rows, summary_rows = [], [], [], []
    for method, mem in memberships.items():
        if np.shape(mem)[0] != 2 * n_layers:
            raise ValueError(f"{run}/{method}: {np.shape(mem)[0]} snapshot partitions for {n_layers} layers "
                             f"(need {2 * n_layers})")
    # Test 2, layer-outer so that each Jacobian is loaded once (they are large at d = 4096)
    meso_by_method = {method: [] for method in memberships}
    for layer, (s_in, s_out) in enumerate(pairs):
        J = np.asarray(jacobians[layer], dtype=np.float64)
        for method, mem in memberships.items():
            mem = np.asarray(mem)
            if J.shape != (mem.shape[1], mem.shape[1]):
                raise ValueError(f"{run} layer {layer}: Jacobian shape {J.shape} vs {mem.shape[1]} units")
            res = mesoscale_test(J, mem[s_out], mem[s_in], n_random_partitions, rng_for(seed, method, layer, "mesoscale"))
            meso_by_method[method].append(
                {"run": run, "method": method, "layer": layer, "in_snapshot": s_in, "out_snapshot": s_out,
                 "n_communities_in": int(len(np.unique(mem[s_in]))),
                 "n_communities_out": int(len(np.unique(mem[s_out]))), **res}
            )
        del J
        if log:
            log(f"{run} layer {layer}: mesoscale done")
    for method, mem in memberships.items():
        mem = np.asarray(mem)
        part = np.asarray(participations[method])
        meso = meso_by_method[method]
        # Test 1: adjacent layers l, l+1 (input snapshots 2l, 2l+2)
        disruption = np.array([1.0 - nmi(mem[pairs[l][0]], mem[pairs[l + 1][0]]) for l in range(n_layers - 1)])
        sig = np.array([m["sigma_max_k"] for m in meso])
        var = np.array([m["variance_captured"] for m in meso])
        d_sig, d_var = np.diff(sig), np.diff(var)
        for l, m in enumerate(meso):
            last = l == n_layers - 1
            m["above_null"] = bool(np.isfinite(m["z"]) and m["z"] > 1.96)
            m["disruption_next"] = np.nan if last else disruption[l]
            m["delta_sigma_max_next"] = np.nan if last else d_sig[l]
            m["delta_variance_next"] = np.nan if last else d_var[l]
        meso_rows += meso
        measures = {"abs_delta_sigma_max": np.abs(d_sig), "abs_delta_variance_captured": np.abs(d_var),
                    "delta_sigma_max": d_sig, "delta_variance_captured": d_var}
        for name, values in measures.items():
            if n_layers >= 4:
                rho, p = stats.spearman_permutation(disruption, values, n_perm_rate, rng_for(seed, method, 0, "rate"))
            else:
                rho, p = float("nan"), float("nan")
            rate_rows.append({"run": run, "method": method, "measure": name, "spearman_rho": rho, "p_perm": p,
                              "n": len(values)})
        # Test 3: the tails depend on participation only, so both readings share them
        tails = [stats.tail_indices(part[s_in], tail_fraction, tail_ties, rng_for(seed, method, layer, "tail_ties"))
                 for layer, (s_in, _) in enumerate(pairs)]
        by_reading = {}
        for reading, cols in readings.items():
            rows = []
            for layer, (s_in, _) in enumerate(pairs):
                res = boundary_test(part[s_in], cols[layer], tail_fraction, n_perm_units,
                                    rng_for(seed, method, layer, "boundary"), tails=tails[layer])
                rows.append({"run": run, "method": method, "column_norm": reading, "layer": layer, "snapshot": s_in,
                             **res, "self_alignment": float(self_alignment[layer])})
            q, rej = stats.benjamini_hochberg([r["p_perm"] for r in rows], alpha)
            for r, qi, ri in zip(rows, q, rej):
                r["q_bh"] = float(qi)
                r["significant"] = bool(ri)
                r["significant_positive"] = bool(ri and r["cohens_d"] > 0)
                r["significant_negative"] = bool(ri and r["cohens_d"] < 0)
            coupling_rows += rows
            by_reading[reading] = rows
        rows = by_reading[column_norm]
        d = np.array([r["cohens_d"] for r in rows])
        ok = np.isfinite(d)  # layers whose tails overlap (d undefined) drop out of the Spearman
        sa_rho, sa_p = (stats.spearman_permutation(np.asarray(self_alignment, float)[ok], d[ok], n_perm_rate,
                                                   rng_for(seed, method, 0, "selfalign"))
                        if ok.sum() >= 3 else (float("nan"), float("nan")))
        zs = np.array([m["z"] for m in meso])
        summary_rows.append({
            "run": run, "method": method, "column_norm": column_norm, "n_layers": n_layers,
            "n_fdr_sig_pos": int(sum(r["significant_positive"] for r in rows)),
            "n_fdr_sig_neg": int(sum(r["significant_negative"] for r in rows)),
            "frac_fdr_sig_pos": float(np.mean([r["significant_positive"] for r in rows])),
            "frac_fdr_sig_neg": float(np.mean([r["significant_negative"] for r in rows])),
            "median_cohens_d": float(np.nanmedian(d)), "mean_cohens_d": float(np.nanmean(d)),
            "selfalign_d_spearman_rho": sa_rho, "selfalign_d_p_perm": sa_p,
            "n_mesoscale_above_null": int(sum(m["above_null"] for m in meso)),
            "median_mesoscale_z": float(np.nanmedian(zs)),
        })
        if log:
            log(f"{run}/{method}: {summary_rows[-1]['n_fdr_sig_pos']}+/{summary_rows[-1]['n_fdr_sig_neg']}- "
                f"FDR-significant layers of {n_layers}")
    return {
        "coupling": pd.DataFrame(coupling_rows),
        "mesoscale": pd.DataFrame(meso_rows),
        "rate_coupling": pd.DataFrame(rate_rows),
        "coupling_summary": pd.DataFrame(summary_rows),
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
