"""The findings scorecard on hand-made tables with known verdicts: for every claim of
claims.yaml one table where it holds at the paper's strength, one where it holds in direction
only and one where it differs; bands that straddle a threshold are not resolved; absent tables
and nulls are not testable."""
import numpy as np
import pandas as pd
import pytest

from resdyn.findings.checkpoint_series import COLUMNS as SERIES_COLUMNS, LAYER_RANGE
from resdyn.findings.claims import load_claims
from resdyn.findings.scorecard import COLUMNS, scorecard, to_html, to_markdown
from resdyn.findings.verdicts import (DIFFERS, DIRECTION_ONLY, HOLDS, NO_RESOLUTION, NOT_RESOLVED, NOT_TESTABLE,
                                      decide)
from resdyn.findings.claims import parse

RUNS, NULL_OF = ["t", "n"], {"t": "n"}
L = 6
REGIMES = ["early", "early", "mid", "mid", "late", "late"]


def spectra(run):
    return pd.DataFrame({
        "run": run, "layer": range(L), "regime": REGIMES, "d": 576, "n_samples": 10, "n_kappa_censored": 0,
        "frac_complex": 0.97, "frac_complex_robust": 0.96, "eig_cond_median": 12.0, "eig_cond_max": 1e3,
        "kappa_median": [1e6, 1e6, 1e3, 1e3, 1e5, 1e5],  # early/mid 10^3, late/mid 10^2
        "frac_expanding": [0.5, 0.5, 0.2, 0.25, 0.4, 0.4],  # mid mean 0.225 in [0.17, 0.30]
        "mean_abs_eig": [1.2, 1.2, 0.9, 0.9, 1.1, 1.1],
        "pr_median": [2.0, 5, 50, 100, 300, 400],  # span 200x
        "self_alignment_J": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7],  # early 0.075 -> late 0.6
        "henrici_J": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # early 0.85 -> late 0.45
        "residual_norm_ratio": [0.96, 0.9, 0.8, 0.7, 0.6, 0.52],
        "self_alignment_R": 0.1, "random_alignment_baseline": 0.02,
        "forward_alignment_J": [0.03] * (L - 1) + [np.nan],  # 1.5x k/d
    })


def series():
    rows = []
    values = {"n_fdr_sig": [0, 14, 24], "median_cohens_d": [0.007, 0.124, 0.248], "erank_p0": [326, 100, 42],
              "self_alignment_early": [0.635, 0.5, 0.428], "self_alignment_mid": [0.951, 0.8, 0.653],
              "frac_mesoscale_above_null": [1.0, 0.9, 0.8], "frac_complex_robust": [0.3, 0.97, 0.98]}
    for q, v in values.items():
        for i, (run, step) in enumerate(zip(["n", "m", "t"], [0, 471_000, 1_413_814])):
            low = [0.1, 0.96, 0.97][i] if q == "frac_complex_robust" else np.nan
            rows.append({"series": "olmo", "run": run, "step": step, "quantity": q, "value": v[i], "band_low": low,
                         "band_high": np.nan, "band": LAYER_RANGE if q == "frac_complex_robust" else "",
                         "source": "cumulative_summary" if q == "erank_p0" else "exact"})
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


def nmi_table(run, value=lambda dist: np.exp(-0.1 * dist)):
    a, b = np.triu_indices(2 * L, k=1)
    return pd.DataFrame({"run": run, "method": "signed_cpm", "snapshot_a": a, "snapshot_b": b, "nmi": value(b - a)})


def coupling(run):
    sa = [0.05, 0.1, 0.2, 0.3, 0.6, 0.7]
    rows = []
    for reading, d in (("mean_jacobian", [-0.1, -0.05, 0.1, 0.2, 0.3, 0.4]), ("per_sample_mean", [-0.2, 0, 0, 0, 0, 0.1])):
        sig_pos = [False, False, True, True, True, True] if reading == "mean_jacobian" else [False] * 5 + [True]
        sig_neg = [True] + [False] * 5 if reading == "per_sample_mean" else [False] * L
        rows.append(pd.DataFrame({"run": run, "method": "signed_cpm", "column_norm": reading, "layer": range(L),
                                  "cohens_d": d, "self_alignment": sa, "significant_positive": sig_pos,
                                  "significant_negative": sig_neg}))
    return pd.concat(rows, ignore_index=True)


