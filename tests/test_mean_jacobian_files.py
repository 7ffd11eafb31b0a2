"""Downstream stages read the float64 mean Jacobian where a layer file has it."""
import numpy as np

from resdyn.coupling.tables import JacobianFiles
from resdyn.dynamics.cumulative import MeanJacobians


def test_float64_mean_preferred_over_the_float32_copy(tmp_path):
    rng = np.random.default_rng(0)
    exact = np.eye(6) + 1e-9 * rng.standard_normal((6, 6))  # below float32 resolution around 1
    with_f64, old = tmp_path / "layer_00.npz", tmp_path / "layer_01.npz"
    np.savez(with_f64, mean_J=exact.astype(np.float32), mean_J_f64=exact)
    np.savez(old, mean_J=exact.astype(np.float32))
    assert np.array_equal(MeanJacobians([with_f64])[0], exact)
    assert np.array_equal(JacobianFiles([with_f64])[0], exact)
    assert np.array_equal(MeanJacobians([old])[0], exact.astype(np.float32).astype(np.float64))
    assert not np.array_equal(MeanJacobians([old])[0], exact)
