"""Verdict rules of the findings scorecard on hand-made tables: each holds, fails, or is not testable."""
import numpy as np
import pandas as pd
import pytest

from resdyn.findings import NOT_RESOLVED, COLUMNS, DIFFERS, HOLDS, NO_RESOLUTION, NOT_TESTABLE, scorecard, to_markdown

RUNS, NULL_OF = ["t", "n"], {"t": "n"}
REGIMES = ["early", "early", "mid", "mid", "late", "late"]


def spectra(run, sa, henrici, sa_r=0.1, fwd_ratio=1.0, robust=True):
    t = pd.DataFrame({"run": run, "layer": range(6), "regime": REGIMES, "self_alignment_J": sa, "henrici_J": henrici,
                      "self_alignment_R": sa_r, "frac_complex": 0.97, "random_alignment_baseline": 0.1,
                      "forward_alignment_J": [0.1 * fwd_ratio] * 5 + [np.nan]})
    if robust:
        t["frac_complex_robust"], t["eig_cond_median"], t["eig_cond_max"] = 0.95, 12.0, 1e3
    return t


def tables():
    """Every finding holds for trained run t against its null n."""
    return {
        "layer_spectra": pd.concat([spectra("t", [0.05, 0.1, 0.2, 0.3, 0.5, 0.7], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]),
                                    spectra("n", [0.5, 0.6, 0.9, 0.92, 0.95, 0.97], [0.5, 0.4, 0.3, 0.2, 0.2, 0.1])]),
        "table2_self_alignment": pd.DataFrame({"run": ["t", "n"], "early": [0.1, 0.6], "mid": [0.3, 0.9],
                                               "late": [0.6, 0.95]}),
        "cumulative_summary": pd.DataFrame({"run": ["t", "n"], "erank_first": [5.0, 300.0], "method": "exact",
                                            "kept_rank": 576}),
        "schur_table3": pd.DataFrame({"run": ["t", "n"], "erank_c0": [40.0, 300.0], "erank_c1": [6.0, 290.0],
                                      "erank_c2": [2.0, 280.0], "ratio_c0_c1_j": [6.7, 1.03],
                                      "ratio_c0_c1_j_min": [5.0, 1.0], "ratio_c0_c1_j_max": [7.0, 1.1],
                                      "erank_c0_min": [35.0, 295.0], "erank_c0_max": [42.0, 305.0], "n_orders": 4}),
        "schur_dose": pd.DataFrame({"run": "t", "mode": "J",
                                    "construction": ["dose", "dose", "control_a", "control_a", "control_a", "control_a"],
                                    "c": [0, 1, 0, 0, 1, 1], "draw": [0, 0, 0, 1, 0, 1],
                                    "erank": [40.0, 6.0, 40.0, 40.0, 200.0, 210.0]}),
        "coupling_summary": pd.DataFrame({"run": ["t", "n"], "method": "signed_cpm", "column_norm": "mean_jacobian",
                                          "n_layers": 6, "n_fdr_sig_pos": [5, 0], "n_fdr_sig_neg": [1, 0],
                                          "median_cohens_d": [0.2, 0.01], "selfalign_d_spearman_rho": [0.8, np.nan],
                                          "selfalign_d_p_perm": [0.004, np.nan], "n_mesoscale_above_null": [6, 6],
                                          "median_mesoscale_z": [10.0, 19.0]}),
        "coupling": pd.DataFrame({"run": "t", "method": "signed_cpm",
                                  "column_norm": ["mean_jacobian"] * 2 + ["per_sample_mean"] * 2,
                                  "cohens_d": [0.2, 0.3, -0.1, 0.1], "significant_positive": [True, True, False, True],
                                  "significant_negative": [False, False, True, False]}),
        "rate_coupling": pd.DataFrame({"run": ["t", "t", "n", "n"], "method": "signed_cpm",
                                       "measure": ["abs_delta_sigma_max", "abs_delta_variance_captured"] * 2,
                                       "spearman_rho": [0.1, -0.2, 0.0, 0.1], "p_perm": [0.5, 0.3, 0.9, 0.6],
                                       "n": 5}),
        "model_health": pd.DataFrame({"run": ["t", "n"], "n_tokens": 1000, "loss": [3.0, 10.9],
                                      "perplexity": [20.1, 54000.0], "ln_vocab": 10.8}),
    }


def row(card, finding, run="t"):
    sel = card[(card["finding"] == finding) & (card["run"] == run)]
    assert len(sel) == 1, (finding, run, card[["finding", "run"]])
    return sel.iloc[0]


def verdict(t, finding, run="t", null_of=NULL_OF):
    return row(scorecard(t, RUNS, null_of), finding, run)["verdict"]


