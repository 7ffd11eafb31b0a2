"""Spectral metrics against known answers."""
import numpy as np
import pytest
from scipy.stats import ortho_group

from resdyn.core.linalg import henrici_departure
from resdyn.dynamics import spectra
from resdyn.dynamics.layer_table import layer_spectra, regime_means, self_alignment_table


def henrici_of(mat, eigs):
    """Henrici departure of a dense matrix, as layer_spectra takes it."""
    return henrici_departure(np.sum(np.abs(mat) ** 2), eigs)


def _normal_matrix(d, rng):
    """Q diag(λ) Q^T with real λ (symmetric, hence normal)."""
    q = ortho_group.rvs(d, random_state=rng)
    return q @ np.diag(rng.uniform(0.2, 3.0, d)) @ q.T


def test_normal_matrix_has_zero_henrici_and_unit_self_alignment():
    rng = np.random.default_rng(0)
    mat = _normal_matrix(40, rng)
    eigs = spectra.eigenvalues(mat)
    assert henrici_of(mat, eigs) < 1e-6
    u, v = spectra.top_singular_subspaces(mat, 8)
    assert spectra.self_alignment(u, v) == pytest.approx(1.0, abs=1e-10)


def test_strictly_upper_triangular_matrix_is_maximally_non_normal():
    mat = np.triu(np.random.default_rng(1).normal(size=(20, 20)), k=1)
    assert henrici_of(mat, spectra.eigenvalues(mat)) == pytest.approx(1.0)


def test_henrici_matches_schur_off_diagonal_energy():
    from scipy.linalg import schur

    mat = np.random.default_rng(2).normal(size=(30, 30))
    t, _ = schur(mat, output="complex")
    expected = np.linalg.norm(np.triu(t, 1)) / np.linalg.norm(mat)
    assert henrici_of(mat, spectra.eigenvalues(mat)) == pytest.approx(expected, rel=1e-8)


def test_random_subspaces_align_at_k_over_d():
    d, k, rng = 400, 20, np.random.default_rng(3)
    values = []
    for _ in range(30):
        u = np.linalg.qr(rng.normal(size=(d, k)))[0]
        v = np.linalg.qr(rng.normal(size=(d, k)))[0]
        values.append(spectra.self_alignment(u, v))
    assert np.mean(values) == pytest.approx(k / d, rel=0.1)


