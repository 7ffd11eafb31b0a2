"""Tail ties at the participation cut, both column-norm readings, and declared null roles."""
import numpy as np
import pandas as pd
import pytest

from resdyn.core.config_checks import ConfigError, check_null_roles
from resdyn.core.run_roles import is_null, null_of, null_runs
from resdyn.coupling import stats
from resdyn.coupling.boundary import boundary_test
from resdyn.coupling.tables import run_coupling
from resdyn.plots.coupling import one_reading, run_label


def half_tied(d=100):
    """Units 0..d/2-1 have participation 0 (tied); the rest distinct values in (0, 1]."""
    p = np.zeros(d)
    p[d // 2:] = np.linspace(0.1, 1.0, d - d // 2)
    return p


def test_include_takes_every_unit_tied_at_the_cut():
    p = half_tied()
    top, bottom = stats.tail_indices(p, 0.1, "include")
    np.testing.assert_array_equal(bottom, np.arange(50))  # all 50 zeros, not the first 10
    np.testing.assert_array_equal(top, np.arange(90, 100))
    v = np.array([0.0, 0.0, 0.0, 0.5, 0.9, 1.0, 0.2, 0.0, 0.7, 0.3])
    top, bottom = stats.tail_indices(v, 0.2, "include")
    assert list(top) == [4, 5] and list(bottom) == [0, 1, 2, 7]


def test_random_ties_draw_uniformly_among_tied_units():
    p = half_tied()
    hits = np.zeros(100)
    for seed in range(2000):
        top, bottom = stats.tail_indices(p, 0.1, "random", np.random.default_rng(seed))
        assert len(bottom) == 10 and len(top) == 10
        np.testing.assert_array_equal(top, np.arange(90, 100))  # no ties at the top cut
        hits[bottom] += 1
    freq = hits[:50] / 2000
    # each tied unit is in the bottom tail with probability 10/50; binomial sd 0.009
    assert np.all(np.abs(freq - 0.2) < 0.05), freq
    assert hits[50:].sum() == 0
    a = stats.tail_indices(p, 0.1, "random", np.random.default_rng(7))
    b = stats.tail_indices(p, 0.1, "random", np.random.default_rng(7))
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="rng"):
        stats.tail_indices(p, 0.1, "random")
    with pytest.raises(ValueError, match="coupling.tail_ties"):
        stats.tail_indices(p, 0.1, "index")


def test_boundary_test_reports_tail_sizes_and_uses_all_tied_units():
    p = half_tied()
    c = np.ones(100)
    c[:50] = 1.0 + np.arange(50) / 49.0  # tied units' column norms grow with their index
    c[50:] = 3.0
    res = boundary_test(p, c, 0.1, 199, np.random.default_rng(0), tail_ties="include")
    assert res["n_tail"] == 10 and res["n_tail_top"] == 10 and res["n_tail_bottom"] == 50
    assert res["mean_colnorm_bottom"] == pytest.approx(1.5)  # mean over all 50 (index order: 1 + 4.5/49)
    assert res["cohens_d"] == pytest.approx((3.0 - 1.5) / c.std(ddof=1))
    res = boundary_test(p, c, 0.1, 199, np.random.default_rng(0), tail_ties="random",
                        tie_rng=np.random.default_rng(1))
    assert res["n_tail_bottom"] == 10 and res["participation_bottom_max"] == 0.0


def test_overlapping_tails_leave_d_undefined():
    p = np.zeros(20)
    p[-1] = 1.0  # 19 of 20 tied: both 10 % cuts fall on the tied value
    res = boundary_test(p, np.arange(20.0), 0.1, 99, np.random.default_rng(0), tail_ties="include")
    assert res["n_tail_top"] == 20 and res["n_tail_bottom"] == 19
    assert np.isnan(res["cohens_d"]) and np.isnan(res["p_perm"])


def synthetic(L=4, d=40, seed=0):
    rng = np.random.default_rng(seed)
    mems = {"cpm": np.stack([rng.integers(0, 4, d) for _ in range(2 * L)])}
    parts = {"cpm": rng.random((2 * L, d))}
    jac = [np.eye(d) + 0.3 * rng.standard_normal((d, d)) for _ in range(L)]
    cols = {"mean_jacobian": [np.linalg.norm(J, axis=0) for J in jac],
            "per_sample_mean": [np.linalg.norm(J, axis=0) + rng.random(d) for J in jac]}
    return mems, parts, jac, cols, rng.random(L)