def dose_rows(run, dose, a1=(200.0, 210.0), b1=(20.0, 22.0), method="polar"):
    cs = [0, 0.5, 1, 2]
    rows = [{"construction": "dose", "c": c, "draw": 0, "erank": e} for c, e in zip(cs, dose)]
    for con, at1 in (("control_a", a1), ("control_b", b1)):
        rows += [{"construction": con, "c": 0, "draw": k, "erank": dose[0]} for k in range(2)]
        rows += [{"construction": con, "c": 1, "draw": k, "erank": v} for k, v in enumerate(at1)]
    return pd.DataFrame(rows).assign(run=run, mode="J", method=method)


def tables():
    """Every claim holds at the paper's strength for trained run t against its null n."""
    return {
        "model_health": pd.DataFrame({"run": ["t", "n"], "n_tokens": 1000, "loss": [3.0, 10.5], "ln_vocab": 10.8}),
        "layer_spectra": pd.concat([spectra("t"), spectra("n")], ignore_index=True),
        "table2_self_alignment": pd.DataFrame({"run": ["t", "n"], "early": [0.1, 0.6], "mid": [0.3, 0.95],
                                               "late": [0.85, 0.97]}),
        "cumulative_summary": pd.DataFrame({"run": ["t", "n"], "d": 576, "erank_first": [5.0, 300.0],
                                            "erank_last": [400.0, 560.0], "method": "exact", "kept_rank": 576}),
        "cumulative": pd.DataFrame({"run": "t", "layer": range(L),
                                    "erank": np.exp([0.5, 2.5, 4.5, 5.0, 5.5, 6.0])}),  # falls 2, 2 | .5, .5 | .5
        "cumulative_transport": pd.concat([pd.DataFrame({
            "run": "t", "protocol": protocol, "layer": range(L), "d": 576, "n_samples": 32,
            "erank_transport": [5.0, 20, 60, 100, 200, 300], "log_norm_transport": 0.0,
            "erank_product_of_means": [4.0, 20, 60, 100, 200, 300], "log_norm_product_of_means": 0.0})
            for protocol in ("in_context", "single_token")], ignore_index=True),
        "schur_table3": pd.DataFrame({"run": ["t", "n"], "method": "polar", "erank_c0": [40.0, 300.0],
                                      "erank_c1": [6.0, 290.0], "erank_c2": [2.0, 280.0],
                                      "ratio_c0_c1_j": [40 / 6, 300 / 290], "ratio_c0_c1_r": [6.5, 1.0]}),
        "schur_dose": pd.concat([dose_rows("t", [40.0, 15.0, 6.0, 2.0]), dose_rows("n", [300.0, 295.0, 290.0, 280.0])],
                                ignore_index=True),
        "communities": pd.concat([pd.DataFrame({"run": r, "method": "signed_cpm", "snapshot": range(2 * L),
                                                "layer": np.arange(2 * L) // 2, "n_units": 576,
                                                "n_nondegenerate": 10}) for r in RUNS], ignore_index=True),
        "community_nmi": pd.concat([nmi_table(r) for r in RUNS], ignore_index=True),
        "mesoscale": pd.concat([pd.DataFrame({"run": r, "method": "signed_cpm", "layer": range(L),
                                              "variance_captured": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}) for r in RUNS],
                               ignore_index=True),
        "coupling_summary": pd.DataFrame({"run": ["t", "n"], "method": "signed_cpm", "column_norm": "mean_jacobian",
                                          "n_layers": L, "n_fdr_sig_pos": [4, 0], "n_fdr_sig_neg": [0, 0],
                                          "median_cohens_d": [0.2, 0.01], "selfalign_d_spearman_rho": [0.8, np.nan],
                                          "selfalign_d_p_perm": [0.004, np.nan], "n_mesoscale_above_null": [6, 6],
                                          "median_mesoscale_z": [10.0, 19.0]}),
        "coupling": pd.concat([coupling("t"), coupling("n")], ignore_index=True),
        "rate_coupling": pd.DataFrame({"run": ["t", "t", "n", "n"], "method": "signed_cpm",
                                       "measure": ["abs_delta_sigma_max", "abs_delta_variance_captured"] * 2,
                                       "spearman_rho": [0.1, -0.2, 0.0, 0.1], "p_perm": [0.5, 0.3, 0.9, 0.6], "n": 5}),
        "checkpoint_series": series(),
    }


def card_row(card, claim, run="t"):
    sel = card[(card["claim"] == claim) & (card["run"] == run)]
    assert len(sel) == 1, (claim, run, card[["claim", "run"]])
    return sel.iloc[0]


