"""Schur surgery: Schur form, Henrici departure, Haar unitaries, dose sweep, Table 3."""
import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla

from resdyn.core.linalg import effective_rank, haar_unitary, henrici_departure as departure
from resdyn.dynamics.cumulative import cumulative_products
from resdyn.dynamics.schur import (
    CONSTRUCTIONS,
    LayerSchurForms,
    canonical_order,
    complex_schur,
    dose_sweep,
    layer_operator,
    reorder,
    surgery_terms,
    table3,
    table3_markdown,
)

DOSES = [0, 0.25, 0.5, 0.75, 1, 1.5, 2]


def henrici_departure(A):
    return departure(np.linalg.norm(A) ** 2, sla.eigvals(A))


def random_stack(seed, d=24, L=5, scale=0.8):
    rng = np.random.default_rng(seed)
    return [np.eye(d) + scale * rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(L)]


def assert_same_spectrum(a, b, atol):
    """Equal as multisets: optimal matching of eigenvalues (sorting breaks on rounding of conjugates)."""
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :])
    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].max() < atol


def forms_for(Js, mode):
    return [complex_schur(layer_operator(J, mode)) for J in Js]


@pytest.mark.parametrize("d", [1, 2, 7, 40])
def test_complex_schur_is_exact(d):
    J = random_stack(d, d=d, L=1, scale=2.0)[0]
    form = complex_schur(J)
    Q, T = form.Q, form.T
    assert np.linalg.norm(Q.conj().T @ Q - np.eye(d)) < 1e-12  # unitary
    assert np.all(np.tril(T, -1) == 0)  # upper triangular
    assert np.linalg.norm(form.reconstruct() - J) / np.linalg.norm(J) < 1e-10
    # ||N||_F^2 = ||J||_F^2 - sum |lambda|^2 (Q unitary), and Lambda = spectrum of J
    lam = form.eigenvalues
    lhs = np.linalg.norm(form.N) ** 2
    rhs = np.linalg.norm(J) ** 2 - np.sum(np.abs(lam) ** 2)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-10 * np.linalg.norm(J) ** 2)
    assert_same_spectrum(lam, np.linalg.eigvals(J), atol=1e-9)


def test_schur_identity_per_layer_near_identity_stack():
    for J in random_stack(7, d=30, L=4, scale=0.3):
        for mode in ("J", "R"):
            A = layer_operator(J, mode)
            f = complex_schur(A)
            assert np.linalg.norm(f.N) ** 2 == pytest.approx(
                np.linalg.norm(A) ** 2 - np.sum(np.abs(f.eigenvalues) ** 2), rel=1e-9
            )
            assert henrici_departure(A) == pytest.approx(np.linalg.norm(f.N) / np.linalg.norm(A), rel=1e-6)


def test_henrici_known_values():
    rng = np.random.default_rng(0)
    U = haar_unitary(6, rng)
    normal = U @ np.diag(rng.standard_normal(6) + 1j * rng.standard_normal(6)) @ U.conj().T
    assert henrici_departure(normal) < 1e-6
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])  # normal, complex eigenvalues
    assert henrici_departure(rotation) < 1e-6
    assert henrici_departure(np.array([[0.0, 1.0], [0.0, 0.0]])) == pytest.approx(1.0)
    a = 3.0  # [[1, a], [0, 1]]: sqrt(a^2) / sqrt(2 + a^2)
    assert henrici_departure(np.array([[1.0, a], [0.0, 1.0]])) == pytest.approx(a / np.sqrt(2 + a**2), rel=1e-6)


def _unfixed_qr_unitary(n, rng):
    z = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / np.sqrt(2)
    return np.linalg.qr(z)[0]


def _trace_statistics(sampler, n=3, draws=2000, seed=0):
    rng = np.random.default_rng(seed)
    tr = np.array([np.trace(sampler(n, rng)) for _ in range(draws)])
    return tr.mean(), np.mean(np.abs(tr) ** 2)


