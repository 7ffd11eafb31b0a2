"""Extreme singular values without an SVD, against matrices with known spectra."""
import numpy as np
import pytest
import scipy.sparse.linalg

from known_spectra import with_singular_values
from resdyn.core import sv_extremes
from resdyn.core.sv_extremes import DENSE_BELOW, singular_extremes


def _power_sums(s):
    return (s**2).sum(), (s**4).sum()


def test_clustered_extremes_are_found():
    # σ_max and σ_min each fourfold: Lanczos must not stop at a neighbour
    s = np.concatenate([[3.0] * 4, np.linspace(2.5, 0.2, 72), [0.1] * 4])
    got = singular_extremes(with_singular_values(s), np.random.default_rng(0))
    assert got[0] == pytest.approx(3.0, rel=1e-10) and got[1] == pytest.approx(0.1, rel=1e-10)
    assert got[2:] == pytest.approx(_power_sums(s), rel=1e-12)


def test_near_identity_spectrum_like_a_residual_block():
    rng = np.random.default_rng(1)
    J = np.eye(120) + 0.05 * rng.normal(size=(120, 120))
    ref = np.linalg.svd(J, compute_uv=False)
    got = singular_extremes(J, np.random.default_rng(0))
    assert got == pytest.approx((ref[0], ref[-1], *_power_sums(ref)), rel=1e-10)


def test_sigma_min_is_as_accurate_as_an_svd_at_kappa_1e10():
    # Both are backward stable: each is off by at most ~ d ε σ_max from the exact σ_min of the
    # stored matrix; the eigenvalues of JᵀJ would be off by ~ ε σ_max², i.e. wholly wrong here.
    d = 96
    J = with_singular_values(np.geomspace(10.0, 1e-9, d), seed=2)
    ref = np.linalg.svd(J, compute_uv=False)
    got = singular_extremes(J, np.random.default_rng(0))
    assert abs(got[1] - ref[-1]) <= 10 * d * np.finfo(float).eps * ref[0]
    assert got[0] == pytest.approx(ref[0], rel=1e-10)


def test_an_exactly_singular_matrix_has_sigma_min_zero():
    J = with_singular_values(np.linspace(2.0, 0.5, 80), seed=3)
    J[:, 7] = 0.0  # a zero column: LU meets an exactly zero pivot
    ref = np.linalg.svd(J, compute_uv=False)
    got = singular_extremes(J, np.random.default_rng(0))
    assert got[1] == 0.0
    assert got[0] == pytest.approx(ref[0], rel=1e-10)


def test_small_matrices_and_arpack_failures_take_the_exact_svd(monkeypatch):
    s = np.array([4.0, 2.0, 1.0, 0.25])
    assert singular_extremes(with_singular_values(s), np.random.default_rng(0)) == pytest.approx(
        (4.0, 0.25, *_power_sums(s)), rel=1e-12)

    def no_convergence(*args, **kwargs):
        raise scipy.sparse.linalg.ArpackNoConvergence("forced", [], [])

    monkeypatch.setattr(sv_extremes, "eigsh", no_convergence)
    s = np.linspace(3.0, 0.5, DENSE_BELOW + 8)
    assert singular_extremes(with_singular_values(s), np.random.default_rng(0)) == pytest.approx(
        (3.0, 0.5, *_power_sums(s)), rel=1e-12)


def test_rejects_a_non_square_matrix():
    with pytest.raises(ValueError, match="square"):
        singular_extremes(np.ones((3, 4)), np.random.default_rng(0))