def one(t, claim, null_of=NULL_OF):
    """The scorecard of one claim (the full card is tested once)."""
    return scorecard(t, RUNS, null_of, claims=[c for c in load_claims() if c.id == claim])


def verdict(t, claim, run="t", null_of=NULL_OF):
    return card_row(one(t, claim, null_of), claim, run)["verdict"]


def setter(name, run, column, values, where=None):
    """An edit: set ``column`` of table ``name`` for ``run`` (rows where ``where`` holds) to ``values``."""
    def edit(t):
        frame = t[name]
        sel = frame["run"] == run
        if where is not None:
            sel &= where(frame)
        frame.loc[sel, column] = values
    return edit


def both(*edits):
    def edit(t):
        for e in edits:
            e(t)
    return edit


def dose_erank(run, construction, c, values):
    return setter("schur_dose", run, "erank", values,
                  lambda f: (f["construction"] == construction) & np.isclose(f["c"], c))


def series_values(quantity, values, column="value"):
    return setter("checkpoint_series", "n", column, values[0], lambda f: f["quantity"] == quantity), \
        setter("checkpoint_series", "m", column, values[1], lambda f: f["quantity"] == quantity), \
        setter("checkpoint_series", "t", column, values[2], lambda f: f["quantity"] == quantity)


def spectra_column(column, values, run="t"):
    return setter("layer_spectra", run, column, values)


