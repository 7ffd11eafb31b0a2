"""The shared formulas against hand-worked answers: Henrici departure, Spearman's policy."""
import numpy as np
import pytest
import scipy.linalg as sla

from resdyn.core.linalg import henrici_departure, spearman


def test_henrici_of_a_jordan_block_and_of_a_rotation():
    a = 3.0
    jordan = np.array([[1.0, a], [0.0, 1.0]])  # ‖J‖²_F = 2 + a², Σ|λ|² = 2
    assert henrici_departure(np.sum(jordan**2), sla.eigvals(jordan)) == pytest.approx(a / np.sqrt(2 + a**2), rel=1e-12)
    t = 0.7
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])  # normal: λ = e^{±it}
    assert henrici_departure(np.sum(rotation**2), sla.eigvals(rotation)) == pytest.approx(0.0, abs=1e-7)
    assert henrici_departure(4.0, [0.0, 0.0]) == 1.0  # nilpotent: all of ‖A‖ is departure


def test_henrici_of_the_zero_matrix_is_refused():
    with pytest.raises(ValueError, match="zero matrix"):
        henrici_departure(0.0, [0.0, 0.0])


def test_spearman_known_values():
    # ranks of y: 2, 1, 4, 3 against 1..4: d² = 1 + 1 + 1 + 1, ρ = 1 − 6·4/(4·15) = 0.6
    rho, p = spearman([1, 2, 3, 4], [20, 10, 40, 30])
    assert rho == pytest.approx(0.6, rel=1e-12) and 0 < p < 1


@pytest.mark.filterwarnings("error")  # NaN by the policy, not by scipy's warning path
def test_spearman_is_nan_where_undefined_and_min_n_opens_two_points():
    nan = (np.nan, np.nan)
    np.testing.assert_equal(spearman([1, 2, 3], [5, 5, 5]), nan)  # constant side: nothing to rank
    np.testing.assert_equal(spearman([5, 5, 5], [1, 2, 3]), nan)
    np.testing.assert_equal(spearman([1, 2], [2, 1]), nan)  # below the default 3 pairs
    rho, _ = spearman([1, 2], [2, 1], min_n=2)
    assert rho == pytest.approx(-1.0)
    np.testing.assert_equal(spearman([1], [1], min_n=1), nan)  # one pair is never a correlation
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2, 3], [1, 2])
