"""Polar surgery J_c = U P^c Λ P^{-c} U* (V = UP): known answers, invariances, resolution checks."""
import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
from scipy.optimize import linear_sum_assignment

from resdyn.core.linalg import effective_rank
from resdyn.dynamics.cumulative import cumulative_products
from resdyn.dynamics.polar_surgery import RESOLUTION_TOL, imag_rel, polar_form, polar_matrices
from resdyn.dynamics.schur import CONSTRUCTIONS, LayerSchurForms, dose_sweep, layer_operator, table3, table3_markdown


def random_matrix(seed, d=30, scale=1.5):
    rng = np.random.default_rng(seed)
    return np.eye(d) + scale * rng.standard_normal((d, d)) / np.sqrt(d)


def well_conditioned(seed, d=20):
    """J = V Λ V⁻¹ with cond(V) ~ 2 and well-separated real and complex-pair eigenvalues."""
    rng = np.random.default_rng(seed)
    V = np.eye(d) + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d)
    blocks = []
    for k in range(d // 4):  # one real pair and one complex pair per four
        r = 0.5 + k
        blocks += [np.array([[r]]), np.array([[r + 0.3]]), np.array([[r, -0.4], [0.4, r]])]
    B = sla.block_diag(*blocks)
    lam = np.linalg.eigvals(B)
    return V @ B @ np.linalg.inv(V), lam


def same_spectrum(a, b):
    cost = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :])
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].max()


def reference_polar_surgery(J, c):
    """Independent route: scipy's polar of the unit-norm eigenvectors and P^c by fractional_matrix_power."""
    lam, V = np.linalg.eig(J)
    V = V / np.linalg.norm(V, axis=0)
    U, P = sla.polar(V)
    Pc = sla.fractional_matrix_power(P, c)
    return U @ Pc @ np.diag(lam) @ np.linalg.inv(Pc) @ U.conj().T


def departure(A):
    """‖AA* − A*A‖_F / ‖A‖_F²: 0 exactly for a normal A."""
    return np.linalg.norm(A @ A.conj().T - A.conj().T @ A) / np.linalg.norm(A) ** 2


@pytest.mark.parametrize("c", [0.0, 0.5, 2.0])
def test_matches_scipy_polar_and_fractional_power(c):
    J = random_matrix(1, d=24)
    ref = reference_polar_surgery(J, c)
    got = polar_form(J).dose(c)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-10


@pytest.mark.parametrize("c", [0.0, 0.5, 2.0])
def test_invariant_under_permutation_similarity(c):
    J = random_matrix(2)
    rng = np.random.default_rng(0)
    a = polar_form(J).dose(c)
    for _ in range(3):
        S = np.eye(J.shape[0])[rng.permutation(J.shape[0])]
        b = polar_form(S @ J @ S.T).dose(c)
        assert np.linalg.norm(S.T @ b @ S - a) / np.linalg.norm(a) < 1e-10


def test_real_normal_at_zero_and_the_model_at_one():
    J = random_matrix(3)
    lam = np.linalg.eigvals(J)
    assert np.sum(np.abs(lam.imag) > 1e-8) >= 10  # many complex pairs: realness is not trivial
    form = polar_form(J)
    for c in (0.0, 0.5, 1.0, 2.0):
        A, im = form.dose_with_imag(c)
        assert np.isrealobj(A) and im < 1e-12
    J0 = form.dose(0.0)
    assert departure(J0) < 1e-12
    assert departure(J) > 0.1  # the test matrix itself is far from normal
    assert np.linalg.norm(form.dose(1.0) - J) / np.linalg.norm(J) < 1e-10
    assert form.residual < 1e-12
    assert same_spectrum(np.linalg.eigvals(J0), lam) < 1e-8


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_eigenvalues_kept(c):
    J, lam = well_conditioned(4)
    form = polar_form(J)
    assert form.cond < 5
    assert same_spectrum(np.linalg.eigvals(form.dose(c)), lam) < 1e-8