def edit(t, name, run, **values):
    t = {k: v.copy() for k, v in t.items()}
    sel = t[name]["run"] == run
    for col, v in values.items():
        t[name].loc[sel, col] = v
    return t


def test_everything_holds_on_the_holding_tables():
    card = scorecard(tables(), RUNS, NULL_OF, protocol={"t": "single_token", "n": "single_token"})
    assert list(card.columns) == COLUMNS
    trajectory = card["finding"] == "coupling emerges monotonically over training"
    assert list(card.loc[trajectory, "verdict"]) == [NOT_TESTABLE]  # no checkpoint order in any config
    card = card[~trajectory]
    assert set(card["verdict"]) == {HOLDS}, card[card["verdict"] != HOLDS][["finding", "run", "measured"]]
    assert set(card["protocol"]) == {"single_token"}
    md = to_markdown(card)
    for finding in ("complex-pair fraction", "self-alignment rises early → late", "Henrici departure falls early → late",
                    "R self-alignment < 0.2", "forward alignment ≈ k/d", "Table 2: early < mid < late",
                    "Table 2: training lowers early/mid self-alignment vs null", "erank(P₀) trained ≪ null",
                    "Schur c0/c1 > 1: removing N dissolves the funnel", "Control A reverses the dose",
                    "mesoscale variance above null", "FDR-significant coupling layers", "median Cohen's d positive",
                    "sign of d follows self-alignment", "rate-level coupling is null", "model health (preamble)"):
        assert finding in md
    assert row(card, "erank(P₀) trained ≪ null")["null_run"] == "n"
    assert "per_sample_mean: 1+/1−" in row(card, "FDR-significant coupling layers")["measured"]


@pytest.mark.parametrize("finding,name,run,values", [
    ("complex-pair fraction", "layer_spectra", "t", {"frac_complex_robust": 0.5}),  # raw 0.97 alone would hold
    ("self-alignment rises early → late", "layer_spectra", "t", {"self_alignment_J": [0.7, 0.5, 0.3, 0.2, 0.1, 0.05]}),
    # late > early, but no monotone trend through depth (Spearman ρ = -0.03)
    ("self-alignment rises early → late", "layer_spectra", "t", {"self_alignment_J": [0.3, 0.1, 0.9, 0.05, 0.35, 0.2]}),
    ("Henrici departure falls early → late", "layer_spectra", "t", {"henrici_J": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]}),
    ("R self-alignment < 0.2", "layer_spectra", "t", {"self_alignment_R": [0.1, 0.1, 0.25, 0.1, 0.1, 0.1]}),
    ("forward alignment ≈ k/d", "layer_spectra", "t", {"forward_alignment_J": [0.3] * 5 + [np.nan]}),
    ("Table 2: early < mid < late", "table2_self_alignment", "t", {"mid": 0.7}),
    ("Table 2: training lowers early/mid self-alignment vs null", "table2_self_alignment", "t", {"early": 0.65}),
    ("erank(P₀) trained ≪ null", "cumulative_summary", "t", {"erank_first": 200.0}),
    ("Schur c0/c1 > 1: removing N dissolves the funnel", "schur_table3", "t",
     {"ratio_c0_c1_j_min": 1.0, "ratio_c0_c1_j_max": 1.5}),
    ("Schur c0/c1 > 1: removing N dissolves the funnel", "schur_table3", "t", {"erank_c2": 7.0}),
    ("Schur dose flat at the null", "schur_table3", "n", {"ratio_c0_c1_j_min": 2.5, "ratio_c0_c1_j_max": 3.0}),
    ("mesoscale variance above null", "coupling_summary", "t", {"n_mesoscale_above_null": 2}),
    ("FDR-significant coupling layers", "coupling_summary", "t", {"n_fdr_sig_pos": 0, "n_fdr_sig_neg": 0}),
    ("no FDR-significant coupling at the null", "coupling_summary", "n", {"n_fdr_sig_pos": 1}),
    ("median Cohen's d positive", "coupling_summary", "t", {"median_cohens_d": -0.1}),
    ("sign of d follows self-alignment", "coupling_summary", "t", {"selfalign_d_spearman_rho": -0.5}),
    ("sign of d follows self-alignment", "coupling_summary", "t", {"selfalign_d_p_perm": 0.2}),
    ("model health (preamble)", "model_health", "t", {"loss": 11.0}),
    ("model health (preamble)", "model_health", "n", {"loss": 5.0}),
])
def test_each_rule_fails_on_a_failing_table(finding, name, run, values):
    assert verdict(tables(), finding, run) == HOLDS
    assert verdict(edit(tables(), name, run, **values), finding, run) == DIFFERS


