"""Test matrices with a prescribed spectrum."""
import numpy as np


def with_singular_values(s: np.ndarray, seed: int = 0) -> np.ndarray:
    """U diag(s) Vᵀ with U, V Haar-orthogonal (seeded): a square matrix whose singular values are s."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.normal(size=(len(s), len(s))))[0]
    v = np.linalg.qr(rng.normal(size=(len(s), len(s))))[0]
    return (u * s) @ v.T