def test_two_by_two_worked_by_hand():
    # J = [[a, b], [0, d]] with a = 1, b = 1, d = 2: eigenvectors e1 and (b, d - a)/sqrt(2) = (cos θ, sin θ),
    # θ = π/4. V*V = [[1, cos θ], [cos θ, 1]] = P², eigenvalues 1 ± cos θ on (1, ±1)/√2, so
    # P = (1/√2)[[C + S, C - S], [C - S, C + S]] with C = cos(θ/2), S = sin(θ/2). Löwdin: U's columns
    # are the unit vectors at θ/2 ∓ π/4, so with φ = θ/2 - π/4 = -π/8, u1 = (cos φ, sin φ),
    # u2 = (-sin φ, cos φ) and J_0 = a u1u1ᵀ + d u2u2ᵀ = [[(3 - 1/√2)/2, √2/4], [√2/4, (3 + 1/√2)/2]].
    a, b, d = 1.0, 1.0, 2.0
    J = np.array([[a, b], [0.0, d]])
    theta = np.pi / 4
    C, S = np.cos(theta / 2), np.sin(theta / 2)
    V = np.array([[1.0, np.cos(theta)], [0.0, np.sin(theta)]])
    P = np.array([[C + S, C - S], [C - S, C + S]]) / np.sqrt(2)
    phi = theta / 2 - np.pi / 4
    U = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    U_sp, P_sp = sla.polar(V)  # the hand factors are the polar factors
    np.testing.assert_allclose(U_sp, U, atol=1e-14)
    np.testing.assert_allclose(P_sp, P, atol=1e-14)
    J0 = np.array([[(3 - 1 / np.sqrt(2)) / 2, np.sqrt(2) / 4], [np.sqrt(2) / 4, (3 + 1 / np.sqrt(2)) / 2]])
    form = polar_form(J)
    np.testing.assert_allclose(form.dose(0.0), J0, atol=1e-14)
    # c = 2: P² = V*V exactly, so J_2 = U (V*V) Λ (V*V)⁻¹ Uᵀ
    P2 = V.T @ V
    J2 = U @ P2 @ np.diag([a, d]) @ np.linalg.inv(P2) @ U.T
    np.testing.assert_allclose(form.dose(2.0), J2, atol=1e-13)
    np.testing.assert_allclose(form.dose(1.0), J, atol=1e-14)
    assert form.cond == pytest.approx(np.sqrt((1 + np.cos(theta)) / (1 - np.cos(theta))), rel=1e-12)


def test_block_diagonal_worked_by_hand():
    # Eigenvectors of different blocks are orthogonal, so the polar factors are block-diagonal and the
    # surgery acts block by block: the 2 x 2 block as above, a normal rotation-scaling block (complex
    # pair 0.5 ± 0.8i) unchanged at every c, and a 1 x 1 block unchanged.
    B1 = np.array([[1.0, 1.0], [0.0, 2.0]])
    B2 = np.array([[0.5, -0.8], [0.8, 0.5]])
    B3 = np.array([[-3.0]])
    J = sla.block_diag(B1, B2, B3)
    J0_1 = np.array([[(3 - 1 / np.sqrt(2)) / 2, np.sqrt(2) / 4], [np.sqrt(2) / 4, (3 + 1 / np.sqrt(2)) / 2]])
    form = polar_form(J)
    np.testing.assert_allclose(form.dose(0.0), sla.block_diag(J0_1, B2, B3), atol=1e-14)
    for c in (0.5, 2.0):
        np.testing.assert_allclose(form.dose(c), sla.block_diag(polar_form(B1).dose(c), B2, B3), atol=1e-13)
    assert np.isrealobj(form.dose(0.5))


def test_normal_matrix_is_a_fixed_point_even_with_a_repeated_eigenvalue():
    rng = np.random.default_rng(5)
    Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    J = Q @ np.diag([2.0, 2.0, 2.0, 1.0, -1.0, 0.5, 0.5, 3.0]) @ Q.T
    form = polar_form(J)
    for c in (0.0, 2.0):
        np.testing.assert_allclose(form.dose(c), J, atol=1e-12)


def test_nearly_defective_matrix_is_refused_with_its_condition():
    with pytest.raises(FloatingPointError, match=r"cond\(V\)"):
        polar_form(np.array([[1.0, 1.0], [0.0, 1.0]]))  # a Jordan block: no eigenvector basis
    # a 10 x 10 Jordan block perturbed by 1e-12 in a random basis: ten distinct eigenvalues ~0.06 apart,
    # cond(V) ~ 1e12, V Λ V⁻¹ off by ~1e-5: the surgery is not resolved
    rng = np.random.default_rng(0)
    A = np.eye(10) + np.diag(np.ones(9), 1) + 1e-12 * rng.standard_normal((10, 10))
    S = np.eye(10) + 0.3 * rng.standard_normal((10, 10))
    with pytest.raises(FloatingPointError, match=r"reconstructs .* cond\(V\) = [0-9.]+e\+1"):
        polar_form(S @ A @ np.linalg.inv(S))
    # an imaginary part above rounding is refused, not dropped
    form = polar_form(random_matrix(14, d=6))
    with pytest.raises(FloatingPointError, match="imaginary part"):
        form.realified(form.matrix(0.5) + 1e-3j, 0.5)


