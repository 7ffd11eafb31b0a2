"""Polar (Löwdin) surgery: scale a matrix's departure from normality without an eigenvalue order.

A diagonalisable A = V Λ V⁻¹, V with unit-norm eigenvector columns, has the polar decomposition
V = U P (U unitary, P Hermitian positive definite; ``scipy.linalg.polar``). The surgery is

    A(c) = U P^c Λ P^{-c} U*,

a similarity of Λ at every c (the spectrum is kept), the normal matrix U Λ U* at c = 0 (U is the
unitary closest to V: a symmetric, Löwdin, orthogonalisation of the eigenvectors) and A at c = 1.
No order of the eigenvalues enters: a reordering V Π gives the polar factors U Π, Πᵀ P Π and the
same A(c); a phase D of the columns gives U D, D* P D and the same A(c); a permutation similarity
S A Sᵀ gives S A(c) Sᵀ. For a real A, conjugate eigenvalues have conjugate eigenvectors, so
conj(V) = V Π for the pair swap Π, the polar factors of conj(V) are conj(U) = U Π and
conj(P) = Πᵀ P Π, and conj(A(c)) = A(c): the result is real, and is returned real after checking
that its imaginary part is rounding.

Computed through one SVD, V = X S W*: U = X W*, P = W S W*, so A(c) = X S^c M S^{-c} X* with
M = W* Λ W (normal). Only S^c and S^{-c} depend on c.

Resolution. Every number rests on V⁻¹, i.e. on cond(V) = s_max / s_min: a defective or nearly
defective A has no (well-conditioned) eigenvector basis and no polar surgery. Each form records
cond(V) and the c = 1 reconstruction error ‖A(1) − A‖_F / ‖A‖_F; a form whose reconstruction error
or whose imaginary part (real A) exceeds RESOLUTION_TOL is refused with both numbers. The
eigenvectors of a repeated eigenvalue are not unique, and neither is A(c) for a non-normal A
with one (a normal A gives A(c) = A whatever the basis chosen); mean Jacobians have none.

Controls (the paper's Schur controls, with the Schur basis Q and form Λ + cN replaced by the polar
basis U and form P^c Λ P^{-c}):
- control_a: U Λ U* + c ‖A − U Λ U*‖_F G / ‖G‖_F (G i.i.d. real Gaussian): the normal part plus
  random mass matched to the departure the dose restores at c = 1. Under Schur surgery this is
  the paper's Control A, since ‖A − Q Λ Q*‖_F = ‖N‖_F.
- control_b: U_r P^c Λ P^{-c} U_r* (U_r Haar-random unitary): the spectrum and the eigenvector
  geometry P kept at every c, the basis U replaced. Drawn as H S^c M S^{-c} H* with H Haar,
  i.e. U_r = H W*, which is Haar-distributed as H is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from resdyn.core.linalg import haar_unitary

# ‖A(1) − A‖_F / ‖A‖_F and ‖Im A(c)‖_F / ‖A(c)‖_F above this: the eigenvector basis does not resolve
# A. Mean Jacobians are stored to float32 (relative resolution ~6e-8) and recomposed in complex64
# by default, so an error of 1e-6 is already above what the products resolve.
RESOLUTION_TOL = 1e-6
POLAR_CONSTRUCTIONS = ("dose", "control_a", "control_b")


@dataclass(frozen=True)
class PolarForm:
    X: np.ndarray  # left singular vectors of V, complex128
    s: np.ndarray  # singular values of V, decreasing
    M: np.ndarray  # W* Λ W, complex128 (normal)
    eigenvalues: np.ndarray
    real: bool  # the decomposed matrix was real: A(c) is returned real
    residual: float  # ‖A(1) − A‖_F / ‖A‖_F

    method = "polar"

    @property
    def cond(self) -> float:
        """cond(V) of the unit-norm eigenvector matrix (the eigenvalue condition of the basis)."""
        return float(self.s[0] / self.s[-1])

    def core(self, c: float) -> np.ndarray:
        """S^c M S^{-c}: A(c) in the basis X."""
        if c == 0:
            return self.M.copy()
        return (self.s**c)[:, None] * self.M * (self.s ** (-c))[None, :]

    def matrix(self, c: float, basis: np.ndarray | None = None) -> np.ndarray:
        """B S^c M S^{-c} B* (B = X: the surgery A(c)); complex128."""
        B = self.X if basis is None else basis
        return (B @ self.core(c)) @ B.conj().T

    def normal_part(self) -> np.ndarray:
        """A(0) = U Λ U*, real for a real A (checked)."""
        return self.realified(self.matrix(0.0), 0.0)

    def dose(self, c: float) -> np.ndarray:
        """A(c), real for a real A (checked)."""
        return self.dose_with_imag(c)[0]

    def dose_with_imag(self, c: float) -> tuple[np.ndarray, float]:
        """(A(c), ‖Im A(c)‖_F / ‖A(c)‖_F before it was made real; NaN for a complex A)."""
        A = self.matrix(c)
        return self.realified(A, c), (imag_rel(A) if self.real else np.nan)

    def realified(self, A: np.ndarray, c: float) -> np.ndarray:
        """Re A after checking that Im A is rounding (real A only; a complex A is returned as is)."""
        if not self.real:
            return A
        rel = imag_rel(A)
        if rel > RESOLUTION_TOL:
            raise FloatingPointError(
                f"polar surgery of a real matrix at c = {c:g} has an imaginary part {rel:.2e} (relative) above "
                f"rounding ({RESOLUTION_TOL:g}): the eigenvector basis is too ill-conditioned (cond(V) = {self.cond:.3g}, "
                f"c = 1 reconstruction error {self.residual:.2e}) for the surgery to be resolved"
            )
        return np.ascontiguousarray(A.real)


def imag_rel(A: np.ndarray) -> float:
    """‖Im A‖_F / ‖A‖_F (0 for a real array)."""
    if not np.iscomplexobj(A):
        return 0.0
    return float(np.linalg.norm(A.imag) / max(np.linalg.norm(A), np.finfo(float).tiny))


def polar_form(A: np.ndarray) -> PolarForm:
    """The polar surgery's factors of a real or complex square, diagonalisable matrix."""
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"polar surgery needs a square matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise FloatingPointError("polar surgery of a matrix holding NaN/Inf")
    real = not np.iscomplexobj(A)
    A = A.astype(np.float64 if real else np.complex128)
    lam, V = sla.eig(A)
    V = V / np.linalg.norm(V, axis=0)[None, :]  # unit-norm columns (LAPACK's already are, to rounding)
    X, s, Wh = np.linalg.svd(V)
    if not s[-1] > 0 or not np.isfinite(s[0] / s[-1]):
        raise FloatingPointError(f"polar surgery: the eigenvector matrix is singular (cond(V) = {s[0] / s[-1]:.3g}): "
                                 "the matrix is defective")
    M = (Wh * lam[None, :]) @ Wh.conj().T
    form = PolarForm(X=X, s=s, M=M, eigenvalues=lam, real=real, residual=np.nan)
    scale = max(np.linalg.norm(A), np.finfo(float).tiny)
    residual = float(np.linalg.norm(form.matrix(1.0) - A) / scale)
    form = PolarForm(X=X, s=s, M=M, eigenvalues=lam, real=real, residual=residual)
    if not residual <= RESOLUTION_TOL:
        raise FloatingPointError(
            f"polar surgery: V Λ V⁻¹ reconstructs the matrix only to {residual:.2e} (relative), above "
            f"{RESOLUTION_TOL:g}: cond(V) = {form.cond:.3g}, the matrix is (nearly) defective"
        )
    return form


def polar_matrices(
    form: PolarForm, construction: str, rng: np.random.Generator | None, doses, normal: np.ndarray | None = None
) -> list[np.ndarray]:
    """A(c) of one construction at every dose (complex128, or float64 where real).

    `normal` may pass a precomputed U Λ U* (shared by the dose and Control A)."""
    if construction == "dose":
        return [normal if c == 0 and normal is not None else form.dose(c) for c in doses]
    if construction == "control_a":
        normal = form.normal_part() if normal is None else normal
        G = rng.standard_normal(form.X.shape)
        # the dose's own departure at c = 1: ‖A(1) − A(0)‖_F, A(1) = A to the checked residual
        mass = float(np.linalg.norm(form.dose(1.0) - normal))
        direction = G * (mass / np.linalg.norm(G))
        return [normal + c * direction if c else normal.copy() for c in doses]
    if construction == "control_b":
        H = haar_unitary(form.X.shape[0], rng)
        return [form.matrix(c, H) for c in doses]
    raise ValueError(f"polar construction must be one of {POLAR_CONSTRUCTIONS}, got {construction!r}")
