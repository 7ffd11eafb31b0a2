import numpy as np
import pytest
from scipy import stats as st

from resdyn.coupling import stats

# Benjamini & Hochberg (1995), Section 4: 15 p-values, 4 rejected at q* = 0.05
BH_P = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
        0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]


def test_bh_textbook_example():
    rng = np.random.default_rng(0)
    perm = rng.permutation(15)
    p = np.array(BH_P)[perm]
    q, rej = stats.benjamini_hochberg(p, 0.05)
    assert rej.sum() == 4
    assert set(np.array(BH_P)[perm][rej]) == set(BH_P[:4])
    expected = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571428571, 0.0638571428571, 0.0645, 0.0765,
                0.486, 0.5811818181818, 0.714875, 0.7532307692307, 0.8132142857142, 1.0]
    np.testing.assert_allclose(q[np.argsort(perm)], expected, rtol=1e-9)
    np.testing.assert_allclose(q, st.false_discovery_control(p, method="bh"), rtol=1e-12)


def test_bh_nan_and_bad_input():
    q, rej = stats.benjamini_hochberg([0.01, np.nan, 0.04], 0.05)
    np.testing.assert_allclose(q[[0, 2]], [0.02, 0.04])
    assert np.isnan(q[1]) and not rej[1]
    with pytest.raises(ValueError):
        stats.benjamini_hochberg([1.5])


def test_permutation_p_form():
    null = np.array([1.0, 2.0, 3.0, 4.0])
    assert stats.permutation_p(3.0, null, "greater") == pytest.approx(3 / 5)
    assert stats.permutation_p(10.0, null, "greater") == pytest.approx(1 / 5)
    assert stats.permutation_p(-2.5, np.array([-3.0, 1.0, 2.0, 2.6]), "two-sided") == pytest.approx(3 / 5)
    assert stats.permutation_p(1.5, null, "less") == pytest.approx(2 / 5)


def test_cohens_d_hand_example():
    # mean(top) - mean(bottom) = 4 - 1 = 3; std([1, 1, 3, 5], ddof=1) = sqrt(11/3)
    assert stats.cohens_d([3, 5], [1, 1], [1, 1, 3, 5]) == pytest.approx(3 / np.sqrt(11 / 3))


def test_tails_and_permutation_test():
    v = np.array([0.0, 0.0, 0.0, 0.5, 0.9, 1.0, 0.2, 0.0, 0.7, 0.3])
    top, bottom = stats.tail_indices(v, 0.2)
    assert sorted(top) == [4, 5] and sorted(bottom) == [0, 1, 2, 7]  # every unit tied at the cut is in its tail
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(200)
    d, p = stats.cohens_d_permutation(ref[:20] + 5, ref[20:40], ref, 999, rng)
    assert d > 0 and p == pytest.approx(1 / 1000)
    # Known answer by enumeration: {3, 4} vs {1, 2} splits {1, 2, 3, 4} into pairs 6 ways, of which
    # 2 give |mean difference| >= 2, so the exact two-sided p is 1/3 (Monte Carlo sd 0.003 here).
    d, p = stats.cohens_d_permutation([3.0, 4.0], [1.0, 2.0], [1.0, 2.0, 3.0, 4.0], 20000, rng)
    assert d == pytest.approx(2 / np.std([1, 2, 3, 4], ddof=1))
    assert p == pytest.approx(1 / 3, abs=0.015)


def test_spearman_permutation_and_z():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(30)
    y = x + 0.1 * rng.standard_normal(30)
    rho, p = stats.spearman_permutation(x, y, 2000, rng)
    assert rho == pytest.approx(st.spearmanr(x, y).statistic)
    assert p == pytest.approx(1 / 2001)
    rho, p = stats.spearman_permutation(x, rng.standard_normal(30), 2000, rng)
    assert p > 0.01
    z, p = stats.z_test_greater(3.0, [0.0, 1.0, 2.0])
    assert z == pytest.approx(2.0) and p == pytest.approx(st.norm.sf(2.0))


def test_tied_units_at_the_cut_all_join_the_tail():
    # ties at both tail boundaries: each tail is every unit at or beyond its cut value
    v = np.array([0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0])
    top, bottom = stats.tail_indices(v, 0.2)
    assert top.tolist() == [6, 7, 8, 9] and bottom.tolist() == [0, 1, 2]
    # all tied (e.g. isolated units, participation 0): both tails hold every unit
    top, bottom = stats.tail_indices(np.zeros(10), 0.3)
    assert top.tolist() == bottom.tolist() == list(range(10))
    # and the tails do not depend on how the values are stored or numbered
    top32, bottom32 = stats.tail_indices(v.astype(np.float32), 0.2)
    assert top32.tolist() == [6, 7, 8, 9] and bottom32.tolist() == [0, 1, 2]
    order = np.random.default_rng(0).permutation(10)
    top_p, bottom_p = stats.tail_indices(v[order], 0.2)
    assert sorted(order[top_p].tolist()) == [6, 7, 8, 9] and sorted(order[bottom_p].tolist()) == [0, 1, 2]