# claim -> (run, an edit that leaves the direction only, an edit that makes it differ)
CASES = {
    "model_health": ("t", setter("model_health", "t", "loss", 9.0), setter("model_health", "t", "loss", 10.0)),
    "complex_pairs": ("t", spectra_column("frac_complex_robust", [0.99, 0.99, 0.9, 0.99, 0.99, 0.99]),  # mean 0.975
                      spectra_column("frac_complex_robust", 0.3)),
    "kappa_u_shape": ("t", spectra_column("kappa_median", [1e4, 1e4, 1e3, 1e3, 2e3, 2e3]),
                      spectra_column("kappa_median", [1e3, 1e3, 1e4, 1e4, 1e3, 1e3])),
    "expanding_fraction_mid": ("t", spectra_column("frac_expanding", [0.5, 0.5, 0.4, 0.4, 0.4, 0.4]),
                               spectra_column("frac_expanding", [0.5, 0.5, 0.6, 0.6, 0.4, 0.4])),
    "mean_abs_eig_regimes": ("t", spectra_column("mean_abs_eig", [1.2, 1.2, 0.9, 0.9, 0.8, 0.8]),
                             spectra_column("mean_abs_eig", [1.2, 1.2, 1.3, 1.3, 1.1, 1.1])),
    "participation_ratio_range": ("t", spectra_column("pr_median", [20.0, 50, 100, 200, 300, 400]),
                                  spectra_column("pr_median", [100.0, 110, 120, 130, 140, 150])),
    "selfalignment_rises": ("t", spectra_column("self_alignment_J", [0.05, 0.1, 0.2, 0.3, 0.31, 0.35]),
                            spectra_column("self_alignment_J", [0.7, 0.5, 0.3, 0.2, 0.1, 0.05])),
    "henrici_falls": ("t", spectra_column("henrici_J", [0.9, 0.85, 0.88, 0.8, 0.82, 0.8]),
                      spectra_column("henrici_J", [0.4, 0.5, 0.6, 0.7, 0.8, 0.9])),
    "residual_ratio_falls": ("t", spectra_column("residual_norm_ratio", [0.96, 0.95, 0.94, 0.93, 0.92, 0.91]),
                             spectra_column("residual_norm_ratio", [0.5, 0.6, 0.7, 0.8, 0.9, 0.96])),
    "r_selfalignment": ("t", spectra_column("self_alignment_R", [0.1, 0.1, 0.25, 0.1, 0.1, 0.1]),
                        spectra_column("self_alignment_R", 0.3)),
    "step0_near_symmetric": ("n", setter("table2_self_alignment", "n", "mid", 0.7),
                             setter("table2_self_alignment", "n", "mid", 0.3)),
    "table2_order": ("t", setter("table2_self_alignment", "t", "mid", 0.9),
                     setter("table2_self_alignment", "t", "early", 0.9)),
    "training_lowers_early_mid": ("t", setter("table2_self_alignment", "t", "early", 0.55),
                                  setter("table2_self_alignment", "t", "early", 0.65)),
    "late_ceiling_kept": ("t", setter("table2_self_alignment", "t", "late", 0.6),
                          setter("table2_self_alignment", "t", "late", 0.2)),
    "forward_alignment": ("t", spectra_column("forward_alignment_J", [0.1] * 5 + [np.nan]),
                          spectra_column("forward_alignment_J", [0.2] * 5 + [np.nan])),
    "funnel_vs_d": ("t", setter("cumulative_summary", "t", "erank_first", 50.0),
                    setter("cumulative_summary", "t", "erank_first", 500.0)),
    "erank_vs_null": ("t", setter("cumulative_summary", "t", "erank_first", 100.0),
                      setter("cumulative_summary", "t", "erank_first", 400.0)),
    # falls per layer 1.5, 1.5 | 2, 2 | 0: early above the mean (1.4), mid steeper; then 0, 0 | 2, 2 | 1
    "erank_steepest_early": ("t", setter("cumulative", "t", "erank", np.exp([0.0, 1.5, 3.0, 5.0, 7.0, 7.0])),
                             setter("cumulative", "t", "erank", np.exp([0.0, 0.0, 0.0, 2.0, 4.0, 5.0]))),
    "transport_funnel": ("t", setter("cumulative_transport", "t", "erank_transport", 50.0, lambda f: f["layer"] == 0),
                         setter("cumulative_transport", "t", "erank_transport", 400.0, lambda f: f["layer"] == 0)),
    "schur_dose": ("t", both(setter("schur_table3", "t", "ratio_c0_c1_j", 3.0), dose_erank("t", "dose", 0, 18.0)),
                   both(setter("schur_table3", "t", "ratio_c0_c1_j", 0.8), dose_erank("t", "dose", 0, 4.8))),
    "schur_null_flat": ("n", dose_erank("n", "dose", 2, 50.0), setter("schur_table3", "n", "ratio_c0_c1_j", 8.0)),
    "control_a": ("t", dose_erank("t", "control_a", 1, [20.0, 22.0]), dose_erank("t", "control_a", 1, [3.0, 4.0])),
    "control_b": ("t", dose_erank("t", "control_b", 1, [300.0, 310.0]), dose_erank("t", "control_b", 1, [3.0, 4.0])),
    "mode_r": ("t", setter("schur_table3", "t", "ratio_c0_c1_r", 2.0), setter("schur_table3", "t", "ratio_c0_c1_r", 0.8)),
    "communities_per_layer": ("t", setter("communities", "t", "n_nondegenerate", 30),
                              setter("communities", "t", "n_nondegenerate", 1, lambda f: f["snapshot"] == 3)),
    "nmi_decays": ("t", setter("community_nmi", "t", "nmi", 0.5, lambda f: (f["snapshot_a"] == 5) & (f["snapshot_b"] == 6)),
                   lambda t: t.update(community_nmi=pd.concat([nmi_table("t", lambda dist: 0.2 + 0.05 * dist),
                                                               nmi_table("n")], ignore_index=True))),
    "mesoscale": ("t", both(setter("coupling_summary", "t", "median_mesoscale_z", 1.0),
                            setter("coupling_summary", "t", "n_mesoscale_above_null", 1)),
                  setter("coupling_summary", "t", "median_mesoscale_z", -1.0)),
    "mesoscale_step0": ("n", setter("coupling_summary", "n", "n_mesoscale_above_null", 5),
                        setter("coupling_summary", "n", "n_mesoscale_above_null", 2)),
    "mesoscale_rises": ("t", setter("mesoscale", "t", "variance_captured", [0.1, 0.3, 0.2, 0.4, 0.35, 0.38]),
                        setter("mesoscale", "t", "variance_captured", [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])),
    "coupling_counts": ("t", setter("coupling_summary", "t", "n_fdr_sig_pos", 2),
                        both(setter("coupling_summary", "t", "n_fdr_sig_pos", 0),
                             setter("coupling_summary", "t", "n_fdr_sig_neg", 3))),
    "coupling_null": ("n", setter("coupling_summary", "n", "n_fdr_sig_pos", 2),
                      setter("coupling_summary", "n", "n_fdr_sig_pos", 5)),
    "median_d": ("t", setter("coupling_summary", "t", "median_cohens_d", 0.05),
                 setter("coupling_summary", "t", "median_cohens_d", -0.1)),
    "selfalign_sign": ("t", setter("coupling_summary", "t", "selfalign_d_p_perm", 0.2),
                       setter("coupling_summary", "t", "selfalign_d_spearman_rho", -0.5)),
    "coupling_sign_by_depth": ("t", both(setter("coupling", "t", "significant_positive", True, lambda f: f["layer"] == 0),
                                         setter("coupling", "t", "cohens_d", 0.05, lambda f: f["layer"] == 0)),
                               setter("coupling", "t", "cohens_d", [0.4, 0.3, 0.2, 0.1, -0.05, -0.1],
                                      lambda f: f["column_norm"] == "mean_jacobian")),
    "rate_level_not_robust": ("t", setter("rate_coupling", "t", "p_perm", [0.005, 0.3]),
                              both(setter("rate_coupling", "t", "p_perm", 0.01),
                                   setter("rate_coupling", "t", "spearman_rho", [0.5, 0.6]))),
    "series_coupling_emerges": ("t", both(*series_values("n_fdr_sig", [0, 24, 14])),
                                both(*series_values("n_fdr_sig", [24, 14, 0]))),
    "series_median_d": ("t", both(*series_values("median_cohens_d", [0.0, 0.3, 0.2])),
                        both(*series_values("median_cohens_d", [0.2, 0.3, 0.1]))),
    "series_erank_falls": ("t", both(*series_values("erank_p0", [326, 30, 42])),
                           both(*series_values("erank_p0", [42, 100, 326]))),
    "series_selfalignment_falls": ("t", both(*series_values("self_alignment_mid", [0.951, 0.5, 0.653])),
                                   both(*series_values("self_alignment_mid", [0.9, 0.95, 0.97]))),
    "series_mesoscale_every": ("t", both(*series_values("frac_mesoscale_above_null", [0.9, 0.9, 0.8])),
                               both(*series_values("frac_mesoscale_above_null", [0.3, 0.9, 0.8]))),
    "series_complex_every": ("t", both(*series_values("frac_complex_robust", [0.1, 0.8, 0.97], "band_low")),
                             both(*series_values("frac_complex_robust", [0.3, 0.4, 0.98]))),
}


