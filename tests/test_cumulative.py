"""Cumulative products: effective rank, exact vs truncated composition, tables."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from resdyn.dynamics.cumulative import (
    ExactProduct,
    MeanJacobians,
    TruncatedProduct,
    cumulative_products,
    cumulative_tables,
    spectrum_layers,
)
from resdyn.core.io import save_npz
from resdyn.core.linalg import effective_rank, henrici_departure


def erank_of(matrix):
    return effective_rank(np.linalg.svd(matrix, compute_uv=False))


def henrici_of_product(product):
    return henrici_departure(np.sum(product.singular_values() ** 2), product.eigenvalues())


def near_identity(rng, d, L, scale=0.3):
    return [np.eye(d) + scale * rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(L)]


def test_effective_rank_known_values():
    assert effective_rank(np.ones(7)) == pytest.approx(7.0, rel=1e-12)
    assert effective_rank(np.array([3.0, 0.0, 0.0])) == pytest.approx(1.0, rel=1e-12)
    # p = (0.5, 0.5) -> exp(log 2) = 2, whatever the scale
    assert effective_rank(np.array([1e-200, 1e-200])) == pytest.approx(2.0, rel=1e-12)
    # p = (0.8, 0.2): exp(-(0.8 ln 0.8 + 0.2 ln 0.2))
    s = np.sqrt([0.8, 0.2])
    assert effective_rank(s) == pytest.approx(np.exp(-(0.8 * np.log(0.8) + 0.2 * np.log(0.2))), rel=1e-12)
    with pytest.raises(ValueError, match="zero matrix"):
        effective_rank(np.zeros(3))


def test_diagonal_stack_known_spectrum_without_overflow():
    # J_l = diag(10, 1, 0.1, 0.1): P_l = diag(10^k, 1, 10^-k, 10^-k), k = L - l layers composed.
    # With L = 400, 10^400 overflows float64: the normalised product must not.
    L = 400
    res = cumulative_products([np.diag([10.0, 1.0, 0.1, 0.1])] * L)
    k = L - np.arange(L)
    assert np.allclose(res.log10_fro[-1], np.log10(np.sqrt(100 + 1 + 0.02)))
    assert np.allclose(res.log10_fro[: L - 20], k[: L - 20], rtol=0, atol=1e-12)
    assert res.erank[0] == pytest.approx(1.0, abs=1e-12)
    first, mid, last = spectrum_layers(L)
    assert np.allclose(res.spectra[last], np.array([10.0, 1.0, 0.1, 0.1]) / np.sqrt(101.02))


def test_exact_matches_direct_product_and_order():
    rng = np.random.default_rng(1)
    Js = near_identity(rng, 12, 6, scale=1.5)
    res = cumulative_products(Js, "exact")
    for layer in range(6):
        P = np.eye(12)
        for J in Js[layer:]:
            P = J @ P  # P_l = J_{L-1} ... J_l
        assert res.erank[layer] == pytest.approx(erank_of(P), rel=1e-10)
        assert res.log10_fro[layer] == pytest.approx(np.log10(np.linalg.norm(P)), abs=1e-10)
    # the reversed order is a different matrix: make sure the test can tell
    Q = Js[0] @ Js[1] @ Js[2] @ Js[3] @ Js[4] @ Js[5]
    assert abs(erank_of(Q) - res.erank[0]) > 1e-6


def test_truncated_matches_exact_when_rank_covers_product():
    # The last layer has rank 5 < d = 30, so every P_l has rank <= 5; K = 6 is exact.
    rng = np.random.default_rng(2)
    d, r = 30, 5
    Js = near_identity(rng, d, 8, scale=2.0)
    Js[-1] = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    exact = cumulative_products(Js, "exact")
    trunc = cumulative_products(Js, "truncated", rank=r + 1)
    assert trunc.kept_rank == r + 1 and exact.kept_rank == d
    np.testing.assert_allclose(trunc.erank, exact.erank, rtol=1e-9)
    np.testing.assert_allclose(trunc.log10_fro, exact.log10_fro, rtol=0, atol=1e-10)
    for layer, s in trunc.spectra.items():
        np.testing.assert_allclose(s[:r], exact.spectra[layer][:r], rtol=1e-8, atol=1e-14)
    # a rank below the product's rank is an approximation, and visibly so
    low = cumulative_products(Js, "truncated", rank=2)
    assert np.max(np.abs(low.erank - exact.erank)) > 0.1


def test_truncated_full_rank_equals_exact():
    rng = np.random.default_rng(3)
    Js = near_identity(rng, 16, 5, scale=1.0)
    exact = cumulative_products(Js, "exact")
    trunc = cumulative_products(Js, "truncated", rank=16)
    np.testing.assert_allclose(trunc.erank, exact.erank, rtol=1e-10)
    np.testing.assert_allclose(trunc.log10_fro, exact.log10_fro, atol=1e-12)


def test_henrici_of_product_exact_and_truncated():
    rng = np.random.default_rng(4)
    d = 10
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    normal = Q @ np.diag(rng.uniform(0.5, 2, d)) @ Q.T
    p = ExactProduct()
    p.right_multiply(normal)
    p.right_multiply(normal)
    assert henrici_of_product(p) < 1e-6  # a product of commuting normal matrices is normal
    nilpotent = np.diag(np.ones(d - 1), 1)  # all eigenvalues 0: Henrici = 1
    for p in (ExactProduct(), TruncatedProduct(rank=d)):
        p.right_multiply(nilpotent)
        assert henrici_of_product(p) == pytest.approx(1.0, abs=1e-12)
    A = rng.standard_normal((d, 3)) @ rng.standard_normal((3, d))
    e, t = ExactProduct(), TruncatedProduct(rank=4)
    e.right_multiply(A)
    t.right_multiply(A)
    assert henrici_of_product(t) == pytest.approx(henrici_of_product(e), abs=1e-8)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="method"):
        cumulative_products([np.eye(3)], "svd")
    with pytest.raises(ValueError, match="square"):
        cumulative_products([np.ones((3, 4))])
    with pytest.raises(ValueError, match="cannot follow"):
        cumulative_products([np.eye(3), np.eye(4)])


def test_tables_and_spearman(tmp_path):
    rng = np.random.default_rng(5)
    L, d = 7, 9
    Js = near_identity(rng, d, L, scale=1.0)
    paths = []
    for layer, J in enumerate(Js):
        path = tmp_path / f"layer_{layer:02d}.npz"
        save_npz(path, mean_J=J.astype(np.float32))
        paths.append(path)
    mean_J = MeanJacobians(paths)
    assert mean_J[3].dtype == np.float64 and len(mean_J) == L
    res = cumulative_products(mean_J)
    radius = rng.uniform(0.9, 2.0, L)
    spectra = pd.DataFrame({"run": "r", "layer": np.arange(L)[::-1], "spectral_radius": radius[::-1], "frac_expanding": 0.5})
    per_layer, summary, sv = cumulative_tables("r", res, spectra, "exact")
    assert list(per_layer["layer"]) == list(range(L))
    np.testing.assert_allclose(per_layer["spectral_radius"], radius)  # re-sorted by layer
    expected = stats.spearmanr(res.erank, radius)
    assert summary["spearman_rho"].iloc[0] == pytest.approx(expected.statistic)
    assert summary["spearman_p"].iloc[0] == pytest.approx(expected.pvalue)
    assert summary["erank_first"].iloc[0] == pytest.approx(res.erank[0])
    assert set(sv["position"]) == {"first", "mid", "last"}
    last = sv[sv["position"] == "last"]
    s = np.linalg.svd(Js[-1], compute_uv=False)
    np.testing.assert_allclose(last["log10_sigma"], np.log10(s), atol=1e-5)  # stored as float32
    with pytest.raises(KeyError, match="frac_expanding"):
        cumulative_tables("r", res, spectra.drop(columns="frac_expanding"), "exact")
    with pytest.raises(ValueError, match="layers"):
        cumulative_tables("r", res, spectra.iloc[1:], "exact")


def test_nan_jacobian_is_refused(tmp_path):
    J = np.eye(3, dtype=np.float32)
    J[1, 2] = np.nan
    save_npz(tmp_path / "layer_00.npz", mean_J=J)
    with pytest.raises(FloatingPointError, match="layer 0"):
        MeanJacobians([tmp_path / "layer_00.npz"])[0]
