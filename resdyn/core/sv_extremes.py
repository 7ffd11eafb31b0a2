"""σ_max, σ_min, Σσ² and Σσ⁴ of a square matrix, without its full SVD.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.3 (condition number, participation ratio).

The per-sample statistics need two extreme singular values and two power sums, not the
whole spectrum. An SVD costs 8/3 d³ flops, half of them in memory-bound BLAS-2 steps;
here the work is one symmetric product and one LU, both at BLAS-3 speed:

- Σσ² = tr G and Σσ⁴ = ‖G‖_F² with G = JᵀJ (numpy turns `J.T @ J` into a syrk: d³ flops);
- σ_max² = λ_max(G), by Lanczos (ARPACK) on G;
- σ_min⁻² = λ_max((JᵀJ)⁻¹), by Lanczos on x ↦ J⁻¹J⁻ᵀx, applied with one LU of J (⅔ d³ flops)
  and a pair of triangular solves per step.

Accuracy. σ_max and the sums carry relative errors of O(dε). σ_min comes from the LU, which
is backward stable: it is the exact σ_min of J + δJ with ‖δJ‖ = O(dε‖J‖) (pivot growth is
near 1 in practice), so its relative error is O(ε κ), the same as an SVD's. The eigenvalues
of JᵀJ would lose σ_min at O(ε κ²), which trained Jacobians (κ up to 1e10) do not allow.
Lanczos stops when its residual is below `TOL` times the Ritz value, which bounds the Ritz
value's relative error by `TOL`.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

TOL = 1e-10  # relative, on σ²: σ_max and σ_min to 5e-11 beyond rounding
KRYLOV_DIM = 8  # ARPACK's ncv; 6-10 measure alike at d = 576
DENSE_BELOW = 64  # smaller matrices: a full SVD is as cheap as setting up ARPACK


def singular_extremes(J: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(σ_max, σ_min, Σσ², Σσ⁴) of a square matrix (computed in float64).

    `rng` draws the Lanczos start vector (seed it for reproducible last digits).
    """
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"singular_extremes needs a square matrix, got shape {J.shape}")
    if J.shape[0] < DENSE_BELOW:
        return _from_svd(J)
    G = J.T @ J
    sum2, sum4 = float(np.trace(G)), float(np.vdot(G, G))
    start = rng.standard_normal(J.shape[0])
    # Factor Jᵀ (Fortran-ordered view of a C-ordered J): σ(Jᵀ) = σ(J), and no transposing copy.
    lu, piv, info = lapack.dgetrf(J.T)
    try:
        sigma_max = np.sqrt(_largest_eigenvalue(G, start))
        if info > 0:  # an exactly zero pivot: J is singular
            return sigma_max, 0.0, sum2, sum4
        sigma_min = 1.0 / np.sqrt(_largest_eigenvalue(_inverse_gram(lu, piv), start))
    except ArpackNoConvergence:  # tightly clustered extremes: rare, and the SVD is exact
        return _from_svd(J)
    return sigma_max, sigma_min, sum2, sum4


def _largest_eigenvalue(op, start: np.ndarray) -> float:
    return float(eigsh(op, k=1, which="LA", tol=TOL, v0=start, ncv=KRYLOV_DIM, return_eigenvectors=False)[0])


def _inverse_gram(lu: np.ndarray, piv: np.ndarray) -> LinearOperator:
    """x ↦ (AᵀA)⁻¹x = A⁻¹A⁻ᵀx for A = Jᵀ given as its LU factors (eigenvalues 1/σ²)."""

    def apply(x):
        y, _ = lapack.dgetrs(lu, piv, x, trans=1)
        z, _ = lapack.dgetrs(lu, piv, y, trans=0)
        return z

    return LinearOperator(lu.shape, matvec=apply, dtype=np.float64)


def _from_svd(J: np.ndarray) -> tuple[float, float, float, float]:
    s = sla.svdvals(J, check_finite=False)
    s2 = s * s
    return float(s[0]), float(s[-1]), float(s2.sum()), float((s2 * s2).sum())