def test_haar_unitary_is_haar():
    rng = np.random.default_rng(1)
    U = haar_unitary(5, rng)
    assert np.linalg.norm(U.conj().T @ U - np.eye(5)) < 1e-12
    # Under Haar measure on U(n): E[tr U] = 0 and E|tr U|^2 = 1 (Diaconis-Shahshahani).
    mean_tr, mean_abs2 = _trace_statistics(haar_unitary)
    assert abs(mean_tr) < 0.1  # s.e. ~0.02 per component
    assert mean_abs2 == pytest.approx(1.0, abs=0.15)
    # The QR of a Ginibre matrix without the phase fix fails the same statistic
    # (LAPACK's real R diagonal forces Re Q_jj < 0, so E[tr U] ~ -1).
    biased_tr, _ = _trace_statistics(_unfixed_qr_unitary)
    assert biased_tr.real < -0.5


def test_surgery_terms_preserve_what_they_claim():
    J = random_stack(3, d=20, L=1, scale=1.5)[0]
    form = complex_schur(J)
    lam = form.eigenvalues
    rng = np.random.default_rng(0)
    base, direction = surgery_terms(form, "dose", None)
    assert henrici_departure(base) < 1e-6  # c = 0 is normal at the trained spectrum
    assert_same_spectrum(np.linalg.eigvals(base), lam, atol=1e-9)
    np.testing.assert_allclose(base + direction, J, atol=1e-10)  # c = 1 is the trained J
    base_a, dir_a = surgery_terms(form, "control_a", rng)
    np.testing.assert_allclose(base_a, base)
    assert np.linalg.norm(dir_a) == pytest.approx(np.linalg.norm(form.N), rel=1e-12)
    assert np.isrealobj(dir_a)
    base_b, dir_b = surgery_terms(form, "control_b", rng)
    for c in (0.0, 0.5, 2.0):  # a unitary similarity of Lambda + cN keeps the spectrum
        assert_same_spectrum(np.linalg.eigvals(base_b + c * dir_b), lam, atol=1e-6)
    assert np.linalg.norm(dir_b) == pytest.approx(np.linalg.norm(form.N), rel=1e-10)


@pytest.mark.parametrize("mode", ["J", "R"])
def test_dose_one_reproduces_trained_product(mode):
    Js = random_stack(11, d=24, L=5, scale=1.2)
    table = dose_sweep(forms_for(Js, mode), mode, "dose", DOSES)
    ref = cumulative_products(Js)
    at1 = table[table["c"] == 1].iloc[0]
    assert at1["erank"] == pytest.approx(ref.erank[0], rel=1e-10)
    assert at1["log10_fro"] == pytest.approx(ref.log10_fro[0], abs=1e-10)
    P = np.linalg.multi_dot(Js[::-1])
    assert at1["henrici"] == pytest.approx(henrici_departure(P), abs=1e-8)
    assert list(table["c"]) == DOSES and set(table["draw"]) == {0}
    assert table["erank"].nunique() == len(DOSES)  # the dose does something on a non-normal stack


def test_dose_zero_single_layer_known_answer():
    # L = 1, c = 0: P = Q Lambda Q*, whose singular values are |lambda| and which is normal.
    J = random_stack(5, d=18, L=1, scale=2.0)[0]
    table = dose_sweep(forms_for([J], "J"), "J", "dose", [0.0])
    lam = np.linalg.eigvals(J)
    assert table["erank"].iloc[0] == pytest.approx(effective_rank(np.abs(lam)), rel=1e-10)
    assert table["log10_fro"].iloc[0] == pytest.approx(np.log10(np.linalg.norm(lam)), abs=1e-10)
    assert table["henrici"].iloc[0] < 1e-6


def test_normal_stack_is_dose_invariant():
    # N = 0 for normal layers: every dose and Control A (mass c * 0) give the same product.
    rng = np.random.default_rng(8)
    Js = []
    for _ in range(4):
        U = np.linalg.qr(rng.standard_normal((16, 16)))[0]
        Js.append(U @ np.diag(rng.uniform(0.3, 3.0, 16)) @ U.T)
    forms = forms_for(Js, "J")
    dose = dose_sweep(forms, "J", "dose", DOSES)
    ctrl = dose_sweep(forms, "J", "control_a", DOSES, draws=2, seed=3)
    ref = cumulative_products(Js).erank[0]
    np.testing.assert_allclose(dose["erank"], ref, rtol=1e-8)
    np.testing.assert_allclose(ctrl["erank"], ref, rtol=1e-6)


