"""Checkpoint series: the declaration is checked, the headline findings are gathered from the
source tables as they stand, and the scorecard's training rules hold or fail over the declared order."""
import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from resdyn.core.config_checks import ConfigError, check_config
from resdyn.findings.checkpoint_series import COLUMNS, grows, series_table, trend
from resdyn.findings.scorecard import scorecard
from resdyn.findings.verdicts import DIFFERS, HOLDS, NOT_TESTABLE

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "schemas" / "config.schema.yaml")
REGIMES = ["early", "early", "mid", "mid", "late"]


# ----------------------------------------------------------------- the declaration
@pytest.fixture
def config():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["checkpoint_series"] = {"smollm2": {"runs": ["smollm2_135m_step0", "smollm2_135m"], "steps": [0, 1]}}
    return cfg


def test_a_declared_series_is_valid(config):
    validate(copy.deepcopy(config), SCHEMA)
    check_config(config, models_dir="/nonexistent")


@pytest.mark.parametrize("series, message", [
    ({"runs": ["smollm2_135m_step0", "nope"], "steps": [0, 1]},
     r"checkpoint_series.s.runs names \['nope'\], which are not runs"),
    ({"runs": ["smollm2_135m_step0", "smollm2_135m"], "steps": [5, 5]},
     r"checkpoint_series.s.steps = \[5, 5\] must increase strictly"),
    ({"runs": ["smollm2_135m_step0", "smollm2_135m", "gemma3_270m"], "steps": [0, 1]},
     "checkpoint_series.s.steps has 2 entries for 3 runs"),
    ({"runs": ["smollm2_135m"], "steps": [0]}, "checkpoint_series.s.runs = .* needs at least 2 runs"),
    ({"runs": ["smollm2_135m", "smollm2_135m"], "steps": [0, 1]}, "lists a run twice"),
], ids=["unknown_run", "steps_not_increasing", "length", "one_run", "twice"])
def test_a_bad_series_is_refused_naming_the_key(config, series, message):
    config["checkpoint_series"] = {"s": series}
    with pytest.raises(ConfigError, match=message):
        check_config(config, models_dir="/nonexistent")


def test_the_schema_refuses_non_integer_steps_and_unknown_keys(config):
    bad = copy.deepcopy(config)
    bad["checkpoint_series"]["smollm2"]["steps"] = [0, 1.5]
    with pytest.raises(Exception, match="1.5"):
        validate(bad, SCHEMA)
    bad = copy.deepcopy(config)
    bad["checkpoint_series"]["smollm2"]["order"] = "by name"
    with pytest.raises(Exception, match="'order' was unexpected"):
        validate(bad, SCHEMA)


