"""Streaming per-layer Jacobian statistics against direct computation."""
import numpy as np
import pytest
import torch

from known_spectra import with_singular_values
from resdyn.jacobians import JacobianAccumulator, singular_value_stats


def test_singular_value_stats_on_a_known_spectrum():
    s = np.array([4.0, 2.0, 1.0, 1.0, 0.5, 0.25])
    stats = singular_value_stats(torch.tensor(with_singular_values(s, 0))[None])
    assert stats["sigma_max"][0] == pytest.approx(4.0) and stats["sigma_min"][0] == pytest.approx(0.25)
    assert stats["kappa"][0] == pytest.approx(16.0)
    assert stats["pr"][0] == pytest.approx((s**2).sum() ** 2 / (s**4).sum())
    assert stats["fro"][0] == pytest.approx(np.sqrt((s**2).sum()))
    # identity: every direction carries equal weight, PR = d
    assert singular_value_stats(torch.eye(5)[None])["pr"][0] == pytest.approx(5.0)


@pytest.mark.parametrize("kappa", [3.0, 1e3, 1e7])
def test_statistics_hold_to_1e_9_at_the_conditioning_of_trained_jacobians(kappa):
    d = 96
    spectra = [np.geomspace(kappa, 1.0, d) * c for c in (0.5, 1.0, 2.0)]
    jac = torch.tensor(np.stack([with_singular_values(s, i) for i, s in enumerate(spectra)]))
    stats = singular_value_stats(jac)
    for i, s in enumerate(spectra):
        ref = np.linalg.svd(jac[i].numpy(), compute_uv=False)
        assert stats["sigma_max"][i] == pytest.approx(ref[0], rel=1e-9)
        assert stats["sigma_min"][i] == pytest.approx(ref[-1], rel=1e-9)
        assert stats["kappa"][i] == pytest.approx(ref[0] / ref[-1], rel=1e-9)
        assert stats["pr"][i] == pytest.approx((ref**2).sum() ** 2 / (ref**4).sum(), rel=1e-9)
        assert stats["fro"][i] == pytest.approx(np.sqrt((s**2).sum()), rel=1e-9)


def test_singular_matrix_has_zero_sigma_min():
    jac = torch.tensor(with_singular_values(np.array([2.0, 1.0, 0.5, 0.0]), 3))[None]
    stats = singular_value_stats(jac)
    assert stats["sigma_min"][0] == pytest.approx(0.0, abs=1e-15)
    assert stats["sigma_max"][0] == pytest.approx(2.0, rel=1e-12)


def test_accumulator_streams_the_mean_and_column_norms():
    rng = np.random.default_rng(1)
    jacs = rng.normal(size=(7, 4, 4))
    acc = JacobianAccumulator(d=4)
    acc.add(torch.tensor(jacs[:3], dtype=torch.float32), range(3), "toy")
    acc.add(torch.tensor(jacs[3:], dtype=torch.float32), range(3, 7), "toy")
    out = acc.result()
    np.testing.assert_allclose(out["mean_J"], jacs.mean(0), rtol=1e-6)
    assert out["mean_J"].dtype == np.float32
    np.testing.assert_allclose(out["col_norm_mean"], np.linalg.norm(jacs, axis=1).mean(0), rtol=1e-6)
    np.testing.assert_allclose(out["fro"], np.linalg.norm(jacs, axis=(1, 2)), rtol=1e-6)
    assert len(out["kappa"]) == 7


def test_non_finite_jacobian_names_run_layer_and_sample():
    jac = torch.ones(3, 4, 4)
    jac[2, 1, 3] = float("nan")
    with pytest.raises(FloatingPointError, match="run toy, layer 3, sample 12"):
        JacobianAccumulator(d=4).add(jac, [10, 11, 12], "run toy, layer 3")