def test_controls_seeded_and_deterministic():
    Js = random_stack(13, d=16, L=4, scale=1.5)
    forms = LayerSchurForms(Js, "J")
    kw = dict(mode="J", doses=[0, 1, 2], draws=3)
    for construction in ("control_a", "control_b"):
        a = dose_sweep(forms, construction=construction, seed=7, **kw)
        b = dose_sweep(forms, construction=construction, seed=7, **kw)
        assert a.to_csv() == b.to_csv()  # byte-identical
        other = dose_sweep(forms, construction=construction, seed=8, **kw)
        assert not np.allclose(a["erank"], other["erank"])
        assert sorted(set(a["draw"])) == [0, 1, 2]
        at1 = a[a["c"] == 1]["erank"]
        assert at1.nunique() == 3  # draws are independent
    # Control B with c = 0 changes only the basis of a normal matrix; with one layer the
    # product's singular values are still |lambda|.
    one = dose_sweep(forms_for(Js[:1], "J"), "J", "control_b", [0.0], draws=2)
    np.testing.assert_allclose(one["erank"], effective_rank(np.abs(np.linalg.eigvals(Js[0]))), rtol=1e-9)


def test_one_sweep_over_all_constructions_equals_the_single_sweeps():
    Js = random_stack(19, d=16, L=4, scale=1.5)
    forms = LayerSchurForms(Js, "R")
    kw = dict(mode="R", doses=[0, 0.5, 1], draws=2, seed=5)
    together = dose_sweep(forms, construction=CONSTRUCTIONS, **kw)
    apart = pd.concat([dose_sweep(forms, construction=c, **kw) for c in CONSTRUCTIONS], ignore_index=True)
    assert together.to_csv() == apart.to_csv()  # same rows, same order, same draws


def test_truncated_sweep_matches_exact_at_full_rank():
    Js = random_stack(17, d=12, L=4, scale=1.5)
    forms = forms_for(Js, "R")
    exact = dose_sweep(forms, "R", "control_b", [0, 1], draws=1, seed=1)
    trunc = dose_sweep(forms, "R", "control_b", [0, 1], draws=1, seed=1, method="truncated", rank=12)
    np.testing.assert_allclose(trunc["erank"], exact["erank"], rtol=1e-9)
    np.testing.assert_allclose(trunc["henrici"], exact["henrici"], atol=1e-8)


def test_bad_arguments_are_named():
    forms = forms_for(random_stack(1, d=4, L=1), "J")
    with pytest.raises(ValueError, match="mode"):
        dose_sweep(forms, "K", "dose", [1])
    with pytest.raises(ValueError, match="construction"):
        dose_sweep(forms, "J", "control_c", [1])
    with pytest.raises(ValueError, match="doses"):
        dose_sweep(forms, "J", "dose", [1, 1])
    with pytest.raises(ValueError, match="square"):
        complex_schur(np.ones((2, 3)))