def edited(edit):
    t = {k: v.copy() for k, v in tables().items()}
    edit(t)
    return t


def test_every_claim_has_a_rule_and_three_test_tables():
    assert {c.id for c in load_claims()} == set(CASES)


@pytest.mark.parametrize("claim", sorted(CASES))
def test_holds_at_the_papers_strength(claim):
    assert verdict(tables(), claim, CASES[claim][0]) == HOLDS


@pytest.mark.parametrize("claim", sorted(CASES))
def test_holds_in_direction_only(claim):
    run, direction_only, _ = CASES[claim]
    row = card_row(one(edited(direction_only), claim), claim, run)
    assert row["verdict"] == DIRECTION_ONLY, row["measured"]
    assert (row["at_strength"], row["in_direction"]) == ("no", "yes")


@pytest.mark.parametrize("claim", sorted(CASES))
def test_differs(claim):
    run, _, differs = CASES[claim]
    row = card_row(one(edited(differs), claim), claim, run)
    assert row["verdict"] == DIFFERS, row["measured"]
    assert row["in_direction"] == "no"


def test_the_holding_card_and_its_markdown():
    card = scorecard(tables(), RUNS, NULL_OF, protocol={"t": "single_token", "n": "single_token"})
    assert list(card.columns) == COLUMNS
    assert set(card["verdict"]) == {HOLDS}, card[card["verdict"] != HOLDS][["claim", "run", "measured"]]
    assert set(card["protocol"]) == {"single_token"}
    assert card_row(card, "erank_vs_null")["null_run"] == "n"
    assert "per_sample_mean: 1+/1−" in card_row(card, "coupling_counts")["measured"]
    series_row = card_row(card, "series_coupling_emerges")
    assert series_row["finding"] == "coupling emerges monotonically over training (olmo)"
    assert "0 → 14 → 24" in series_row["measured"] and series_row["null_run"] == "n"
    md = to_markdown(card)
    assert f"{len(card)} holds, 0 holds in direction only, 0 differs" in md
    for claim in load_claims():
        assert claim.finding in md