def test_rotation_eigenvalues_are_on_the_unit_circle_in_conjugate_pairs():
    rng = np.random.default_rng(4)
    angles = rng.uniform(0.1, 3.0, 10)
    blocks = [np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) for a in angles]
    rot = np.zeros((20, 20))
    for i, b in enumerate(blocks):
        rot[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = b
    q = ortho_group.rvs(20, random_state=rng)
    eigs = spectra.eigenvalues(q @ rot @ q.T)
    np.testing.assert_allclose(np.abs(eigs), 1.0, atol=1e-12)
    summary = spectra.eigen_summary(eigs)
    assert summary["frac_complex"] == 1.0
    assert summary["spectral_radius"] == pytest.approx(1.0)
    np.testing.assert_allclose(np.sort(eigs.imag), np.sort(-eigs.imag), atol=1e-12)


def test_forward_alignment_of_identical_subspaces_is_one():
    u = np.linalg.qr(np.random.default_rng(5).normal(size=(30, 5)))[0]
    assert spectra.forward_alignment(u, u) == pytest.approx(1.0)


def test_regime_labels_follow_the_paper_split():
    labels = spectra.regime_labels(32, (5 / 32, 20 / 32))
    assert labels.count("early") == 5 and labels.count("mid") == 15 and labels.count("late") == 12


def _layer(mat, n=9, rng=None):
    s = np.linalg.svd(mat, compute_uv=False)
    stats = {"sigma_max": np.full(n, s[0]), "sigma_min": np.full(n, s[-1]), "kappa": np.full(n, s[0] / s[-1]),
             "pr": np.arange(n, dtype=float), "fro": np.full(n, np.linalg.norm(mat))}
    return {"mean_J": mat.astype(np.float32), **stats}


def test_layer_table_on_known_matrices():
    rng = np.random.default_rng(6)
    d = 24
    layers = [_layer(np.eye(d) * 2.0), _layer(_normal_matrix(d, rng)), _layer(rng.normal(size=(d, d)))]
    table, eigs = layer_spectra("toy", layers, k=4, regime_bounds=(0.34, 0.67))
    assert list(table["regime"]) == ["early", "mid", "late"]
    first = table.iloc[0]
    assert first["spectral_radius"] == pytest.approx(2.0) and first["frac_expanding"] == 1.0
    assert first["residual_norm_ratio"] == pytest.approx(np.sqrt(d) / (2 * np.sqrt(d)))
    assert table.loc[1, "self_alignment_J"] == pytest.approx(1.0, abs=1e-6)
    assert table.loc[1, "henrici_J"] == pytest.approx(0.0, abs=1e-3)
    assert table["pr_median"].iloc[0] == 4.0 and table["pr_q25"].iloc[0] == 2.0
    assert np.isnan(table.loc[2, "forward_alignment_J"]) and not np.isnan(table.loc[0, "forward_alignment_J"])
    assert eigs["eig_J"].shape == (3, d)
    np.testing.assert_allclose(np.sort_complex(eigs["eig_R"][0]), np.ones(d), atol=1e-6)
    t2 = self_alignment_table(table)
    assert t2.loc[0, "mid"] == pytest.approx(table.loc[1, "self_alignment_J"])
    assert list(regime_means(table)["regime"]) == ["early", "mid", "late"]


def test_k_larger_than_d_is_refused():
    with pytest.raises(ValueError, match="spectra.k = 30 exceeds the hidden size d = 24"):
        layer_spectra("toy", [_layer(np.eye(24))], k=30, regime_bounds=(0.2, 0.6))


def _real_spectrum_nonnormal(d, henrici, rng, centre=0.0, spread=1.0):
    """Q (D + N) Qᵀ: real eigenvalues D (uniform in centre ± spread), N strictly upper, Henrici prescribed."""
    q = ortho_group.rvs(d, random_state=rng)
    D = np.diag(centre + spread * rng.uniform(-1, 1, d))
    N = np.triu(rng.standard_normal((d, d)), 1)
    N *= henrici * np.linalg.norm(D) / np.sqrt(1 - henrici**2) / np.linalg.norm(N)
    return q @ (D + N) @ q.T, np.diag(D)


@pytest.mark.parametrize("d, henrici, centre, spread", [(200, 0.5, 0, 1), (200, 0.9, 0, 1), (400, 0.7, 0, 1),
                                                       (200, 0.6, 1.0, 0.05), (400, 0.9, 1.0, 0.05)])
def test_real_spectrum_gives_no_robust_complex_pairs(d, henrici, centre, spread):
    rng = np.random.default_rng(d + int(10 * henrici))
    mat, exact = _real_spectrum_nonnormal(d, henrici, rng, centre, spread)
    eigs, cond = spectra.eigen_conditioned(mat)
    assert henrici_of(mat, exact) == pytest.approx(henrici, abs=1e-9)
    radius = spectra.perturbation_radius(mat, cond, np.finfo(np.float32).eps)
    assert spectra.robust_complex(eigs, radius).mean() <= 0.05


def test_clustered_real_spectrum_looks_complex_at_the_papers_threshold():
    # the artefact the robust count removes: eigenvalues near 1 (like a residual layer's), non-normal
    mat, _ = _real_spectrum_nonnormal(400, 0.9, np.random.default_rng(5), 1.0, 0.05)
    eigs, cond = spectra.eigen_conditioned(mat)
    assert spectra.eigen_summary(eigs)["frac_complex"] > 0.5
    assert spectra.robust_complex(eigs, spectra.perturbation_radius(mat, cond, np.finfo(np.float32).eps)).mean() == 0


def test_random_orthogonal_pairs_are_robust_and_perfectly_conditioned():
    q = ortho_group.rvs(200, random_state=np.random.default_rng(9))
    eigs, cond = spectra.eigen_conditioned(q)
    np.testing.assert_allclose(cond, 1.0, atol=1e-10)  # normal: κ(λ) = 1
    robust = spectra.robust_complex(eigs, spectra.perturbation_radius(q, cond, np.finfo(np.float32).eps))
    assert robust.mean() >= 0.99


def test_condition_numbers_of_a_known_2x2():
    # [[1, t], [0, 2]]: κ(λ) = sqrt(1 + t²) for both eigenvalues
    t = 3.0
    eigs, cond = spectra.eigen_conditioned(np.array([[1.0, t], [0.0, 2.0]]))
    np.testing.assert_allclose(cond, np.sqrt(1 + t * t), rtol=1e-12)


def test_layer_table_reads_the_float64_mean_and_counts_kappa_flags():
    rng = np.random.default_rng(12)
    d = 30
    q = ortho_group.rvs(d, random_state=rng)
    layer = _layer(q)
    layer["mean_J_f64"] = q
    layer["mean_J"] = np.zeros((d, d), np.float32)  # would give spectral radius 0 if it were read
    layer["kappa_unresolved"] = np.array([True, False, True, True])
    layer["kappa_censored"] = np.array([False, False, True, False])
    table, eigs = layer_spectra("toy", [layer], k=4, regime_bounds=(0.34, 0.67))
    row = table.iloc[0]
    assert row["spectral_radius"] == pytest.approx(1.0)
    assert row["frac_complex_robust"] == row["frac_complex"] == pytest.approx(np.mean(np.abs(eigs["eig_J"][0].imag) > 1e-6))
    assert row["eig_cond_max"] == pytest.approx(1.0, abs=1e-9) and row["eig_cond_median"] == pytest.approx(1.0, abs=1e-9)
    assert (row["n_kappa_unresolved"], row["n_kappa_censored"]) == (3, 1)
    assert eigs["robust_J"].shape == (1, d)
