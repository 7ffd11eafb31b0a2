"""The formulas every analysis shares, written once: Henrici departure, effective rank,
Spearman's ρ, Haar-random unitaries.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.3 (Henrici departure, effective rank), A.5 (Spearman) and C.1 (Control B's Haar
draws). Plain numpy/scipy, no torch.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def henrici_departure(frobenius_sq: float, eigenvalues) -> float:
    """Henrici departure from normality √(‖A‖²_F − Σ|λ_i|²) / ‖A‖_F of a square A, from ‖A‖²_F and
    A's eigenvalues: 0 for a normal matrix, → 1 when the strictly upper part of its Schur form
    dominates (it is ‖N‖_F / ‖A‖_F for A = Q (Λ + N) Q*).

    Taken from the two sums rather than from A, so that an operator held in factored form (a
    truncated product U diag(s) Vh: ‖A‖²_F = Σ s²) needs no dense copy. Rounding can make the
    difference slightly negative for a normal matrix; it is clipped at 0.
    """
    fro2 = float(frobenius_sq)
    if fro2 == 0:
        raise ValueError("Henrici departure of the zero matrix is undefined")
    eig2 = float(np.sum(np.abs(eigenvalues) ** 2))
    return float(np.sqrt(max(fro2 - eig2, 0.0) / fro2))


def effective_rank(singular_values) -> float:
    """exp of the Shannon entropy of p_i = s_i^2 / sum s_j^2 (scale-invariant)."""
    s = np.asarray(singular_values, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"effective_rank needs a non-empty 1-D array, got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("effective_rank: singular values must be finite and >= 0")
    top = s.max()
    if top == 0:
        raise ValueError("effective_rank of the zero matrix is undefined")
    power = (s / top) ** 2  # divide first so tiny or huge spectra do not under/overflow
    total = power.sum()
    p = power[power > 0] / total  # 0 log 0 = 0
    return float(np.exp(-np.sum(p * np.log(p))))


def spearman(x, y, min_n: int = 3) -> tuple[float, float]:
    """Spearman ρ of paired values and scipy's asymptotic two-sided p-value.

    Policy where ρ is undefined: (NaN, NaN), never an exception, when either side is constant
    (nothing to rank) or there are fewer than `min_n` pairs (3 by default: with 2 pairs ρ is
    ±1 whatever the data; a trend over two declared checkpoints asks for min_n = 2 and reads
    ρ alone). A caller that cannot go on without a number checks `np.isfinite` and says why.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y):
        raise ValueError("x and y must have equal length")
    if len(x) < max(min_n, 2) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    r = stats.spearmanr(x, y)
    return float(r.statistic), float(r.pvalue)


def haar_unitary(n: int, rng: np.random.Generator) -> np.ndarray:
    """An n x n unitary drawn from Haar measure on U(n).

    QR of a complex Ginibre matrix alone is *not* Haar: LAPACK fixes the phases of
    R's diagonal, which biases the phases of Q (e.g. Re Q_11 < 0 always). Multiplying
    column j by the phase of R_jj removes that bias (Mezzadri 2007).
    """
    if int(n) < 1:
        raise ValueError(f"haar_unitary needs n >= 1, got {n}")
    z = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / np.sqrt(2.0)
    q, r = np.linalg.qr(z)
    diag = np.diagonal(r)
    return q * (diag / np.abs(diag))[None, :]