def test_table3_from_dose_table():
    rows = []
    for run, (e0, e1, e2, r0, r1) in {"a": (40.0, 8.0, 2.0, 30.0, 6.0), "b": (10.0, 10.0, 10.0, 9.0, 9.0)}.items():
        for mode, vals in (("J", {0: e0, 1: e1, 2: e2}), ("R", {0: r0, 1: r1, 2: 1.0})):
            for c, e in vals.items():
                rows.append({"run": run, "mode": mode, "method": "schur", "construction": "dose", "c": float(c), "draw": 0,
                             "erank": e})
            rows.append({"run": run, "mode": mode, "method": "schur", "construction": "control_a", "c": 0.0, "draw": 0,
                         "erank": 999.0})
    t = table3(pd.DataFrame(rows))
    a = t.set_index("run").loc["a"]
    assert (a["erank_c0"], a["erank_c1"], a["erank_c2"]) == (40.0, 8.0, 2.0)
    assert a["ratio_c0_c1_j"] == pytest.approx(5.0) and a["ratio_c0_c1_r"] == pytest.approx(5.0)
    md = table3_markdown(t)
    assert "| a | 40 | 8 | 2 | 5.00× | 5.00× |" in md
    with pytest.raises(ValueError, match="c = 2"):
        table3(pd.DataFrame([r for r in rows if r["c"] != 2.0]))
    assert t["n_orders"].tolist() == [0, 0] and t["erank_c0_q05"].isna().all() and set(t["method"]) == {"schur"}
    orders = {0.0: (36.0, 41.0, 44.0), 1.0: (8.0, 8.0, 8.0), 2.0: (1.5, 2.5, 3.5)}
    banded = pd.DataFrame(rows).assign(n_orders=8)
    for k, name in enumerate(("erank_order_q05", "erank_order_median", "erank_order_q95")):
        banded[name] = banded["c"].map(lambda c: orders[c][k])
    b = table3(banded).set_index("run").loc["a"]
    assert (b["erank_c0_q05"], b["erank_c0_median"], b["erank_c0_q95"], b["n_orders"]) == (36.0, 41.0, 44.0, 8)
    assert (b["erank_c2_q05"], b["erank_c2_median"], b["erank_c2_q95"]) == (1.5, 2.5, 3.5)
    assert (b["ratio_c0_c1_j_q05"], b["ratio_c0_c1_j_median"], b["ratio_c0_c1_j_q95"]) == pytest.approx((4.5, 5.125, 5.5))
    assert "| a | 40 [41; 36–44] | 8 | 2 [2.5; 1.5–3.5] | 5.00× [5.12×; 4.50–5.50] | 5.00× |" in table3_markdown(table3(banded))
    with pytest.raises(ValueError, match="one surgery method"):
        table3(pd.DataFrame(rows).assign(method=["polar", "schur"] * (len(rows) // 2)))


def test_draws_do_not_depend_on_how_many_are_run():
    # per-(layer, draw) streams: draw 1 is the same whether 2 or 3 draws are asked for
    forms = forms_for(random_stack(21, d=10, L=3, scale=1.5), "R")
    two = dose_sweep(forms, "R", "control_a", [0.5, 1], draws=2, seed=4)
    three = dose_sweep(forms, "R", "control_a", [0.5, 1], draws=3, seed=4)
    pd.testing.assert_frame_equal(two, three[three["draw"] < 2].reset_index(drop=True))


def test_mode_r_is_mode_j_in_the_order_of_r():
    # Known answer: R = J - I = Q (Lambda - I + N) Q*, so N_R = N, Q_R = Q and I + R(c) = J(c)
    # in the same diagonal order. Mode R (canonical: decreasing |lambda - 1|) therefore equals
    # mode J with J's form put in R's order, and differs from mode J in J's own order.
    Js = random_stack(23, d=20, L=4, scale=1.2)
    in_r_order = [reorder(f, canonical_order(f.eigenvalues - 1)) for f in forms_for(Js, "J")]
    j_r = dose_sweep(in_r_order, "J", "dose", DOSES)
    r = dose_sweep(forms_for(Js, "R"), "R", "dose", DOSES)
    for column in ("erank", "log10_fro", "henrici"):
        np.testing.assert_allclose(r[column], j_r[column], rtol=1e-8, atol=1e-10)
    j = dose_sweep(forms_for(Js, "J"), "J", "dose", DOSES)
    assert abs(j["erank"].iloc[0] - r["erank"].iloc[0]) > 1e-3  # c = 0: the order matters
    at1 = lambda t: t.loc[t["c"] == 1, "erank"].iloc[0]  # noqa: E731
    assert at1(j) == pytest.approx(at1(r), rel=1e-10)  # c = 1: it does not


def test_canonical_order_survives_permutation_similarity():
    # Distinct eigenvalues: the Schur form in a fixed order is unique up to a diagonal phase, so
    # Q Lambda Q* of P J P^T is P (Q Lambda Q*) P^T, whatever order LAPACK returned.
    rng = np.random.default_rng(31)
    J = random_stack(31, d=30, L=1, scale=1.5)[0]
    form = complex_schur(J)
    lam = form.eigenvalues
    assert np.all(np.diff(np.abs(lam)) <= 1e-12)  # decreasing modulus
    pairs = np.abs(lam[:-1] - lam[1:].conj()) < 1e-10  # conjugate neighbours: + Im first
    assert pairs.any() and np.all(lam[:-1][pairs].imag > 0)
    assert np.linalg.norm(form.reconstruct() - J) < 1e-12 * np.linalg.norm(J)
    lapack_forms = []
    for _ in range(3):
        P = np.eye(30)[rng.permutation(30)]
        other = complex_schur(P @ J @ P.T)
        np.testing.assert_allclose(other.eigenvalues, lam, atol=1e-11)
        np.testing.assert_allclose(P.T @ other.normal_part() @ P, form.normal_part(), atol=1e-11)
        lapack_forms.append(complex_schur(P @ J @ P.T, order="lapack").normal_part())
    # without the canonical order the normal part does depend on the similarity
    assert max(np.linalg.norm(P.T @ n @ P - form.normal_part()) for n in lapack_forms[-1:]) > 1e-3


def test_c0_of_a_permuted_stack_is_the_same():
    Js = random_stack(37, d=16, L=4, scale=1.5)
    rng = np.random.default_rng(2)
    P = np.eye(16)[rng.permutation(16)]
    a = dose_sweep(forms_for(Js, "J"), "J", "dose", [0, 0.5, 1])
    b = dose_sweep(forms_for([P @ J @ P.T for J in Js], "J"), "J", "dose", [0, 0.5, 1])
    np.testing.assert_allclose(b["erank"], a["erank"], rtol=1e-9)


def test_order_distribution_of_random_orders_and_none_at_c1():
    Js = random_stack(41, d=16, L=4, scale=1.5)
    forms = forms_for(Js, "J")
    t = dose_sweep(forms, "J", ["dose", "control_a"], [0, 1, 2], draws=1, order_draws=7, seed=3)
    dose = t[t["construction"] == "dose"].set_index("c")
    assert set(dose["n_orders"]) == {7} and t.loc[t["construction"] == "control_a", "erank_order_q05"].isna().all()
    assert set(t["method"]) == {"schur"} and t["eigvec_cond_max"].isna().all()
    # the distribution is that of the dose construction over orders, recomputed here by hand
    from resdyn.dynamics.schur import layer_rng, random_order

    hand = []
    for k in range(7):
        ordered = [random_order(f, layer_rng(3, "J", "order", layer, k)) for layer, f in enumerate(forms)]
        hand.append(dose_sweep(ordered, "J", "dose", [0])["erank"].iloc[0])
    q05, med, q95 = np.percentile(hand, [5, 50, 95])
    assert dose.loc[0.0, "erank_order_q05"] == pytest.approx(q05, rel=1e-10)
    assert dose.loc[0.0, "erank_order_median"] == pytest.approx(med, rel=1e-10)
    assert dose.loc[0.0, "erank_order_q95"] == pytest.approx(q95, rel=1e-10)
    # 7 draws: the 95 % interval of the median is [X_(1), X_(7)] (coverage 1 - 2/2^7 = 0.984; [X_(2), X_(6)]: 0.875)
    assert (dose.loc[0.0, "erank_order_median_ci_lo"], dose.loc[0.0, "erank_order_median_ci_hi"]) == pytest.approx(
        (min(hand), max(hand)), rel=1e-10)
    assert dose.loc[0.0, "erank_order_q95"] - dose.loc[0.0, "erank_order_q05"] > 1e-3
    assert dose.loc[1.0, "erank_order_q95"] - dose.loc[1.0, "erank_order_q05"] < 1e-9
    assert dose.loc[1.0, "erank_order_median"] == pytest.approx(dose.loc[1.0, "erank"], rel=1e-10)


def test_order_summary_known_answers():
    from resdyn.dynamics.schur import order_summary

    # n = 10: [X_(2), X_(9)] covers the median with 1 - 2 (1 + 10)/2^10 = 0.979; [X_(3), X_(8)] only 0.891
    s = order_summary(np.arange(10.0)[::-1])
    assert (s["erank_order_median_ci_lo"], s["erank_order_median_ci_hi"]) == (1.0, 8.0)
    assert (s["erank_order_q05"], s["erank_order_median"], s["erank_order_q95"]) == pytest.approx((0.45, 4.5, 8.55))
    few = order_summary([1.0, 2.0, 3.0, 4.0, 5.0])  # 5 draws: no interval reaches 95 % (max 1 - 2/32)
    assert np.isnan(few["erank_order_median_ci_lo"]) and few["erank_order_median"] == 3.0
    assert all(np.isnan(v) for v in order_summary([]).values())


def test_order_median_is_stable_to_its_monte_carlo_error_under_another_seed():
    # The median over random orders estimates an order-free quantity; its Monte Carlo error is the 95 %
    # interval of the median. Two runs with independent streams estimate the same median, so their
    # difference lies within the root-sum-square of the two half-widths (the 95 % error of a
    # difference); a single rerun lands inside the first interval only ~83 % of the time, so that is
    # not the criterion.
    Js = random_stack(43, d=12, L=3, scale=1.5)
    forms = forms_for(Js, "J")
    runs = [dose_sweep(forms, "J", "dose", [0, 2], order_draws=40, seed=s).set_index("c") for s in (1, 2, 3)]

    def half(r):
        return (r["erank_order_median_ci_hi"] - r["erank_order_median_ci_lo"]) / 2

    for c in (0.0, 2.0):
        first = runs[0].loc[c]
        for other in runs[1:]:
            b = other.loc[c]
            assert first["erank_order_median"] != b["erank_order_median"]  # the streams differ
            gap = abs(first["erank_order_median"] - b["erank_order_median"])
            assert gap <= np.hypot(half(first), half(b))
            assert half(first) < (first["erank_order_q95"] - first["erank_order_q05"]) / 2  # finer than the spread
    # the canonical order is not an estimate of that median (here it lies above the median's interval)
    assert runs[0].loc[0.0, "erank"] > runs[0].loc[0.0, "erank_order_median_ci_hi"]


def test_single_precision_products_agree_with_double():
    # The workflow recomposes in complex64: same rows as complex128 to float32 accuracy.
    Js = random_stack(seed=11)
    forms = forms_for(Js, "J")
    kw = dict(construction=CONSTRUCTIONS, doses=DOSES, draws=2, seed=5)
    single = dose_sweep(forms, "J", precision="single", **kw)
    double = dose_sweep(forms, "J", precision="double", **kw)
    for col in ("erank", "log10_fro", "henrici"):
        np.testing.assert_allclose(single[col], double[col], rtol=2e-5)
    assert not np.array_equal(single["erank"], double["erank"])  # the single path did run
    with pytest.raises(ValueError, match="precision"):
        dose_sweep(forms, "J", "dose", [1], precision="half")


def test_table3_distribution_leaves_the_canonical_order_out_and_mode_r_is_optional():
    rows = [{"run": "a", "mode": "J", "method": "schur", "construction": "dose", "c": float(c), "draw": 0, "erank": e,
             "erank_order_q05": lo, "erank_order_median": m, "erank_order_q95": hi, "n_orders": 40}
            for c, e, lo, m, hi in ((0, 1.1, 40.0, 50.0, 60.0), (1, 10.0, 10.0, 10.0, 10.0), (2, 3.0, 2.0, 3.0, 4.0))]
    t = table3(pd.DataFrame(rows)).iloc[0]
    # the canonical c = 0 (1.1) lies below every random order: it stays outside their distribution
    assert (t["erank_c0"], t["erank_c0_q05"], t["erank_c0_q95"]) == (1.1, 40.0, 60.0)
    assert (t["ratio_c0_c1_j_q05"], t["ratio_c0_c1_j_median"], t["ratio_c0_c1_j_q95"]) == pytest.approx((4.0, 5.0, 6.0))
    assert np.isnan(t["ratio_c0_c1_r"]) and np.isnan(t["erank_c0_median_ci_lo"])
    assert "| — |" in table3_markdown(table3(pd.DataFrame(rows)))


def test_schur_surgery_is_gram_schmidt_of_the_eigenvectors_in_the_diagonal_order():
    # V_π = QR gives J = Q (R Λ_π R⁻¹) Q*, a Schur form in order π: the normal part Q Λ Q* is the
    # Gram-Schmidt orthogonalisation of the eigenvectors taken in that order (any column phase cancels).
    J = random_stack(47, d=14, L=1, scale=1.5)[0]
    lam, V = np.linalg.eig(J)
    for order in (canonical_order(lam), np.random.default_rng(0).permutation(14)):
        Q, _ = np.linalg.qr(V[:, order])
        gram_schmidt = (Q * lam[order][None, :]) @ Q.conj().T
        form = complex_schur(J)
        if not np.array_equal(order, canonical_order(lam)):
            # the same eigenvalues in the same order on the Schur diagonal
            form = reorder(form, [int(np.argmin(np.abs(form.eigenvalues - lam[k]))) for k in order])
        np.testing.assert_allclose(np.diagonal(form.T), lam[order], atol=1e-10)
        np.testing.assert_allclose(form.normal_part(), gram_schmidt, atol=1e-10)
