import numpy as np
import pandas as pd
import pytest

from resdyn.coupling.boundary import boundary_test
from resdyn.coupling.mesoscale import coarse_grain, mesoscale_test, variance_captured
from resdyn.coupling.snapshots import block_snapshots, rng_for
from resdyn.coupling.tables import JacobianFiles, run_coupling, self_alignment_from_spectra


def basis(m):
    m = np.asarray(m)
    c = np.zeros((len(m), m.max() + 1))
    c[np.arange(len(m)), m] = 1.0
    return c / np.sqrt(c.sum(axis=0))


def test_block_snapshots_pairing():
    assert block_snapshots(3) == [(0, 2), (2, 4), (4, 5)]


def test_coarse_grain_matches_dense_definition():
    rng = np.random.default_rng(0)
    J = rng.standard_normal((9, 9))
    m_out, m_in = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1]), np.array([1, 0, 0, 0, 1, 1, 2, 2, 2])
    c_out, c_in = basis(m_out), basis(m_in)
    K = c_out.T @ J @ c_in
    np.testing.assert_allclose(coarse_grain(J, m_out, m_in), K, atol=1e-12)
    expected = np.linalg.norm(c_out @ K @ c_in.T) ** 2 / np.linalg.norm(J) ** 2
    assert variance_captured(J, m_out, m_in) == pytest.approx(expected)


def test_mesoscale_block_constant_operator_is_fully_captured():
    rng = np.random.default_rng(1)
    m = np.repeat(np.arange(4), 10)
    rng.shuffle(m)
    J = rng.standard_normal((4, 4))[m][:, m]  # constant on community blocks
    res = mesoscale_test(J, m, m, 50, rng)
    assert res["variance_captured"] == pytest.approx(1.0)
    assert res["z"] > 5 and res["p_perm"] == pytest.approx(1 / 51)
    assert res["sigma_max_k"] == pytest.approx(np.linalg.norm(J, 2))


def test_boundary_test_detects_planted_amplification():
    rng = np.random.default_rng(2)
    part = rng.random(200)
    col = 1.0 + 0.5 * part + 0.05 * rng.standard_normal(200)
    res = boundary_test(part, col, 0.1, 999, rng)
    assert res["n_tail"] == 20
    assert res["cohens_d"] > 1 and res["p_perm"] == pytest.approx(1 / 1000)
    assert res["spearman_rho"] > 0.9
    res = boundary_test(part, rng.standard_normal(200), 0.1, 999, rng)
    assert res["p_perm"] > 0.01


def synthetic_run(L=5, d=40, seed=0):
    rng = np.random.default_rng(seed)
    mems = np.stack([rng.integers(0, 4, d) for _ in range(2 * L)])
    parts = rng.random((2 * L, d))
    jac = [np.eye(d) + 0.3 * rng.standard_normal((d, d)) for _ in range(L)]
    cols = [np.linalg.norm(J, axis=0) for J in jac]
    return {"cpm": mems}, {"cpm": parts}, jac, cols, rng.random(L)


def test_run_coupling_tables_and_determinism():
    args = synthetic_run()
    kw = dict(n_perm_rate=200, n_perm_units=200, n_random_partitions=20, seed=3)
    a = run_coupling("r", *args, **kw)
    b = run_coupling("r", *args, **kw)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    c = a["coupling"]
    assert list(c["layer"]) == list(range(5)) and list(c["snapshot"]) == [0, 2, 4, 6, 8]
    assert {"run", "layer", "cohens_d", "p_perm", "q_bh", "significant", "spearman_rho"} <= set(c.columns)
    from scipy.stats import false_discovery_control

    for _, per_method in c.groupby("method"):  # BH is applied per method over its layers
        q = false_discovery_control(per_method["p_perm"], method="bh")  # scipy's own BH
        np.testing.assert_allclose(per_method["q_bh"], q, rtol=1e-12)
        assert list(per_method["significant"]) == list(q <= 0.05)
    counts = c["p_perm"] * 201 - 1  # Monte Carlo p = (1 + #{|null| >= |obs|}) / (n_perm + 1)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert c["p_perm"].nunique() > 1
    m = a["mesoscale"]
    assert list(m["out_snapshot"]) == [2, 4, 6, 8, 9]
    assert m["disruption_next"].notna().sum() == 4
    r = a["rate_coupling"]
    assert set(r["measure"]) >= {"abs_delta_sigma_max", "abs_delta_variance_captured"} and set(r["n"]) == {4}
    s = a["coupling_summary"].iloc[0]
    assert s["median_cohens_d"] == pytest.approx(np.median(c["cohens_d"]))
    assert s["frac_fdr_sig_pos"] == pytest.approx(c["significant_positive"].mean())
    other = run_coupling("r", *args, **{**kw, "seed": 4})
    assert not np.allclose(other["coupling"]["p_perm"], c["p_perm"])


def test_rng_streams_do_not_depend_on_order():
    x = rng_for(0, "signed_cpm", 3, "boundary").random(3)
    rng_for(0, "signed_cpm", 2, "boundary").random(10)
    np.testing.assert_array_equal(x, rng_for(0, "signed_cpm", 3, "boundary").random(3))
    assert not np.allclose(x, rng_for(0, "infomap", 3, "boundary").random(3))


def test_run_coupling_rejects_mismatched_inputs():
    mems, parts, jac, cols, sa = synthetic_run()
    with pytest.raises(ValueError, match="snapshot partitions"):
        run_coupling("r", {"cpm": mems["cpm"][:-1]}, parts, jac, cols, sa)
    with pytest.raises(ValueError, match="self-alignment"):
        run_coupling("r", mems, parts, jac, cols, sa[:-1])


def test_jacobian_files_and_spectra(tmp_path):
    rng = np.random.default_rng(4)
    paths = []
    for l in range(2):
        J = rng.standard_normal((6, 6)).astype(np.float32)
        paths.append(tmp_path / f"layer_{l:02d}.npz")
        np.savez(paths[-1], mean_J=J, col_norm_mean=np.full(6, 2.0))
    jf = JacobianFiles(paths)
    assert len(jf) == 2 and jf[1].shape == (6, 6)
    np.testing.assert_allclose(jf.column_norms()[0], 2.0)
    mj = JacobianFiles(paths, "mean_jacobian").column_norms()[1]
    np.testing.assert_allclose(mj, np.linalg.norm(jf[1].astype(float), axis=0))
    with pytest.raises(ValueError, match="column_norm"):
        JacobianFiles(paths, "max")
    t = pd.DataFrame({"run": ["a", "a", "b"], "layer": [1, 0, 0], "self_alignment_J": [0.2, 0.1, 0.9]})
    np.testing.assert_allclose(self_alignment_from_spectra(t, 2, "a"), [0.1, 0.2])
    with pytest.raises(ValueError, match="lacks layers"):
        self_alignment_from_spectra(t, 2, "b")