def test_workflow_start_up_refuses_a_bad_series(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("checkpoint_series: {s: {runs: [tiny, ghost], steps: [0, 10]}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(ROOT / "config" / "tiny.yaml"),
         str(bad), "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
        capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "checkpoint_series.s.runs names ['ghost'], which are not runs" in out, out[-2000:]
    assert "Job stats" not in out


# ----------------------------------------------------------------- gathering
def source_tables():
    """Two runs; run "a" with hand-chosen numbers, run "b" shifted; rows of another method and
    of the other column-norm reading that must not be read."""
    spectra = pd.concat([pd.DataFrame({"run": run, "layer": range(5), "regime": REGIMES,
                                       "self_alignment_J": np.array([0.1, 0.3, 0.5, 0.7, 0.9]) + shift,
                                       "frac_complex": [0.9, 0.92, 0.94, 0.96, 0.98],
                                       "frac_complex_robust": [0.8, 0.85, 0.9, 0.95, 1.0]})
                         for run, shift in (("a", 0.0), ("b", 0.05))])
    coupling = pd.concat([pd.DataFrame({"run": "a", "method": method, "column_norm": reading, "layer": range(5),
                                        "cohens_d": np.array([0.5, 0.1, 0.3, 0.2, 0.4]) + offset})
                          for method, reading, offset in (("signed_cpm", "mean_jacobian", 0.0),
                                                          ("signed_cpm", "per_sample_mean", 10.0),
                                                          ("infomap", "mean_jacobian", 20.0))]
                         + [pd.DataFrame({"run": "b", "method": "signed_cpm", "column_norm": "mean_jacobian",
                                          "layer": range(5), "cohens_d": 1.0})])
    mesoscale = pd.concat([pd.DataFrame({"run": "a", "method": "signed_cpm", "layer": range(5), "z": [5, 1, 4, 2, 3]}),
                           pd.DataFrame({"run": "a", "method": "infomap", "layer": range(5), "z": 100.0}),
                           pd.DataFrame({"run": "b", "method": "signed_cpm", "layer": range(5), "z": 7.0})])
    summary = pd.DataFrame({"run": ["a", "a", "b"], "method": ["signed_cpm", "infomap", "signed_cpm"],
                            "column_norm": "mean_jacobian", "n_layers": 5, "n_fdr_sig_pos": [3, 0, 1],
                            "n_fdr_sig_neg": [1, 0, 0], "frac_fdr_sig_pos": [0.6, 0.0, 0.2],
                            "frac_fdr_sig_neg": [0.2, 0.0, 0.0], "median_cohens_d": [0.3, 9.0, 1.0],
                            "n_mesoscale_above_null": [4, 0, 5], "median_mesoscale_z": [3.0, 100.0, 7.0]})
    return {
        "layer_spectra": spectra,
        "table2_self_alignment": pd.DataFrame({"run": ["a", "b"], "early": [0.2, 0.25], "mid": [0.6, 0.65],
                                               "late": [0.9, 0.95]}),
        "cumulative_summary": pd.DataFrame({"run": ["a", "b"], "erank_first": [300.0, 40.0],
                                            "method": ["exact", "truncated"], "kept_rank": [64, 16]}),
        "coupling": coupling, "coupling_summary": summary, "mesoscale": mesoscale,
    }


SERIES = {"s": {"runs": ["b", "a"], "steps": [0, 1000]}}  # declared order, not name order


def test_gathering_reads_each_source_as_it_stands():
    t = series_table(source_tables(), SERIES, "signed_cpm", "mean_jacobian")
    assert list(t.columns) == COLUMNS
    assert list(dict.fromkeys(t["run"])) == ["b", "a"] and set(t.loc[t["run"] == "a", "step"]) == {1000}
    a = t[t["run"] == "a"].set_index("quantity")
    expected = {  # quantity: (value, band_low, band_high)
        "n_fdr_sig": (4, np.nan, np.nan),
        "frac_fdr_sig": (0.8, np.nan, np.nan),  # (3 + 1) / 5
        "frac_fdr_sig_pos": (0.6, np.nan, np.nan),
        "frac_fdr_sig_neg": (0.2, np.nan, np.nan),
        "median_cohens_d": (0.3, 0.2, 0.4),  # quartiles of 0.1..0.5 (mean_jacobian, signed_cpm only)
        "median_mesoscale_z": (3.0, 2.0, 4.0),  # quartiles of z 1..5
        "frac_mesoscale_above_null": (0.8, np.nan, np.nan),
        "erank_p0": (300.0, np.nan, np.nan),
        "self_alignment_early": (0.2, 0.15, 0.25),  # layers 0.1, 0.3
        "self_alignment_mid": (0.6, 0.55, 0.65),  # layers 0.5, 0.7
        "self_alignment_late": (0.9, 0.9, 0.9),
        "frac_complex": (0.94, 0.9, 0.98),  # mean, min, max over layers
        "frac_complex_robust": (0.9, 0.8, 1.0),
    }
    assert set(a.index) == set(expected)
    for q, (value, low, high) in expected.items():
        np.testing.assert_allclose(a.loc[q, ["value", "band_low", "band_high"]].to_numpy(float), [value, low, high],
                                   atol=1e-12, err_msg=q)
    b = t[t["run"] == "b"].set_index("quantity")
    assert b.loc["erank_p0", "value"] == 40.0 and "capped at 16" in b.loc["erank_p0", "source"]
    assert "capped" not in a.loc["erank_p0", "source"]


def test_gathering_names_a_missing_run():
    tables = source_tables()
    tables["cumulative_summary"] = tables["cumulative_summary"][tables["cumulative_summary"]["run"] != "a"]
    with pytest.raises(KeyError, match="cumulative_summary has no rows for run 'a'"):
        series_table(tables, SERIES, "signed_cpm", "mean_jacobian")


# ----------------------------------------------------------------- the rule over the declared order
def test_trend_against_known_ranks():
    t = trend([0, 471_000, 1_413_814], [0, 14, 24])
    assert t["rho"] == pytest.approx(1.0) and t["monotone"] and grows(t)
    t = trend([0, 10, 100, 1000], [0, 14, 10, 24])  # one swap in ranks: ρ = 1 - 6·2/(4·15) = 0.8
    assert t["rho"] == pytest.approx(0.8) and not t["monotone"] and grows(t)
    assert not grows(trend([0, 10, 100], [24, 14, 0]))
    assert grows(trend([0, 10, 100], [326, 100, 42]), sign=-1)
    assert np.isnan(trend([0, 10, 100], [3, 3, 3])["rho"]) and not grows(trend([0, 10, 100], [3, 3, 3]))
    # ρ > 0 (ranks 2..6 then 1: ρ = 1 - 6·30/(6·35) = 1/7) but the last below the first: not grown
    t = trend(range(6), [2, 3, 4, 5, 6, 1])
    assert t["rho"] == pytest.approx(1 / 7) and not grows(t)


def series_rows(values: dict, runs=("s0", "s1", "s2"), steps=(0, 471_000, 1_413_814)):
    rows = [{"series": "olmo", "run": r, "step": s, "quantity": q, "value": v[i], "band_low": np.nan,
             "band_high": np.nan, "band": "", "source": "exact" if q != "erank_p0" else "cumulative_summary"}
            for q, v in values.items() for i, (r, s) in enumerate(zip(runs, steps))]
    return pd.DataFrame(rows, columns=COLUMNS)


HOLDING = {"n_fdr_sig": [0, 14, 24], "median_cohens_d": [0.007, 0.124, 0.248], "erank_p0": [326, 100, 42],
           "self_alignment_early": [0.635, 0.5, 0.428], "self_alignment_mid": [0.951, 0.8, 0.653],
           "frac_mesoscale_above_null": [1.0, 0.9, 0.8], "frac_complex_robust": [0.3, 0.95, 0.97]}


def series_card(values):
    return scorecard({"checkpoint_series": series_rows(values)}, ["s0", "s1", "s2"], {"s2": "s0"})


def series_verdicts(card):
    sel = card[card["finding"].str.endswith("(olmo)")]
    return dict(zip(sel["finding"].str.replace(" (olmo)", "", regex=False), sel["verdict"]))


def test_the_training_rules_hold_on_the_paper_numbers():
    card = series_card(HOLDING)
    verdicts = series_verdicts(card)
    assert verdicts == {f: HOLDS for f in (
        "coupling emerges monotonically over training", "median Cohen's d grows over training",
        "erank(P₀) falls over training", "training lowers early/mid self-alignment",
        "mesoscale variance above null at every checkpoint", "complex-pair fraction at every trained checkpoint")}
    first = card[card["finding"] == "coupling emerges monotonically over training (olmo)"].iloc[0]
    assert first["run"] == "s2" and first["null_run"] == "s0"
    assert "0 → 14 → 24; ρ = +1.00" in first["measured"] and "s0 (0) → s1 (471000) → s2 (1413814)" in first["measured"]


@pytest.mark.parametrize("quantity, values, finding", [
    ("n_fdr_sig", [24, 14, 0], "coupling emerges monotonically over training"),
    ("n_fdr_sig", [0, 0, 0], "coupling emerges monotonically over training"),
    ("median_cohens_d", [0.2, 0.3, 0.1], "median Cohen's d grows over training"),
    ("erank_p0", [42, 100, 326], "erank(P₀) falls over training"),
    ("self_alignment_mid", [0.9, 0.95, 0.97], "training lowers early/mid self-alignment"),
    ("frac_mesoscale_above_null", [0.3, 0.9, 0.8], "mesoscale variance above null at every checkpoint"),
    ("frac_complex_robust", [0.95, 0.5, 0.97], "complex-pair fraction at every trained checkpoint"),
])
def test_each_training_rule_fails_on_a_failing_series(quantity, values, finding):
    assert series_verdicts(series_card({**HOLDING, quantity: values}))[finding] == DIFFERS


def test_an_undefined_value_or_no_series_is_not_testable():
    assert series_verdicts(series_card({**HOLDING, "median_cohens_d": [0.0, np.nan, 0.2]}))[
        "median Cohen's d grows over training"] == NOT_TESTABLE
    card = scorecard({}, ["s0", "s2"], {"s2": "s0"})
    row = card[card["finding"] == "coupling emerges monotonically over training"].iloc[0]
    assert row["verdict"] == NOT_TESTABLE and "no checkpoint_series" in row["measured"]