def test_a_schur_band_straddling_the_threshold_is_not_resolved():
    # the canonical order below the threshold, the random orders above it (trained SmolLM2: 0.22 vs 9.4-9.6)
    t = edit(tables(), "schur_table3", "t", ratio_c0_c1_j_min=0.22, ratio_c0_c1_j_max=9.6)
    assert verdict(t, "Schur c0/c1 > 1: removing N dissolves the funnel", "t") == NOT_RESOLVED
    t = edit(tables(), "schur_table3", "n", ratio_c0_c1_j_max=3.0)  # partly inside [0.5, 2]
    assert verdict(t, "Schur dose flat at the null", "n") == NOT_RESOLVED


def test_rules_that_compare_with_the_null_or_between_rows():
    t = tables()
    t["rate_coupling"].loc[0, "p_perm"] = 0.01
    assert verdict(t, "rate-level coupling is null") == DIFFERS
    t = tables()
    t["schur_dose"].loc[t["schur_dose"]["construction"].eq("control_a") & t["schur_dose"]["c"].eq(1), "erank"] = 30.0
    assert verdict(t, "Control A reverses the dose") == DIFFERS
    # as many significant layers as the null: not more, so it differs
    t = edit(tables(), "coupling_summary", "n", n_fdr_sig_pos=6)
    assert verdict(t, "FDR-significant coupling layers") == DIFFERS
    t = edit(tables(), "coupling_summary", "n", median_cohens_d=0.5)
    assert verdict(t, "median Cohen's d positive") == DIFFERS


def test_not_testable_without_a_null_or_a_table():
    for finding in ("Table 2: training lowers early/mid self-alignment vs null", "erank(P₀) trained ≪ null"):
        r = row(scorecard(tables(), RUNS, {}), finding, "t")
        assert r["verdict"] == NOT_TESTABLE and "null_of: t" in r["measured"]
    no_null = scorecard(tables(), RUNS, {})
    assert (no_null["run"] == "n").sum() > 0  # without the declaration n is just another run
    t = tables()
    del t["layer_spectra"]
    assert verdict(t, "complex-pair fraction") == NOT_TESTABLE
    t = tables()
    t["schur_dose"] = t["schur_dose"][t["schur_dose"]["construction"] == "dose"]
    assert verdict(t, "Control A reverses the dose") == NOT_TESTABLE
    assert verdict(edit(tables(), "coupling_summary", "t", selfalign_d_spearman_rho=np.nan),
                   "sign of d follows self-alignment") == NOT_TESTABLE
    t = tables()
    del t["model_health"]
    assert verdict(t, "model health (preamble)") == NOT_TESTABLE


def test_resolution_columns_present_or_said_absent():
    card = scorecard(tables(), RUNS, NULL_OF)
    assert "0.950" in row(card, "complex-pair fraction")["measured"] and "0.970" in row(card, "complex-pair fraction")["measured"]
    assert "[5, 7]" in row(card, "Schur c0/c1 > 1: removing N dissolves the funnel")["resolution"]
    t = tables()
    t["layer_spectra"] = t["layer_spectra"].drop(columns=["frac_complex_robust", "eig_cond_median", "eig_cond_max"])
    t["schur_table3"] = t["schur_table3"].drop(columns=["ratio_c0_c1_j_min", "ratio_c0_c1_j_max", "n_orders"])
    card = scorecard(t, RUNS, NULL_OF)
    r = row(card, "complex-pair fraction")
    assert r["resolution"] == NO_RESOLUTION and r["verdict"] == HOLDS  # raw 0.97 >= 0.90
    assert row(card, "Schur c0/c1 > 1: removing N dissolves the funnel")["resolution"].startswith(NO_RESOLUTION)
    t = edit(tables(), "cumulative_summary", "t", method="truncated", kept_rank=512)
    assert "capped at 512" in row(scorecard(t, RUNS, NULL_OF), "erank(P₀) trained ≪ null")["resolution"]


def test_rate_level_undefined_and_untrained_health():
    t = tables()
    t["rate_coupling"]["p_perm"] = np.nan  # fewer than 4 layers: no permutation test
    assert verdict(t, "rate-level coupling is null") == NOT_TESTABLE
    # an init run that is no declared null is still untrained for the health rule
    runs = ["t", "n", "i"]
    t = tables()
    t["model_health"] = pd.concat([t["model_health"], pd.DataFrame(
        {"run": ["i"], "n_tokens": 1000, "loss": [10.5], "perplexity": [36000.0], "ln_vocab": 10.8})])
    assert row(scorecard(t, runs, NULL_OF, untrained=["i"]), "model health (preamble)", "i")["verdict"] == HOLDS
    assert row(scorecard(t, runs, NULL_OF), "model health (preamble)", "i")["verdict"] == DIFFERS