def test_the_report_page_has_every_row_once_escaped_and_counted():
    from html import escape

    card = scorecard(tables(), RUNS, NULL_OF, protocol={"t": "single_token", "n": "single_token"})
    card.loc[0, "verdict"] = DIFFERS
    page = to_html(card)
    body = page.split("<tbody>")[1]
    assert body.count("<tr>") == len(card) and page.count("<details>") == len(card)
    # the summary: a badge and a count per verdict, in the order of VERDICTS
    assert f"{DIFFERS}</span> 1 " in page and f"{HOLDS}</span> {len(card) - 1} " in page
    for claim in load_claims():
        assert escape(claim.finding) in body
    assert "R self-alignment &lt; 0.2" in body and "R self-alignment < 0.2" not in body


def test_decide_truth_table():
    assert decide(True, True) == HOLDS
    assert decide(False, True) == DIRECTION_ONLY
    assert decide(False, False) == decide(True, False) == decide(None, False) == DIFFERS
    assert decide(None, True) == decide(True, None) == NOT_RESOLVED


def test_numbers_that_decide_are_in_the_row():
    card = scorecard(tables(), RUNS, NULL_OF)
    r = card_row(card, "complex_pairs")
    assert "decided on frac_complex_robust: lowest layer 0.960" in r["measured"] and "0.970" in r["measured"]
    assert "1e+06 / 1e+03 / 1e+05" in card_row(card, "kappa_u_shape")["measured"]
    assert "0.87% of d = 576" in card_row(card, "funnel_vs_d")["measured"]
    assert "decided on in_context" in card_row(card, "transport_funnel")["measured"]
    r = card_row(card, "schur_dose")
    assert r["resolution"] == "order-free (polar surgery)" and "c0/c1 = 6.67" in r["measured"]
    assert card_row(card, "communities_per_layer")["measured"].startswith("10–10 non-degenerate")


def test_a_schur_band_straddling_the_threshold_is_not_resolved():
    # the older table: a min-max band over orders, canonical included (SmolLM2: canonical 0.22, random 9.4-9.6)
    t = tables()
    t["schur_table3"] = t["schur_table3"].drop(columns="method").assign(ratio_c0_c1_j_min=[0.22, 1.0],
                                                                         ratio_c0_c1_j_max=[9.6, 1.1], n_orders=2)
    t["schur_dose"] = t["schur_dose"].drop(columns="method")
    row = card_row(scorecard(t, RUNS, NULL_OF), "schur_dose")
    assert row["verdict"] == NOT_RESOLVED and "[0.22, 9.6]" in row["resolution"] and "over 2 random" in row["resolution"]
    # the schur method's random-order interval: straddling 5.7 at strength, above 1 in direction
    t = tables()
    t["schur_table3"] = t["schur_table3"].assign(method="schur", ratio_c0_c1_j_q05=[4.0, 1.0],
                                                 ratio_c0_c1_j_median=[6.0, 1.0], ratio_c0_c1_j_q95=[8.0, 1.1],
                                                 n_orders=64)
    t["schur_dose"] = t["schur_dose"].assign(method="schur")
    row = card_row(scorecard(t, RUNS, NULL_OF), "schur_dose")
    assert (row["verdict"], row["at_strength"], row["in_direction"]) == (NOT_RESOLVED, "undecided", "yes")
    assert "90% interval over 64 random Schur orders: [4, 8]" in row["resolution"]
    # wholly above 5.7: holds; polar rows beside schur rows decide
    t["schur_table3"]["ratio_c0_c1_j_q05"] = [6.0, 1.0]
    assert verdict(t, "schur_dose") == HOLDS
    both_methods = tables()
    both_methods["schur_table3"] = pd.concat([tables()["schur_table3"], t["schur_table3"].assign(
        ratio_c0_c1_j_q05=[0.1, 1.0])], ignore_index=True)
    assert verdict(both_methods, "schur_dose") == HOLDS


def test_a_censored_kappa_is_not_resolved():
    # mid layers' medians are lower bounds: early > mid cannot be decided
    t = edited(setter("layer_spectra", "t", "n_kappa_censored", 10, lambda f: f["regime"] == "mid"))
    row = card_row(scorecard(t, RUNS, NULL_OF), "kappa_u_shape")
    assert row["verdict"] == NOT_RESOLVED and "≥ 1e+03" in row["measured"] and "layers [2, 3]" in row["resolution"]
    # early censored but already above mid by the strength: a lower bound suffices
    t = edited(setter("layer_spectra", "t", "n_kappa_censored", 10, lambda f: f["regime"] == "early"))
    assert verdict(t, "kappa_u_shape") == HOLDS
    # fewer than half the samples censored: the median is exact
    t = edited(setter("layer_spectra", "t", "n_kappa_censored", 4))
    assert verdict(t, "kappa_u_shape") == HOLDS


