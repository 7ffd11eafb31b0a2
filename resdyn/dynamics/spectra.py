"""Spectral geometry of one layer's mean Jacobian (Appendix A.3 of the paper).

All functions take plain float64 numpy matrices; none knows about models.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

COMPLEX_THRESHOLD = 1e-6  # |Im λ| above this counts as part of a complex-conjugate pair


def eigenvalues(mat: np.ndarray) -> np.ndarray:
    return np.linalg.eigvals(np.asarray(mat, dtype=np.float64))


def eigen_conditioned(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and their condition numbers κ(λ) = ‖x‖‖y‖/|y*x| (x, y right/left eigenvectors).

    A perturbation E moves λ by at most κ(λ)‖E‖₂ to first order (Wilkinson); κ = 1 for a normal
    matrix. One LAPACK geev with both eigenvector sets (about 3x the cost of eigvals alone).
    """
    w, vl, vr = sla.eig(np.asarray(mat, dtype=np.float64), left=True, right=True, check_finite=False)
    cos = np.abs(np.einsum("ij,ij->j", vl.conj(), vr))  # geev's vectors have unit 2-norm
    with np.errstate(divide="ignore"):
        return w, 1.0 / cos  # an exactly defective eigenvalue (y ⊥ x) has κ = inf


def perturbation_radius(mat: np.ndarray, cond: np.ndarray, eps: float) -> np.ndarray:
    """First-order radius κ(λ)·ε·‖J‖₂ each eigenvalue can move under relative perturbations ε of J."""
    return cond * eps * float(np.linalg.norm(np.asarray(mat, dtype=np.float64), 2))


def robust_complex(eigs: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """True for eigenvalues whose |Im λ| exceeds both the paper's threshold and their own radius:
    a perturbation of the Jacobians' precision cannot make them (or their conjugate) real."""
    return (np.abs(eigs.imag) > COMPLEX_THRESHOLD) & (np.abs(eigs.imag) > radius)


def top_singular_subspaces(mat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """U_k, V_k: leading k left and right singular vectors (d × k)."""
    u, _, vt = np.linalg.svd(np.asarray(mat, dtype=np.float64))
    return u[:, :k], vt[:k].T


def self_alignment(u_k: np.ndarray, v_k: np.ndarray) -> float:
    """‖V_kᵀ U_k‖²_F / k: 1 for a normal matrix, ≈ k/d for unrelated subspaces."""
    return float(np.linalg.norm(v_k.T @ u_k) ** 2 / u_k.shape[1])


def forward_alignment(u_k_this: np.ndarray, v_k_next: np.ndarray) -> float:
    """‖U_ℓᵀ V_{ℓ+1}‖²_F / k: does layer ℓ write where layer ℓ+1 reads?"""
    return float(np.linalg.norm(u_k_this.T @ v_k_next) ** 2 / u_k_this.shape[1])


def eigen_summary(eigs: np.ndarray) -> dict[str, float]:
    mod = np.abs(eigs)
    return {
        "spectral_radius": float(mod.max()),
        "frac_expanding": float(np.mean(mod > 1.0)),
        "frac_complex": float(np.mean(np.abs(eigs.imag) > COMPLEX_THRESHOLD)),
        "mean_abs_eig": float(mod.mean()),
    }


def regime_labels(n_layers: int, bounds: tuple[float, float], layers: tuple[int, int] | None = None) -> list[str]:
    """early / mid / late per layer; bounds are depth fractions (paper: 5/32 and 20/32).

    `layers` (a run's `regime_layers`: first mid and first late layer) overrides them where
    fractions cannot give the paper's split (Gemma 4's 8/28 of 42 layers; fractions give 7/26).
    """
    if layers is not None:
        early_end, mid_end = layers
        if not 0 < early_end < mid_end < n_layers:
            raise ValueError(f"regime_layers = {list(layers)} must satisfy 0 < first mid < first late < {n_layers} layers")
    else:
        early_end, mid_end = (int(round(b * n_layers)) for b in bounds)
    return ["early" if i < early_end else "mid" if i < mid_end else "late" for i in range(n_layers)]


def quantile_summary(name: str, values: np.ndarray) -> dict[str, float]:
    q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    return {f"{name}_median": q50, f"{name}_q25": q25, f"{name}_q75": q75}