def test_complex_input_stays_complex():
    rng = np.random.default_rng(6)
    J = rng.standard_normal((10, 10)) + 1j * rng.standard_normal((10, 10))
    form = polar_form(J)
    A, im = form.dose_with_imag(0.0)
    assert np.iscomplexobj(A) and np.isnan(im)
    assert np.linalg.norm(form.dose(1.0) - J) / np.linalg.norm(J) < 1e-10
    assert departure(A) < 1e-12


def test_controls_keep_what_they_claim():
    J = random_matrix(7, d=16)
    form = polar_form(J)
    J0 = form.dose(0.0)
    rng = np.random.default_rng(0)
    doses = [0.0, 0.5, 1.0, 2.0]
    a = polar_matrices(form, "control_a", rng, doses)
    np.testing.assert_allclose(a[0], J0, atol=1e-14)  # the normal part, no mass at c = 0
    assert np.isrealobj(a[3])
    # c * the dose's own departure ‖J - J_0‖_F, in a random direction
    assert np.linalg.norm(a[3] - J0) == pytest.approx(2 * np.linalg.norm(J - J0), rel=1e-10)
    b = polar_matrices(form, "control_b", rng, doses)
    assert departure(b[0]) < 1e-12  # a normal matrix in a random basis at c = 0
    for m in b:
        assert same_spectrum(np.linalg.eigvals(m), form.eigenvalues) < 1e-8
    # the eigenvector geometry P is kept: ‖B_c‖_F = ‖J_c‖_F (a unitary similarity of the same core)
    np.testing.assert_allclose([np.linalg.norm(m) for m in b], [np.linalg.norm(form.dose(c)) for c in doses], rtol=1e-10)
    with pytest.raises(ValueError, match="construction"):
        polar_matrices(form, "control_c", rng, doses)


def random_stack(seed, d=16, L=4, scale=1.2):
    rng = np.random.default_rng(seed)
    return [np.eye(d) + scale * rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(L)]


def test_sweep_at_one_is_the_model_and_at_zero_a_normal_product():
    Js = random_stack(8)
    t = dose_sweep(LayerSchurForms(Js, "J", "polar"), "J", "dose", [0, 0.5, 1, 2])
    assert set(t["method"]) == {"polar"}
    ref = cumulative_products(Js)
    at = t.set_index("c")
    assert at.loc[1.0, "erank"] == pytest.approx(ref.erank[0], rel=1e-9)
    assert at.loc[1.0, "log10_fro"] == pytest.approx(ref.log10_fro[0], abs=1e-9)
    # single layer at c = 0: a normal matrix, singular values |λ|
    one = dose_sweep(LayerSchurForms(Js[:1], "J", "polar"), "J", "dose", [0])
    assert one["erank"].iloc[0] == pytest.approx(effective_rank(np.abs(np.linalg.eigvals(Js[0]))), rel=1e-9)
    assert one["henrici"].iloc[0] < 1e-6
    # resolution columns: cond(V) over layers, reconstruction at c = 1, imaginary parts; no orders
    conds = [polar_form(J).cond for J in Js]
    assert at["eigvec_cond_max"].iloc[0] == pytest.approx(max(conds), rel=1e-12)
    assert (at["polar_residual_max"] < 1e-12).all() and (at["imag_rel_max"] < 1e-12).all()
    assert at["erank_order_median"].isna().all() and (at["n_orders"] == 0).all()
    with pytest.raises(ValueError, match="order_draws"):
        dose_sweep(LayerSchurForms(Js, "J", "polar"), "J", "dose", [0, 1], order_draws=2)


def test_sweep_is_invariant_under_permutation_similarity():
    Js = random_stack(9)
    S = np.eye(16)[np.random.default_rng(1).permutation(16)]
    a = dose_sweep(LayerSchurForms(Js, "J", "polar"), "J", "dose", [0, 0.5, 2])
    b = dose_sweep(LayerSchurForms([S @ J @ S.T for J in Js], "J", "polar"), "J", "dose", [0, 0.5, 2])
    np.testing.assert_allclose(b["erank"], a["erank"], rtol=1e-10)