def test_not_testable_names_the_missing_null_table_or_mode():
    card = scorecard(tables(), RUNS, {})
    for claim in ("training_lowers_early_mid", "erank_vs_null", "late_ceiling_kept"):
        r = card_row(card, claim)
        assert r["verdict"] == NOT_TESTABLE and "null_of: t" in r["measured"] and r["at_strength"] == ""
    assert (card["run"] == "n").sum() > 0  # without the declaration n is just another run
    for name, claim in (("cumulative_transport", "transport_funnel"), ("layer_spectra", "complex_pairs"),
                        ("community_nmi", "nmi_decays"), ("model_health", "model_health")):
        t = tables()
        del t[name]
        r = card_row(scorecard(t, RUNS, NULL_OF), claim)
        assert r["verdict"] == NOT_TESTABLE and f"no {name} table" in r["measured"]
    t = tables()
    t["schur_dose"] = t["schur_dose"][t["schur_dose"]["construction"] == "dose"]
    assert verdict(t, "control_a") == NOT_TESTABLE
    r = card_row(scorecard(edited(setter("schur_table3", "t", "ratio_c0_c1_r", np.nan)), RUNS, NULL_OF), "mode_r")
    assert r["verdict"] == NOT_TESTABLE and "schur.modes lacks R" in r["measured"]
    assert verdict(edited(setter("coupling_summary", "t", "selfalign_d_spearman_rho", np.nan)),
                   "selfalign_sign") == NOT_TESTABLE
    assert verdict(edited(setter("rate_coupling", "t", "p_perm", np.nan)), "rate_level_not_robust") == NOT_TESTABLE


def test_without_a_series_one_training_row_per_null_pair():
    t = tables()
    del t["checkpoint_series"]
    card = scorecard(t, RUNS, NULL_OF)
    rows = card[card["claim"].str.startswith("series_")]
    assert list(rows["claim"]) == ["series_coupling_emerges"] and rows.iloc[0]["verdict"] == NOT_TESTABLE
    assert "no checkpoint_series" in rows.iloc[0]["measured"]


def test_the_rate_level_rule_keeps_the_papers_own_runs():
    # Llama (|Δ var| ρ = -0.36, p = 0.046) and Gemma (|Δσ_max| ρ = +0.39, p = 0.012): not robust, at strength
    for p, rho in (([0.638, 0.046], [-0.09, -0.36]), ([0.012, 0.299], [0.39, -0.17])):
        t = edited(both(setter("rate_coupling", "t", "p_perm", p), setter("rate_coupling", "t", "spearman_rho", rho)))
        assert verdict(t, "rate_level_not_robust") == HOLDS


def test_untrained_health_and_truncated_resolution():
    runs = ["t", "n", "i"]
    t = tables()
    t["model_health"] = pd.concat([t["model_health"], pd.DataFrame(
        {"run": ["i"], "n_tokens": 1000, "loss": [10.5], "ln_vocab": 10.8})])
    assert card_row(scorecard(t, runs, NULL_OF, untrained=["i"]), "model_health", "i")["verdict"] == HOLDS
    assert card_row(scorecard(t, runs, NULL_OF), "model_health", "i")["verdict"] == DIFFERS
    t = edited(both(setter("cumulative_summary", "t", "method", "truncated"),
                    setter("cumulative_summary", "t", "kept_rank", 512)))
    assert "capped at 512" in card_row(scorecard(t, RUNS, NULL_OF), "erank_vs_null")["resolution"]
    card = scorecard(tables(), RUNS, NULL_OF)
    assert card_row(card, "r_selfalignment")["resolution"] == NO_RESOLUTION


def test_claims_data_is_checked():
    row = {"id": "x", "finding": "f", "ref": "§1", "sentence": "s", "value": "v", "strength": "a", "direction": "b",
           "params": {}, "tables": [], "over": "trained"}
    assert parse([row])[0].rule == "holds if a; in direction if b"
    with pytest.raises(ValueError, match="over = 'everyone'"):
        parse([{**row, "over": "everyone"}])
    with pytest.raises(ValueError, match="appears twice"):
        parse([row, row])
    with pytest.raises(ValueError, match="lacks"):
        parse([{k: v for k, v in row.items() if k != "strength"}])


