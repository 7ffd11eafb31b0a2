"""Bridge statistics: Spearman correlations of lambda_1 summaries with outcomes.

Implements Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse: Finite-Time
Lyapunov Analysis of Transformer Forward Passes", Section 2.4 (bridge analysis).

Per (summary, outcome) pair: Spearman rho and its p-value, Holm's step-down adjustment
over all pairs, a bias-corrected percentile bootstrap CI (resampling rows), and a
clustered bootstrap CI that resamples the unique predictor vectors (all rows sharing a
predictor vector move together), for outcome tables where several rows share one
lambda_1 measurement.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from resdyn.core.linalg import spearman

SUMMARIES = ("lambda1", "slope", "layer_var")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def _rank_rows(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a, axis=-1)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair of (B, n) arrays (average ranks for ties)."""
    rx, ry = _rank_rows(x), _rank_rows(y)
    rx = rx - rx.mean(-1, keepdims=True)
    ry = ry - ry.mean(-1, keepdims=True)
    den = np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(-1) / den, 0.0)


def bc_interval(boot: np.ndarray, estimate: float, alpha: float = 0.05) -> tuple[float, float]:
    """Bias-corrected percentile interval from bootstrap replicates."""
    boot = np.asarray(boot, dtype=float)
    frac = np.mean(boot < estimate) + 0.5 * np.mean(boot == estimate)
    frac = min(max(frac, 0.5 / boot.size), 1 - 0.5 / boot.size)
    z0 = stats.norm.ppf(frac)
    lo_q = stats.norm.cdf(2 * z0 + stats.norm.ppf(alpha / 2))
    hi_q = stats.norm.cdf(2 * z0 + stats.norm.ppf(1 - alpha / 2))
    return float(np.quantile(boot, lo_q)), float(np.quantile(boot, hi_q))


def bootstrap_rho(x, y, n_boot: int, seed: int, chunk: int = 1000) -> np.ndarray:
    """Spearman rho over ``n_boot`` row resamples (seeded)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, x.size, size=(min(chunk, n_boot - start), x.size))
        out.append(_spearman_rows(x[idx], y[idx]))
    return np.concatenate(out)


def cluster_bootstrap_rho(x, y, clusters, n_boot: int, seed: int) -> np.ndarray:
    """Spearman rho over ``n_boot`` resamples of whole clusters (seeded)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    labels, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(labels.size)]
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, labels.size, size=labels.size)
        rows = np.concatenate([members[c] for c in pick])
        out[b] = _spearman_rows(x[rows][None], y[rows][None])[0]
    return out


def predictor_clusters(frame: pd.DataFrame, columns: Sequence[str], digits: int = 12) -> np.ndarray:
    """Integer label of each row's predictor vector (rows with equal vectors share one)."""
    vec = frame[list(columns)].to_numpy(float).round(digits)
    _, labels = np.unique(vec, axis=0, return_inverse=True)
    return labels.reshape(-1)


def bridge_table(
    predictors: pd.DataFrame,
    outcomes: pd.DataFrame,
    keys: Sequence[str] = ("run", "sample"),
    summaries: Sequence[str] = SUMMARIES,
    n_boot: int = 10_000,
    seed: int = 42,
    alpha: float = 0.05,
    min_abs_rho: float = 0.40,
) -> pd.DataFrame:
    """One row per (summary, outcome): rho, p, Holm p, BC CI, clustered BC CI, pass."""
    keys = list(keys)
    missing = [k for k in keys if k not in outcomes.columns]
    if missing:
        raise ValueError(f"outcome table lacks key column(s) {missing}; it must be keyed by {keys}")
    outcome_cols = [c for c in outcomes.columns if c not in keys and pd.api.types.is_numeric_dtype(outcomes[c])]
    if not outcome_cols:
        raise ValueError("outcome table has no numeric outcome column")
    data = outcomes.merge(predictors[keys + list(summaries)], on=keys, how="inner")
    if len(data) < 3:
        raise ValueError(f"only {len(data)} outcome rows match the lambda_1 table on {keys}")
    clusters = predictor_clusters(data, summaries)
    rows = []
    for i, s in enumerate(summaries):
        for j, o in enumerate(outcome_cols):
            ok = np.isfinite(data[s].to_numpy(float)) & np.isfinite(data[o].to_numpy(float))
            x, y, c = data[s].to_numpy(float)[ok], data[o].to_numpy(float)[ok], clusters[ok]
            rho, p = spearman(x, y)
            pair_seed = seed + 1000 * i + j
            lo, hi = bc_interval(bootstrap_rho(x, y, n_boot, pair_seed), rho, alpha)
            clo, chi = bc_interval(cluster_bootstrap_rho(x, y, c, n_boot, pair_seed), rho, alpha)
            rows.append(dict(summary=s, outcome=o, n=int(ok.sum()), n_clusters=int(np.unique(c).size),
                             rho=float(rho), p=float(p), ci_low=lo, ci_high=hi,
                             ci_cluster_low=clo, ci_cluster_high=chi))
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy())
    table["passes"] = (table["rho"].abs() >= min_abs_rho) & (table["p_holm"] < alpha)
    return table