def test_mode_r_equals_mode_j_under_polar_surgery():
    # R = J - I has J's eigenvectors and Λ - I, so I + R_c = J_c: mode R repeats mode J.
    Js = random_stack(10)
    kw = dict(construction="dose", doses=[0, 0.5, 1, 2])
    j = dose_sweep(LayerSchurForms(Js, "J", "polar"), "J", **kw)
    r = dose_sweep(LayerSchurForms(Js, "R", "polar"), "R", **kw)
    np.testing.assert_allclose(r["erank"], j["erank"], rtol=1e-8)
    np.testing.assert_allclose(r["log10_fro"], j["log10_fro"], atol=1e-8)


def test_controls_in_the_sweep_are_seeded():
    Js = random_stack(11)
    forms = LayerSchurForms(Js, "J", "polar")
    t = dose_sweep(forms, "J", CONSTRUCTIONS, [0, 1], draws=2, seed=3)
    again = dose_sweep(forms, "J", CONSTRUCTIONS, [0, 1], draws=2, seed=3)
    assert t.to_csv() == again.to_csv()
    a0 = t[(t["construction"] == "control_a") & (t["c"] == 0)]["erank"]
    d0 = t[(t["construction"] == "dose") & (t["c"] == 0)]["erank"].iloc[0]
    np.testing.assert_allclose(a0, d0, rtol=1e-6)  # Control A at c = 0 is the dose's normal part
    assert t[(t["construction"] == "control_b") & (t["c"] == 1)]["erank"].nunique() == 2


def test_table3_under_polar():
    Js = random_stack(12)
    rows = []
    for run in ("a", "b"):
        for mode in ("J", "R"):
            t = dose_sweep(LayerSchurForms(Js, mode, "polar"), mode, "dose", [0, 1, 2])
            rows.append(t.assign(run=run))
    t3 = table3(pd.concat(rows, ignore_index=True)).set_index("run")
    a = t3.loc["a"]
    assert a["method"] == "polar" and a["n_orders"] == 0
    assert a["ratio_c0_c1_j"] == pytest.approx(a["erank_c0"] / a["erank_c1"])
    assert a["ratio_c0_c1_r"] == pytest.approx(a["ratio_c0_c1_j"], rel=1e-8)
    assert np.isnan(a["erank_c0_q05"]) and np.isnan(a["ratio_c0_c1_j_median"])
    assert a["eigvec_cond_max"] == pytest.approx(max(polar_form(J).cond for J in Js), rel=1e-9)
    md = table3_markdown(t3.reset_index())
    assert "Polar surgery" in md and f"| {a['eigvec_cond_max']:.3g} |" in md


def test_imag_rel_known_values():
    assert imag_rel(np.ones((2, 2))) == 0.0
    assert imag_rel(np.array([[3.0 + 4.0j]])) == pytest.approx(0.8)
    assert RESOLUTION_TOL < 1e-5


def test_layer_operator_r_shares_j_eigenvectors():
    J = random_matrix(13, d=12)
    a, b = polar_form(J), polar_form(layer_operator(J, "R"))
    np.testing.assert_allclose(b.dose(0.0) + np.eye(12), a.dose(0.0), atol=1e-12)


@pytest.mark.parametrize("surgery", ["polar", "schur"])
def test_figures_shade_the_order_distribution_only_under_schur_surgery(surgery):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection

    from resdyn.plots.schur import figure5, figure_s8

    Js = random_stack(15, d=10, L=3)
    draws = 7 if surgery == "schur" else 0
    t = dose_sweep(LayerSchurForms(Js, "J", surgery), "J", CONSTRUCTIONS, [0, 1, 2], draws=2, order_draws=draws)
    t = t.assign(run="a")
    fig = figure5(t)
    bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == (1 if surgery == "schur" else 0)
    if bands:  # the band spans the 5th-95th percentiles of the random orders
        ys = bands[0].get_paths()[0].vertices[:, 1]
        dose = t[t["construction"] == "dose"]
        assert ys.min() == pytest.approx(dose["erank_order_q05"].min(), rel=1e-12)
        assert ys.max() == pytest.approx(dose["erank_order_q95"].max(), rel=1e-12)
    assert ("polar surgery" in fig._suptitle.get_text()) == (surgery == "polar")
    s8 = figure_s8(t)
    assert len(s8.axes) == 2