def test_band_tests_decide_only_when_the_whole_band_does():
    from resdyn.findings import bands
    assert bands.within(0.9, 1.1, 0.8, 1.25) is True
    assert bands.within(1.3, 2.0, 0.8, 1.25) is False and bands.within(1.0, 2.0, 0.8, 1.25) is None
    assert bands.less((1, 2), (3, 4)) is True and bands.less((3, 4), (1, 2)) is False
    assert bands.less((1, 3), (2, 4)) is None
    assert bands.falls_monotonically([(40, 40), (15, 15), (6, 6)]) is True
    assert bands.falls_monotonically([(1, 45), (20, 30), (6, 6)]) is None  # the c = 0 band spans c = 0.5's
    assert bands.falls_monotonically([(1, 45), (50, 60), (6, 6)]) is False
    row = pd.Series({"erank": 1.0, "erank_order_min": 44.0, "erank_order_max": 45.0, "n_orders": 2})
    assert bands.band(row, "erank")[:2] == (1.0, 45.0)  # the older band includes the canonical order
    row = pd.Series({"erank": 1.0, "erank_q05": 44.0, "erank_q95": 45.0, "n_orders": 64})
    assert bands.band(row, "erank")[:2] == (44.0, 45.0)  # the random-order interval does not


def test_table3_strength_needs_every_dose_to_fall():
    # c0/c1 = 6.7 as the paper's, but erank rises from c = 0 to c = 0.5: direction only
    row = card_row(one(edited(dose_erank("t", "dose", 0.5, 50.0)), "schur_dose"), "schur_dose")
    assert row["verdict"] == DIRECTION_ONLY and "falls at every dose: no" in row["measured"]


# a second direction-only table for claims whose strength has several parts: each part can fail alone
MORE_DIRECTION_ONLY = [
    ("kappa_u_shape", spectra_column("kappa_median", [1e6, 1e6, 1e3, 1e3, 1e4, 1e4])),  # late/mid 10^1 < 10^1.5
    ("coupling_counts", setter("coupling_summary", "t", "n_fdr_sig_neg", 1)),  # not uniformly positive
    ("selfalign_sign", setter("coupling", "t", "cohens_d", -0.1, lambda f: f["layer"] >= 4)),  # d < 0 above 0.5
    ("mesoscale", setter("coupling_summary", "t", "n_mesoscale_above_null", 2)),  # z = 10 but 2 of 6 layers
    ("rate_level_not_robust", both(setter("rate_coupling", "t", "p_perm", 0.03),
                                   setter("rate_coupling", "t", "spearman_rho", [0.5, -0.5]))),  # two, opposite signs
    ("nmi_decays", lambda t: t.update(community_nmi=pd.concat(  # decays, but one adjacent pair is a boundary
        [nmi_table("t", lambda dist: np.where(dist == 1, 0.7, np.exp(-0.1 * dist))), nmi_table("n")]))),
]


@pytest.mark.parametrize("claim, edit", MORE_DIRECTION_ONLY, ids=[c for c, _ in MORE_DIRECTION_ONLY])
def test_each_part_of_a_strength_can_fail_alone(claim, edit):
    row = card_row(one(edited(edit), claim), claim)
    assert row["verdict"] == DIRECTION_ONLY, row["measured"]


def test_the_surgery_tables_random_order_columns_are_read():
    # schur method as the surgery stage writes it: per-dose erank_order_q05/_q95 (no canonical order)
    t = tables()
    t["schur_table3"] = t["schur_table3"].assign(method="schur", ratio_c0_c1_j_q05=[6.0, 1.0],
                                                 ratio_c0_c1_j_q95=[7.0, 1.1], erank_c0_q05=[36.0, 299.0],
                                                 erank_c0_q95=[42.0, 301.0], n_orders=64)
    d = t["schur_dose"].assign(method="schur")
    dose = d["construction"] == "dose"
    d.loc[dose, "erank_order_q05"] = d.loc[dose, "erank"] - 1
    d.loc[dose, "erank_order_q95"] = d.loc[dose, "erank"] + 1
    t["schur_dose"] = d
    assert verdict(t, "schur_dose") == HOLDS
    d.loc[dose & np.isclose(d["c"], 0.5) & (d["run"] == "t"), "erank_order_q95"] = 45.0  # overlaps c = 0's band
    row = card_row(one(t, "schur_dose"), "schur_dose")
    assert row["verdict"] == NOT_RESOLVED and "falls at every dose: undecided" in row["measured"]
