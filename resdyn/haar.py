"""Haar-distributed random unitary matrices.

Implements Control B of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", Appendix C.1.
"""
from __future__ import annotations

import numpy as np


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
