"""Streaming per-layer Jacobian statistics against direct computation."""
import numpy as np
import pytest
import torch

from known_spectra import with_singular_values
from resdyn.dynamics.jacobians import JacobianAccumulator, singular_value_stats


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


def _prescribed(kappa, d=200, seed=0):
    """A float64 matrix with singular values geomspace(1, 1/κ) and its float32 copy."""
    exact = with_singular_values(np.geomspace(1.0, 1.0 / kappa, d), seed)
    return exact, torch.tensor(exact, dtype=torch.float32)


@pytest.mark.parametrize("kappa", [1e4, 1e6, 1e8, 1e10])
@pytest.mark.parametrize("precision", ["single", "auto"])
def test_prescribed_kappa_is_within_1_percent_or_censored(kappa, precision):
    exact, single = _prescribed(kappa)
    acc = JacobianAccumulator(d=200)
    asked = []

    def recompute(rows):  # the float64 "closed form": here the exact matrix
        asked.append(list(rows))
        return torch.tensor(exact)[None][rows]

    acc.add(single[None], [0], "toy", recompute if precision == "auto" else None)
    out = acc.result()
    # float32 resolves σ_min only above 16·ε₃₂‖J‖_F/0.01 ≈ 6e-4 here: every prescribed κ is below it
    assert out["kappa_unresolved"][0]
    if precision == "auto":  # recomputed in float64: resolved to 1 % up to κ ~ 1e12
        assert asked == [[0]] and not out["kappa_censored"][0]
        assert out["kappa"][0] == pytest.approx(kappa, rel=0.01)
        assert out["jacobian_eps"] == np.finfo(np.float64).eps
    else:  # flagged, and the stored κ is a lower bound (the float32 value itself is not reported)
        assert out["kappa_censored"][0] and out["kappa"][0] <= kappa
        bound = 16 * np.finfo(np.float32).eps * np.linalg.norm(exact) / 0.01
        assert out["sigma_min"][0] == pytest.approx(bound, rel=1e-6)
        assert out["jacobian_eps"] == np.finfo(np.float32).eps


def test_well_conditioned_float32_sample_is_resolved_and_not_recomputed():
    exact, single = _prescribed(10.0)
    acc = JacobianAccumulator(d=200)
    acc.add(single[None], [0], "toy", lambda rows: pytest.fail("recomputed a resolved sample"))
    out = acc.result()
    assert not out["kappa_unresolved"][0] and not out["kappa_censored"][0]
    assert out["kappa"][0] == pytest.approx(10.0, rel=1e-5)
    np.testing.assert_allclose(out["mean_J_f64"], single.double().numpy())


def test_float64_block_recompute_is_the_float64_jacobian():
    from tiny_models import tiny_model

    from resdyn.dynamics.jacobians import autodiff_single_token_jacobians, double_block, single_token_layer_stats
    from resdyn.models.architectures import architecture_of
    from resdyn.models.block import Block

    model = tiny_model("llama")
    block = Block(model, 1, architecture_of("llama"))
    states = np.random.default_rng(0).standard_normal((5, model.config.hidden_size)).astype(np.float32)
    ref = autodiff_single_token_jacobians(double_block(block), torch.tensor(states, dtype=torch.float64))
    out = single_token_layer_stats(block, states, 2, "toy", precision="double")
    np.testing.assert_allclose(out["mean_J_f64"], ref.mean(0).numpy(), rtol=1e-12, atol=1e-13)
    assert out["jacobian_eps"] == np.finfo(np.float64).eps and not out["kappa_censored"].any()
    single = single_token_layer_stats(block, states, 2, "toy", precision="single")
    np.testing.assert_allclose(single["mean_J_f64"], ref.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="jacobians.precision"):
        single_token_layer_stats(block, states, 2, "toy", precision="half")
