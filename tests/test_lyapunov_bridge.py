"""Bridge statistics on synthetic data with a known rank correlation."""
import math

import numpy as np
import pandas as pd
import pytest

from resdyn.lyapunov import bridge


def test_holm_step_down():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04) = 0.06
    assert np.allclose(bridge.holm(p), [0.03, 0.06, 0.06, 0.02])
    assert np.allclose(bridge.holm([0.5, 0.9]), [1.0, 1.0])


def _normal_pairs(n, r, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = r * x + math.sqrt(1 - r * r) * rng.standard_normal(n)
    return x, y


def test_spearman_and_bc_interval_recover_a_known_correlation():
    r = 0.6
    rho_true = 6 / math.pi * math.asin(r / 2)  # Spearman rho of a bivariate normal
    x, y = _normal_pairs(600, r, 0)
    boot = bridge.bootstrap_rho(x, y, 10_000, seed=42)
    est = bridge._spearman_rows(x[None], y[None])[0]
    lo, hi = bridge.bc_interval(boot, est)
    assert abs(est - rho_true) < 0.08  # s.e. ~ (1 - rho^2)/sqrt(n) = 0.027
    assert lo < rho_true < hi and hi - lo < 0.15
    assert np.array_equal(boot, bridge.bootstrap_rho(x, y, 10_000, seed=42))  # seeded


def test_bridge_table_with_repeated_predictors():
    # 40 unique lambda_1 vectors, each repeated over 5 outcome rows (like seeds x repeats)
    rng = np.random.default_rng(1)
    n_units, reps = 40, 5
    lam = rng.standard_normal(n_units)
    pred = pd.DataFrame({"run": "m", "sample": np.arange(n_units), "lambda1": lam,
                         "slope": -lam + 0.3 * rng.standard_normal(n_units), "layer_var": rng.random(n_units)})
    outcomes = pd.DataFrame({"run": "m", "sample": np.repeat(np.arange(n_units), reps)})
    outcomes["collapse_rate"] = np.repeat(lam, reps) + 0.8 * rng.standard_normal(n_units * reps)
    outcomes["noise"] = rng.standard_normal(n_units * reps)
    table = bridge.bridge_table(pred, outcomes, n_boot=1000, seed=42)
    assert len(table) == 6 and set(table["outcome"]) == {"collapse_rate", "noise"}
    row = table.set_index(["summary", "outcome"]).loc[("lambda1", "collapse_rate")]
    assert row["n"] == 200 and row["n_clusters"] == 40
    assert row["rho"] > 0.5 and row["passes"]
    # the clustered bootstrap is wider: only 40 independent predictor vectors
    assert row["ci_cluster_high"] - row["ci_cluster_low"] > row["ci_high"] - row["ci_low"]
    assert (table["p_holm"] >= table["p"]).all()
    noise = table[table["outcome"] == "noise"]
    assert not noise["passes"].any()
    with pytest.raises(ValueError, match="key column"):
        bridge.bridge_table(pred, outcomes.drop(columns="sample"))
