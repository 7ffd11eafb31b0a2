"""layer_spectra's κ in orders of magnitude (Fig. 2a/d): mean and median of log10 κ over samples, and their regime means."""
import numpy as np
import pytest

from resdyn.dynamics.layer_table import layer_spectra, regime_means


def _layer(kappa, d=8):
    kappa = np.asarray(kappa, dtype=float)
    n = kappa.size
    return {"mean_J": np.eye(d, dtype=np.float32) * 1.5, "sigma_max": np.ones(n), "sigma_min": 1 / kappa,
            "kappa": kappa, "pr": np.ones(n), "fro": np.ones(n)}


def test_log10_kappa_mean_and_median_per_layer_and_per_regime():
    layers = [_layer([1.0, 10.0, 1e6]), _layer([1e2, 1e3]), _layer([1e4, 1e5, 1e6, 1e7])]
    table, _ = layer_spectra("toy", layers, k=2, regime_bounds=(0.34, 0.67))
    np.testing.assert_allclose(table["log10_kappa_mean"], [7 / 3, 2.5, 5.5])
    np.testing.assert_allclose(table["log10_kappa_median"], [1.0, 2.5, 5.5])  # the median of the logs
    means = regime_means(table).set_index("regime")
    assert means.loc["early", "log10_kappa_mean"] == pytest.approx(7 / 3)
    assert means.loc["late", "log10_kappa_median"] == pytest.approx(5.5)
    assert (table["frac_expanding"] == 1.0).all()  # every |λ| = 1.5 > 1: the expanding fraction beside κ