def test_both_column_norm_readings_each_with_own_fdr():
    mems, parts, jac, cols, sa = synthetic()
    kw = dict(n_perm_rate=99, n_perm_units=99, n_random_partitions=5, seed=1)
    both = run_coupling("r", mems, parts, jac, cols, sa, column_norm="mean_jacobian", **kw)
    c = both["coupling"]
    assert sorted(c["column_norm"].unique()) == ["mean_jacobian", "per_sample_mean"] and len(c) == 8
    assert {"n_tail_top", "n_tail_bottom"} <= set(c.columns)
    s = both["coupling_summary"].iloc[0]
    assert s["column_norm"] == "mean_jacobian"
    for reading in cols:
        alone = run_coupling("r", mems, parts, jac, cols[reading], sa, column_norm=reading, **kw)
        got = c[c["column_norm"] == reading].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, alone["coupling"])
        q, _ = stats.benjamini_hochberg(got["p_perm"], 0.05)
        np.testing.assert_allclose(got["q_bh"], q)
    primary = c[c["column_norm"] == "mean_jacobian"]
    assert s["median_cohens_d"] == pytest.approx(np.median(primary["cohens_d"]))
    assert s["n_fdr_sig_pos"] == primary["significant_positive"].sum()
    with pytest.raises(ValueError, match="coupling.column_norm"):
        run_coupling("r", mems, parts, jac, cols, sa, column_norm="max", **kw)
    assert len(one_reading(c, "cpm", "per_sample_mean")) == 4


def test_null_roles_are_declared_not_guessed():
    runs = {"a": {"source": "hf"}, "a_init": {"source": "init", "null_of": "a"},
            "b_step0": {"source": "hf"}, "b": {"source": "hf"}}
    assert null_of(runs) == {"a": "a_init"}
    assert null_runs(runs) == ["a_init"]  # 'b_step0' is not a null: it declares nothing
    assert is_null(runs) == {"a": False, "a_init": True, "b_step0": False, "b": False}
    assert run_label("a_init", null_of(runs)) == "a_init (null of a)" and run_label("b_step0", {}) == "b_step0"
    with pytest.raises(ConfigError, match=r"runs\.x\.null_of = 'nope'"):
        check_null_roles({"x": {"source": "hf", "null_of": "nope"}})
    with pytest.raises(ConfigError, match=r"runs\.x\.null_of"):
        check_null_roles({"x": {"source": "hf", "null_of": "x"}})
    with pytest.raises(ConfigError, match="at most one null"):
        check_null_roles({"a": {"source": "hf"}, "n1": {"source": "hf", "null_of": "a"},
                          "n2": {"source": "hf", "null_of": "a"}})


def test_check_config_runs_the_null_role_check(tmp_path):
    from resdyn.core.config_checks import check_config

    from pathlib import Path

    import yaml
    from snakemake.utils import validate

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    validate(cfg, str(root / "schemas" / "config.schema.yaml"))
    cfg["runs"] = {"a": {"source": "hf", "model_id": "x"}, "a0": {"source": "hf", "model_id": "x", "null_of": "b"}}
    cfg["protocol_comparison"] = {"run": None}
    with pytest.raises(ConfigError, match=r"runs\.a0\.null_of = 'b' must name another run"):
        check_config(cfg, models_dir=tmp_path)
    cfg["runs"]["a0"]["null_of"] = "a"
    check_config(cfg, models_dir=tmp_path)


def test_jacobian_files_give_both_readings(tmp_path):
    from resdyn.coupling.tables import JacobianFiles

    rng = np.random.default_rng(5)
    paths = []
    for layer in range(2):
        paths.append(tmp_path / f"layer_{layer:02d}.npz")
        np.savez(paths[-1], mean_J=rng.standard_normal((5, 5)).astype(np.float32), col_norm_mean=np.full(5, 3.0))
    both = JacobianFiles(paths, "mean_jacobian").all_column_norms()
    assert list(both) == ["mean_jacobian", "per_sample_mean"]
    with np.load(paths[1]) as z:
        np.testing.assert_allclose(both["mean_jacobian"][1], np.linalg.norm(z["mean_J"].astype(float), axis=0))
    np.testing.assert_allclose(both["per_sample_mean"][0], 3.0)
