"""Small statistics toolkit: permutation p-values, Benjamini-Hochberg, Cohen's d, Spearman's permutation test.

Implements the statistics of Fernando & Guitchounts (2026), "Dynamics of the Transformer
Residual Stream", Appendix A.5.

Spearman's ρ itself, and its policy for undefined cases, is resdyn.core.linalg.spearman.
Permutation p-values use the (b + 1) / (m + 1) form (b = null statistics at least as
extreme as the observed one out of m permutations), which is never 0 and is valid.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as _st

from resdyn.core.linalg import spearman
ALTERNATIVES = ("two-sided", "greater", "less")


def permutation_p(observed: float, null, alternative: str = "two-sided") -> float:
    """(b + 1) / (m + 1) from a vector of null statistics; two-sided compares |values|."""
    null = np.asarray(null, dtype=float)
    if null.ndim != 1 or len(null) == 0:
        raise ValueError("null must be a non-empty 1-D array")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if not np.isfinite(observed):
        return float("nan")
    # guard against float noise making an identical statistic look smaller
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "two-sided":
        b = np.sum(np.abs(null) >= abs(observed) - tol)
    elif alternative == "greater":
        b = np.sum(null >= observed - tol)
    else:
        b = np.sum(null <= observed + tol)
    return float((b + 1) / (len(null) + 1))


def benjamini_hochberg(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """BH step-up: adjusted q-values and the rejection mask at level ``alpha``.

    q_(i) = min_{j >= i} min(1, m p_(j) / j) over ascending p; reject where q <= alpha.
    NaN p-values are left out of m and get q = NaN, not rejected.
    """
    p = np.asarray(pvalues, dtype=float)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = len(pv)
    if m:
        order = np.argsort(pv, kind="stable")
        scaled = pv[order] * m / np.arange(1, m + 1)
        adj = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
        qq = np.empty(m)
        qq[order] = adj
        q[ok] = qq
    return q, np.where(np.isfinite(q), q <= alpha, False)


def cohens_d(group_a, group_b, reference) -> float:
    """(mean(a) - mean(b)) / std(reference, ddof=1): the paper's Cohen's d, with the
    denominator taken over all units (``reference``), not pooled from the two groups."""
    a, b, ref = (np.asarray(v, dtype=float) for v in (group_a, group_b, reference))
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both groups must be non-empty")
    if len(ref) < 2:
        raise ValueError("reference needs at least 2 values for ddof=1")
    sd = ref.std(ddof=1)
    if sd == 0:
        return float("nan")
    return float((a.mean() - b.mean()) / sd)


TAIL_TIES = ("include", "random")


def tail_size(n_values: int, fraction: float) -> int:
    """Nominal size of each tail: max(1, round(fraction * n_values))."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"tail fraction must lie in (0, 0.5], got {fraction}")
    n = max(1, int(round(fraction * n_values)))
    if 2 * n > n_values:
        raise ValueError(f"{n_values} values are too few for two tails of {n}")
    return n


def tail_indices(values, fraction: float, ties: str = "include",
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ascending) of the top and bottom ``fraction`` of ``values``.

    n = max(1, round(fraction * len)). Units tied with the n-th value at a cut are
    ``include``: all taken, so a tail is every unit at or beyond its cut value (it may hold
    more than n units; when more than the middle ties, the two tails share units) or
    ``random``: ordered by a uniform draw from ``rng``, so each tail has exactly n units and
    the two are disjoint. Either way the tails depend on the values, not on unit numbering.
    """
    v = np.asarray(values, dtype=float)
    n = tail_size(len(v), fraction)
    if ties == "include":
        ordered = np.sort(v)
        top = np.flatnonzero(v >= ordered[-n])
        bottom = np.flatnonzero(v <= ordered[n - 1])
        return top, bottom
    if ties == "random":
        if rng is None:
            raise ValueError("ties='random' needs a seeded generator (rng)")
        order = np.lexsort((rng.random(len(v)), v))  # by value, ties in random order
        return np.sort(order[-n:]), np.sort(order[:n])
    raise ValueError(f"coupling.tail_ties must be one of {TAIL_TIES}, got {ties!r}")


def cohens_d_permutation(top, bottom, reference, n_perm: int, rng: np.random.Generator):
    """Cohen's d of top vs bottom and its two-sided label-permutation p over the pooled tails.

    The denominator (std of ``reference``) is fixed, so only the group labels are shuffled.
    """
    top, bottom = np.asarray(top, float), np.asarray(bottom, float)
    d = cohens_d(top, bottom, reference)
    sd = np.asarray(reference, float).std(ddof=1)
    pooled = np.concatenate([top, bottom])
    n_top = len(top)
    perms = np.argsort(rng.random((n_perm, len(pooled))), axis=1)
    shuffled = pooled[perms]
    null = (shuffled[:, :n_top].mean(axis=1) - shuffled[:, n_top:].mean(axis=1)) / sd
    return d, permutation_p(d, null, "two-sided")


def spearman_permutation(x, y, n_perm: int, rng: np.random.Generator) -> tuple[float, float]:
    """Spearman rho with a two-sided permutation p ((b+1)/(m+1)), shuffling y against x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho, _ = spearman(x, y)
    if not np.isfinite(rho):
        return rho, float("nan")
    rx = _st.rankdata(x)
    ry = _st.rankdata(y)
    rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())
    ry = (ry - ry.mean()) / np.linalg.norm(ry - ry.mean())
    perms = np.argsort(rng.random((n_perm, len(y))), axis=1)
    null = ry[perms] @ rx
    return rho, permutation_p(rho, null, "two-sided")


def z_test_greater(observed: float, null) -> tuple[float, float]:
    """One-sided z of ``observed`` against the null sample (ddof=1) and its normal p."""
    null = np.asarray(null, float)
    if len(null) < 2:
        raise ValueError("need at least 2 null draws")
    sd = null.std(ddof=1)
    if sd == 0:
        return float("nan"), float("nan")
    z = (observed - null.mean()) / sd
    return float(z), float(_st.norm.sf(z))
