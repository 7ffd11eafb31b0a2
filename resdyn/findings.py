"""The findings scorecard: each headline finding of the paper, this run set's number, a verdict.

Every finding is a pure function of the result tables (pandas frames; a missing table is
None) that returns rows with the columns of ``COLUMNS``. The verdict follows the rule
written in the row's ``rule`` column: ``holds``, ``differs``, or ``not testable with these
runs`` (with the reason in ``measured``), e.g. when a finding needs a declared null
(``runs.<name>.null_of``) that the config lacks. ``protocol`` labels the Jacobian protocol
the numbers were measured under, so rows of a second protocol for the same run can sit beside
them. Paper numbers are from arXiv:2605.14258 (§2-3, Appendices B-D).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from resdyn.checkpoint_series import grows, trend

HOLDS, DIFFERS, NOT_TESTABLE = "holds", "differs", "not testable with these runs"
# the rule holds at one end of the number's band and fails at the other (e.g. over Schur orders)
NOT_RESOLVED = "not resolved: depends on an arbitrary choice"
COLUMNS = ["protocol", "finding", "paper_ref", "paper_value", "run", "null_run", "measured", "verdict", "rule",
           "resolution"]
NO_RESOLUTION = "resolution not measured"


def _verdict(ok: bool) -> str:
    return HOLDS if ok else DIFFERS


def _band_verdict(ok_low: bool, ok_high: bool) -> str:
    """Holds / differs where the rule gives the same answer at both ends of a band, else not resolved."""
    return _verdict(ok_low) if ok_low == ok_high else NOT_RESOLVED


def _rows_of(table: pd.DataFrame | None, run: str, **match) -> pd.DataFrame | None:
    if table is None:
        return None
    sub = table[table["run"] == run]
    for key, value in match.items():
        if key in sub:
            sub = sub[sub[key] == value]
    return sub if len(sub) else None


def _missing(name: str) -> str:
    return f"no {name} rows for this run (stage not run or table absent)"


class Context:
    """The tables and the run set one scorecard is built from."""

    def __init__(self, tables: dict, runs, null_of: dict, method: str = "signed_cpm",
                 column_norm: str = "mean_jacobian", untrained=()):
        self.t = {k: v for k, v in tables.items()}
        self.runs = list(runs)
        self.null_of = dict(null_of)  # trained -> null
        self.nulls = set(self.null_of.values())
        self.trained = [r for r in self.runs if r not in self.nulls]
        self.method = method
        self.column_norm = column_norm
        self.untrained = self.nulls | set(untrained)  # nulls and random initialisations (source: init)

    def table(self, name):
        return self.t.get(name)


def _row(finding, ref, paper, run, measured, verdict, rule, resolution=NO_RESOLUTION, null_run=""):
    return {"finding": finding, "paper_ref": ref, "paper_value": paper, "run": run, "null_run": null_run,
            "measured": measured, "verdict": verdict, "rule": rule, "resolution": resolution}


# ----------------------------------------------------------------- §2: spectra
def complex_pairs(ctx: Context) -> list[dict]:
    rule = "holds if the layer-mean fraction of eigenvalues of mean J with |Im λ| > 1e-6 is ≥ 0.90 (paper: ~0.98)"
    out = []
    for run in ctx.trained:
        t = _rows_of(ctx.table("layer_spectra"), run)
        ref, paper = "§2, Fig. 1, Fig. S1", "≈98% of eigenvalues in complex-conjugate pairs (all models)"
        if t is None:
            out.append(_row("complex-pair fraction", ref, paper, run, _missing("layer_spectra"), NOT_TESTABLE, rule))
            continue
        raw = float(t["frac_complex"].mean())
        if "frac_complex_robust" in t:
            value = float(t["frac_complex_robust"].mean())
            measured = f"{value:.3f} (robust); frac_complex {raw:.3f}"
            res = f"robust fraction (pairs resolved beyond eigenvalue conditioning) {value:.3f} vs raw {raw:.3f}"
            if "eig_cond_median" in t:
                res += f"; eigenvalue condition number median {t['eig_cond_median'].median():.3g}, " \
                       f"max {t['eig_cond_max'].max():.3g}"
        else:
            value, measured, res = raw, f"{raw:.3f}", NO_RESOLUTION
        out.append(_row("complex-pair fraction", ref, paper, run, measured, _verdict(value >= 0.90), rule, res))
    return out


def _depth_trend(t: pd.DataFrame, column: str) -> tuple[float, float]:
    r = st.spearmanr(t["layer"], t[column])
    return float(r.statistic), float(r.pvalue)


def selfalignment_and_henrici(ctx: Context) -> list[dict]:
    out = []
    for run in ctx.trained:
        t = _rows_of(ctx.table("layer_spectra"), run)
        specs = [
            ("self-alignment rises early → late", "§2.1, Fig. 3a", "0.04 (layer 2) → 0.70 (layer 29), Llama 3.1 8B",
             "self_alignment_J", +1),
            ("Henrici departure falls early → late", "§2.1, Fig. 3c", "0.91 → 0.47, Llama 3.1 8B", "henrici_J", -1),
        ]
        for finding, ref, paper, col, sign in specs:
            word = "rises" if sign > 0 else "falls"
            rule = (f"holds if the late-regime mean {'>' if sign > 0 else '<'} the early-regime mean and the Spearman "
                    f"ρ(layer, {col}) is {'positive' if sign > 0 else 'negative'} with p < 0.05 (it {word} with depth)")
            if t is None:
                out.append(_row(finding, ref, paper, run, _missing("layer_spectra"), NOT_TESTABLE, rule))
                continue
            means = t.groupby("regime")[col].mean()
            rho, p = _depth_trend(t, col)
            early, late = float(means.get("early", np.nan)), float(means.get("late", np.nan))
            ok = sign * (late - early) > 0 and sign * rho > 0 and p < 0.05
            out.append(_row(finding, ref, paper, run, f"early {early:.3f} → late {late:.3f}; ρ = {rho:+.2f}, "
                            f"p = {p:.2g}", _verdict(ok), rule))
    return out


def r_selfalignment(ctx: Context) -> list[dict]:
    rule = "holds if max over layers of self_alignment_R < 0.20"
    out = []
    for run in ctx.trained:
        t = _rows_of(ctx.table("layer_spectra"), run)
        ref, paper = "§2.1, Fig. 3a, Fig. S3", "R = J − I self-alignment < ~0.20 at every layer"
        if t is None:
            out.append(_row("R self-alignment < 0.2", ref, paper, run, _missing("layer_spectra"), NOT_TESTABLE, rule))
            continue
        m = float(t["self_alignment_R"].max())
        layer = int(t.loc[t["self_alignment_R"].idxmax(), "layer"])
        out.append(_row("R self-alignment < 0.2", ref, paper, run, f"max {m:.3f} (layer {layer})",
                        _verdict(m < 0.20), rule))
    return out


def forward_alignment(ctx: Context) -> list[dict]:
    rule = "holds if mean over layers of forward_alignment_J / (k/d) lies in [0.5, 2.0] (paper spans 0.64-2.0×)"
    out = []
    for run in ctx.runs:
        t = _rows_of(ctx.table("layer_spectra"), run)
        ref = "§2.1, App. B, Fig. S6"
        paper = "≈ k/d: 1.05× (Llama), 1.00× (OLMo step 0), 2.0× (OLMo 1.41M), 0.64× (Gemma)"
        if t is None:
            out.append(_row("forward alignment ≈ k/d", ref, paper, run, _missing("layer_spectra"), NOT_TESTABLE, rule))
            continue
        fa = float(t["forward_alignment_J"].mean())  # NaN on the last layer is skipped
        base = float(t["random_alignment_baseline"].iloc[0])
        ratio = fa / base
        out.append(_row("forward alignment ≈ k/d", ref, paper, run, f"{fa:.4f} = {ratio:.2f}× k/d ({base:.4f})",
                        _verdict(0.5 <= ratio <= 2.0), rule))
    return out


TABLE2_PAPER = "early/mid/late: OLMo step 0 0.635/0.951/0.979; OLMo 1.41M 0.428/0.653/0.859; " \
               "Llama 0.073/0.299/0.556; Gemma 4 0.005/0.061/0.660"


def table2(ctx: Context) -> list[dict]:
    out = []
    rule_mono = "holds if regime means of J self-alignment satisfy early < mid < late"
    rule_null = "holds if the trained run's early and mid means are both below its null's (training pulls them " \
                "toward rotation; paper mid 0.95 → 0.65, early 0.64 → 0.43)"
    t2 = ctx.table("table2_self_alignment")
    for run in ctx.runs:
        row = _rows_of(t2, run)
        if row is None:
            out.append(_row("Table 2: early < mid < late", "Table 2", TABLE2_PAPER, run, _missing("table2"),
                            NOT_TESTABLE, rule_mono))
            continue
        e, m, l = (float(row[c].iloc[0]) for c in ("early", "mid", "late"))
        out.append(_row("Table 2: early < mid < late", "Table 2", TABLE2_PAPER, run, f"{e:.3f} / {m:.3f} / {l:.3f}",
                        _verdict(e < m < l), rule_mono))
    for run in ctx.trained:
        null = ctx.null_of.get(run)
        finding = "Table 2: training lowers early/mid self-alignment vs null"
        if null is None:
            out.append(_row(finding, "Table 2, §2.1", TABLE2_PAPER, run,
                            f"no run declares null_of: {run}", NOT_TESTABLE, rule_null))
            continue
        a, b = _rows_of(t2, run), _rows_of(t2, null)
        if a is None or b is None:
            out.append(_row(finding, "Table 2, §2.1", TABLE2_PAPER, run, _missing("table2"), NOT_TESTABLE, rule_null,
                            null_run=null))
            continue
        ea, ma, la = (float(a[c].iloc[0]) for c in ("early", "mid", "late"))
        eb, mb, lb = (float(b[c].iloc[0]) for c in ("early", "mid", "late"))
        out.append(_row(finding, "Table 2, §2.1", TABLE2_PAPER, run,
                        f"null → trained: early {eb:.3f} → {ea:.3f}, mid {mb:.3f} → {ma:.3f}, late {lb:.3f} → {la:.3f}",
                        _verdict(ea < eb and ma < mb), rule_null, null_run=null))
    return out


# ----------------------------------------------------------------- §2.2-2.3: bottleneck, Schur
def _cumulative_resolution(row: pd.Series) -> str:
    if row.get("method") == "truncated":
        return f"truncated SVD at rank {int(row['kept_rank'])}: erank is capped at {int(row['kept_rank'])}"
    return "exact product and full SVD (no rank cap)"


def erank_vs_null(ctx: Context) -> list[dict]:
    rule = "holds if erank(P₀) of the trained run is below half of its null's (paper: 326 → ~42, 7.8×)"
    out = []
    cs = ctx.table("cumulative_summary")
    ref = "§2.2, Fig. 4d, Fig. S7"
    paper = "erank(P₀): OLMo step 0 ≈ 326 vs 1.41M ≈ 42; Llama 6.7, Gemma 5.9"
    for run in ctx.trained:
        null = ctx.null_of.get(run)
        a = _rows_of(cs, run)
        if null is None:
            measured = f"no run declares null_of: {run}"
            if a is not None:
                measured = f"erank(P₀) = {a['erank_first'].iloc[0]:.3g}; " + measured
            out.append(_row("erank(P₀) trained ≪ null", ref, paper, run, measured, NOT_TESTABLE, rule,
                            _cumulative_resolution(a.iloc[0]) if a is not None else NO_RESOLUTION))
            continue
        b = _rows_of(cs, null)
        if a is None or b is None:
            out.append(_row("erank(P₀) trained ≪ null", ref, paper, run, _missing("cumulative_summary"), NOT_TESTABLE,
                            rule, null_run=null))
            continue
        ea, eb = float(a["erank_first"].iloc[0]), float(b["erank_first"].iloc[0])
        res = f"trained: {_cumulative_resolution(a.iloc[0])}; null: {_cumulative_resolution(b.iloc[0])}"
        out.append(_row("erank(P₀) trained ≪ null", ref, paper, run, f"trained {ea:.3g} vs null {eb:.3g} "
                        f"({eb / ea:.2g}×)", _verdict(ea < eb / 2), rule, res, null_run=null))
    return out


def _band(row: pd.Series, name: str) -> tuple[float, float, str]:
    """(low, high, resolution) of a Table 3 quantity: its band over Schur orders where measured."""
    lo, hi = f"{name}_min", f"{name}_max"
    if lo in row and hi in row and pd.notna(row[lo]) and pd.notna(row[hi]):
        n = f" over {int(row['n_orders'])} Schur orders" if "n_orders" in row and pd.notna(row["n_orders"]) else ""
        return float(row[lo]), float(row[hi]), f"{name} band{n}: [{row[lo]:.3g}, {row[hi]:.3g}]"
    v = float(row[name])
    return v, v, f"{NO_RESOLUTION} (one Schur eigenvalue order; c ≠ 1 depends on it)"


def schur_dose(ctx: Context) -> list[dict]:
    out = []
    t3 = ctx.table("schur_table3")
    ref = "§2.3, Table 3, Fig. 5a"
    paper = "c0/c1 (mode J) 6.4 (Llama), 5.7 (OLMo 1.41M), 6.6 (Gemma); erank falls further at c = 2; step 0 flat"
    rule = ("holds if c0/c1 ≥ 2 over the whole band of Schur orders and erank(c=2) < erank(c=1); not resolved "
            "if that holds at one end of the band only")
    rule_null = ("holds if the null's c0/c1 lies in [0.5, 2] over the whole band (nearly flat); not resolved if "
                 "the band lies partly inside it")
    for run in ctx.runs:
        is_null = run in ctx.nulls
        row = _rows_of(t3, run)
        finding = "Schur dose flat at the null" if is_null else "Schur c0/c1 > 1: removing N dissolves the funnel"
        if row is None:
            out.append(_row(finding, ref, paper, run, _missing("schur_table3"), NOT_TESTABLE,
                            rule_null if is_null else rule))
            continue
        r = row.iloc[0]
        lo, hi, res = _band(r, "ratio_c0_c1_j")
        measured = (f"c0/c1 = {r['ratio_c0_c1_j']:.3g}" + (f" [{lo:.3g}, {hi:.3g}]" if lo != hi else "")
                    + f"; erank c0 {r['erank_c0']:.3g}, c1 {r['erank_c1']:.3g}, c2 {r['erank_c2']:.3g}")
        if is_null:
            verdict = HOLDS if 0.5 <= lo and hi <= 2.0 else DIFFERS if hi < 0.5 or lo > 2.0 else NOT_RESOLVED
        else:
            falls = r["erank_c2"] < r["erank_c1"]
            verdict = _band_verdict(lo >= 2.0 and falls, hi >= 2.0 and falls)
        out.append(_row(finding, ref, paper, run, measured, verdict, rule_null if is_null else rule, res))
    return out


def control_a(ctx: Context) -> list[dict]:
    rule = "holds if Control A's mean erank(P₀:L−1) at c = 1 exceeds the erank at c = 0 (random mass raises erank)"
    ref, paper = "App. C.2, Fig. S8a", "c=1: Llama dose 7.12 vs Control A 215.9; OLMo 55.5 vs 349.4 (c=0: 45.4, 314)"
    out = []
    for run in ctx.trained:
        d = _rows_of(ctx.table("schur_dose"), run, mode="J")
        if d is None or "control_a" not in set(d["construction"]):
            why = _missing("schur_dose") if d is None else "no Control A draws (schur.draws = 0)"
            out.append(_row("Control A reverses the dose", ref, paper, run, why, NOT_TESTABLE, rule))
            continue
        dose = d[d["construction"] == "dose"]
        a = d[d["construction"] == "control_a"]
        c0 = float(dose[np.isclose(dose["c"], 0)]["erank"].mean())
        c1 = float(dose[np.isclose(dose["c"], 1)]["erank"].mean())
        a1 = a[np.isclose(a["c"], 1)]["erank"]
        out.append(_row("Control A reverses the dose", ref, paper, run,
                        f"c=1: dose {c1:.3g} vs Control A {a1.mean():.3g} ± {a1.std(ddof=1) if len(a1) > 1 else 0:.2g} "
                        f"(n={len(a1)}); c=0: {c0:.3g}", _verdict(float(a1.mean()) > c0), rule))
    return out


# ----------------------------------------------------------------- §3: topology-dynamics coupling
def _summary(ctx: Context, run):
    return _rows_of(ctx.table("coupling_summary"), run, method=ctx.method)


def mesoscale(ctx: Context) -> list[dict]:
    rule = "holds if at least half of the layers have z > 1.96 against random same-size partitions"
    ref, paper = "§3.2, Fig. S9", "above null at every configuration; OLMo step 0: 32/32 layers, median z = 19.2"
    out = []
    for run in ctx.runs:
        s = _summary(ctx, run)
        if s is None:
            out.append(_row("mesoscale variance above null", ref, paper, run, _missing("coupling_summary"),
                            NOT_TESTABLE, rule))
            continue
        s = s.iloc[0]
        n, L = int(s["n_mesoscale_above_null"]), int(s["n_layers"])
        out.append(_row("mesoscale variance above null", ref, paper, run,
                        f"{n}/{L} layers, median z = {s['median_mesoscale_z']:.3g}", _verdict(n >= L / 2), rule))
    return out


def _other_reading(ctx: Context, run) -> str:
    c = _rows_of(ctx.table("coupling"), run, method=ctx.method)
    if c is None or "column_norm" not in c:
        return ""
    parts = []
    for reading, g in c.groupby("column_norm"):
        if reading != ctx.column_norm:
            parts.append(f"{reading}: {int(g['significant_positive'].sum())}+/{int(g['significant_negative'].sum())}−, "
                         f"median d {g['cohens_d'].median():+.3f}")
    return ("; other reading " + "; ".join(parts)) if parts else ""


def coupling_counts(ctx: Context) -> list[dict]:
    ref = "§3.3, Fig. 7, Table 1"
    paper = "FDR-significant layers: OLMo 0 → 14 → 24 of 32; Llama 16+/32; Gemma 4+ and 13− of 42"
    rule = "holds if ≥ 1 layer is FDR-significant (either sign) and, where a null is declared, more than its null"
    rule_null = "holds if no layer is FDR-significant at the null (paper: 0/32 at OLMo step 0)"
    out = []
    for run in ctx.runs:
        is_null = run in ctx.nulls
        s = _summary(ctx, run)
        finding = "no FDR-significant coupling at the null" if is_null else "FDR-significant coupling layers"
        if s is None:
            out.append(_row(finding, ref, paper, run, _missing("coupling_summary"), NOT_TESTABLE,
                            rule_null if is_null else rule))
            continue
        s = s.iloc[0]
        n = int(s["n_fdr_sig_pos"]) + int(s["n_fdr_sig_neg"])
        reading = s.get("column_norm", ctx.column_norm)
        measured = f"{int(s['n_fdr_sig_pos'])}+/{int(s['n_fdr_sig_neg'])}− of {int(s['n_layers'])} ({reading})"
        measured += _other_reading(ctx, run)
        null = ctx.null_of.get(run, "")
        if is_null:
            ok = n == 0
        else:
            ok = n >= 1
            if null:
                sn = _summary(ctx, null)
                if sn is None:
                    out.append(_row(finding, ref, paper, run, measured + "; null has no coupling_summary",
                                    NOT_TESTABLE, rule, null_run=null))
                    continue
                n_null = int(sn["n_fdr_sig_pos"].iloc[0]) + int(sn["n_fdr_sig_neg"].iloc[0])
                measured += f"; null {n_null}"
                ok = ok and n > n_null
        out.append(_row(finding, ref, paper, run, measured, _verdict(ok), rule_null if is_null else rule,
                        null_run=null))
    return out


# Training claims over a declared checkpoint order (checkpoint_series.csv, resdyn/checkpoint_series.py):
# (finding, paper_ref, paper_value, quantities, sign of the trend, what the rule reads)
SERIES_CLAIMS = [
    ("coupling emerges monotonically over training", "§3.3, Fig. 7d",
     "OLMo FDR-significant layers 0 → 14 → 24 of 32 (step 0, 471k, 1.41M)", ["n_fdr_sig"], +1),
    ("median Cohen's d grows over training", "§3.3, Fig. 7d", "OLMo median d 0.007 → 0.124 → 0.248",
     ["median_cohens_d"], +1),
    ("erank(P₀) falls over training", "§2.2, Fig. 4d", "OLMo erank(P₀) ≈ 326 (step 0) → ≈ 42 (1.41M)",
     ["erank_p0"], -1),
    ("training lowers early/mid self-alignment", "Table 2, §2.1",
     "OLMo step 0 → 1.41M: early 0.635 → 0.428, mid 0.951 → 0.653 (late 0.979 → 0.859, 'largely intact')",
     ["self_alignment_early", "self_alignment_mid"], -1),
]
SERIES_EVERY = [  # claims the paper makes of every configuration, step 0 included or not
    ("mesoscale variance above null at every checkpoint", "§3.2, Fig. S9",
     "above null at every configuration; OLMo step 0 32/32 layers, median z = 19.2 (partly architectural)",
     "frac_mesoscale_above_null", 0.5, True,
     "holds if at every checkpoint of the series at least half of the layers have z > 1.96"),
    ("complex-pair fraction at every trained checkpoint", "§2, Fig. 1, Fig. S1",
     "≈98% of eigenvalues in complex-conjugate pairs (every model and layer)", "frac_complex_robust", 0.90, False,
     "holds if the layer-mean robust complex-pair fraction is ≥ 0.90 at every checkpoint with step > 0"),
]


def _series_rows(ctx: Context, name: str, t: pd.DataFrame) -> list[dict]:
    order = t.drop_duplicates("run").sort_values("step")
    runs, steps = list(order["run"]), list(order["step"])
    last, null = runs[-1], ctx.null_of.get(runs[-1], "")
    label = f"series {name}: " + " → ".join(f"{r} ({s})" for r, s in zip(runs, steps))

    def values(q):
        v = t[t["quantity"] == q].set_index("run")["value"]
        return [float(v.get(r, np.nan)) for r in runs]

    out = []
    for finding, ref, paper, quantities, sign in SERIES_CLAIMS:
        word = "grows" if sign > 0 else "falls"
        rule = (f"holds if, over the declared training order, the Spearman ρ(step, value) is "
                f"{'positive' if sign > 0 else 'negative'} and the last checkpoint's value is "
                f"{'above' if sign > 0 else 'below'} the first's (it {word} with training)"
                + (" for each of " + ", ".join(quantities) if len(quantities) > 1 else ""))
        parts, ok, testable = [], True, True
        for q in quantities:
            v = values(q)
            if not np.all(np.isfinite(v)):
                testable = False
                parts.append(f"{q}: undefined at " + ", ".join(r for r, x in zip(runs, v) if not np.isfinite(x)))
                continue
            tr = trend(steps, v)
            fmt = "{:.0f}" if q == "n_fdr_sig" else "{:.3g}"
            rho = f"ρ = {tr['rho']:+.2f}" if np.isfinite(tr["rho"]) else "ρ undefined (constant)"
            parts.append(f"{q}: " + " → ".join(fmt.format(x) for x in v) + f"; {rho}"
                         + ("" if tr["monotone"] else " (not monotone)"))
            ok = ok and grows(tr, sign)
        res = NO_RESOLUTION
        if "erank_p0" in quantities:
            src = t.loc[t["quantity"] == "erank_p0", "source"]
            res = ("truncated SVD: erank capped at the kept rank" if src.str.contains("truncated").any()
                   else "exact product and full SVD (no rank cap)")
        out.append(_row(f"{finding} ({name})", ref, paper, last, f"{label}; " + "; ".join(parts),
                        _verdict(ok) if testable else NOT_TESTABLE, rule, res, null_run=null))
    for finding, ref, paper, q, threshold, with_step0, rule in SERIES_EVERY:
        v = values(q)
        keep = [(r, s, x) for r, s, x in zip(runs, steps, v) if with_step0 or s > 0]
        if not keep or not all(np.isfinite(x) for _, _, x in keep):
            out.append(_row(f"{finding} ({name})", ref, paper, last, f"{label}; {q} undefined", NOT_TESTABLE, rule,
                            null_run=null))
            continue
        measured = f"{label}; {q}: " + ", ".join(f"{x:.3g}" for _, _, x in keep)
        out.append(_row(f"{finding} ({name})", ref, paper, last, measured,
                        _verdict(all(x >= threshold for _, _, x in keep)), rule, null_run=null))
    return out


def coupling_trajectory(ctx: Context) -> list[dict]:
    """The paper's training claims over each declared checkpoint series (``checkpoint_series``);
    without one, the 0 → 14 → 24 row is not testable (null pairs carry no checkpoint order)."""
    series = ctx.table("checkpoint_series")
    if series is not None and len(series):
        return [r for name, t in series.groupby("series", sort=False) for r in _series_rows(ctx, name, t)]
    rule = "needs a declared checkpoint order (checkpoint_series) of ≥ 2 runs: FDR counts grow with training step"
    return [_row("coupling emerges monotonically over training", "§3.3, Fig. 7d", "OLMo 0 → 14 → 24 of 32 "
                 "(step 0, 471k, 1.41M); median d 0.007 → 0.124 → 0.248", run,
                 "the config declares null pairs (null_of) but no checkpoint_series; the null → trained endpoints "
                 "are in 'FDR-significant coupling layers'", NOT_TESTABLE, rule, null_run=ctx.null_of[run])
            for run in ctx.trained if run in ctx.null_of]


def median_d(ctx: Context) -> list[dict]:
    ref = "§3.3, Table 1"
    paper = "median d: OLMo 0.007 → 0.124 → 0.248; Llama +0.131"
    rule = "holds if the median over layers of Cohen's d is > 0 (and above its null's where one is declared)"
    out = []
    for run in ctx.trained:
        s = _summary(ctx, run)
        if s is None:
            out.append(_row("median Cohen's d positive", ref, paper, run, _missing("coupling_summary"),
                            NOT_TESTABLE, rule))
            continue
        d = float(s["median_cohens_d"].iloc[0])
        ok, measured, null = d > 0, f"{d:+.3f}", ctx.null_of.get(run, "")
        if null:
            sn = _summary(ctx, null)
            if sn is not None:
                dn = float(sn["median_cohens_d"].iloc[0])
                measured += f"; null {dn:+.3f}"
                ok = ok and d > dn
        out.append(_row("median Cohen's d positive", ref, paper, run, measured, _verdict(ok), rule, null_run=null))
    return out


def selfalign_sign(ctx: Context) -> list[dict]:
    ref = "§3.3, Fig. 8"
    paper = "Spearman ρ(self-alignment, d) > 0 (** p < 0.01 in the cross-model summary); d < 0 below ~0.1, > 0 above ~0.5"
    rule = "holds if ρ(self-alignment of J, Cohen's d) across layers is > 0 with permutation p < 0.05"
    out = []
    for run in ctx.trained:
        s = _summary(ctx, run)
        if s is None:
            out.append(_row("sign of d follows self-alignment", ref, paper, run, _missing("coupling_summary"),
                            NOT_TESTABLE, rule))
            continue
        rho, p = float(s["selfalign_d_spearman_rho"].iloc[0]), float(s["selfalign_d_p_perm"].iloc[0])
        if not np.isfinite(rho):
            out.append(_row("sign of d follows self-alignment", ref, paper, run, "ρ undefined (too few layers or "
                            "constant d)", NOT_TESTABLE, rule))
            continue
        out.append(_row("sign of d follows self-alignment", ref, paper, run, f"ρ = {rho:+.2f}, p = {p:.3g}",
                        _verdict(rho > 0 and p < 0.05), rule))
    return out


def rate_level_null(ctx: Context) -> list[dict]:
    ref = "App. D, Table 4"
    paper = "not robust: |Δσ_max(K)| ρ from −0.19 to +0.39 (Gemma p = 0.012), |Δ var| −0.36 (Llama p = 0.046) to +0.08"
    rule = "holds (no rate-level coupling) if neither |Δσ_max(K)| nor |Δ variance captured| has permutation p < 0.05"
    out = []
    for run in ctx.runs:
        r = _rows_of(ctx.table("rate_coupling"), run, method=ctx.method)
        if r is None:
            out.append(_row("rate-level coupling is null", ref, paper, run, _missing("rate_coupling"), NOT_TESTABLE,
                            rule))
            continue
        r = r.set_index("measure")
        parts, ok = [], True
        for measure, label in (("abs_delta_sigma_max", "|Δσ_max(K)|"), ("abs_delta_variance_captured", "|Δ var|")):
            if measure not in r.index:
                continue
            e = r.loc[measure]
            if not np.isfinite(e["p_perm"]):
                continue  # too few layer pairs for the permutation test
            parts.append(f"{label} ρ = {e['spearman_rho']:+.2f}, p = {e['p_perm']:.3g}, n = {int(e['n'])}")
            ok = ok and not (e["p_perm"] < 0.05)
        if not parts:
            out.append(_row("rate-level coupling is null", ref, paper, run, "no defined rate-level test (fewer than 4 layers)",
                            NOT_TESTABLE, rule))
            continue
        out.append(_row("rate-level coupling is null", ref, paper, run, "; ".join(parts), _verdict(ok), rule))
    return out


# ----------------------------------------------------------------- preamble and assembly
def model_health(ctx: Context) -> list[dict]:
    """Preamble: each run's corpus loss against ln(vocab), the uniform baseline (not a paper finding)."""
    rule = "trained run: loss below 0.9 ln(vocab), clearly under the uniform baseline; untrained run (a null or source: init): loss not below 0.9 ln(vocab) " \
           "(an untrained model predicts near uniformly)"
    h = ctx.table("model_health")
    out = []
    for run in ctx.runs:
        row = _rows_of(h, run)
        if row is None:
            out.append(_row("model health (preamble)", "— (sanity check)", "—", run,
                            "model_health.csv absent: the forward pass's loss is not known", NOT_TESTABLE, rule))
            continue
        loss, lnv = float(row["loss"].iloc[0]), float(row["ln_vocab"].iloc[0])
        ok = loss >= 0.9 * lnv if run in ctx.untrained else loss < 0.9 * lnv
        out.append(_row("model health (preamble)", "— (sanity check)", "—", run,
                        f"loss {loss:.3f} nats/token vs ln(vocab) {lnv:.3f} ({loss / lnv:.2f}×), "
                        f"{int(row['n_tokens'].iloc[0])} tokens", _verdict(ok), rule))
    return out


FINDINGS = (model_health, complex_pairs, selfalignment_and_henrici, r_selfalignment, forward_alignment, table2,
            erank_vs_null, schur_dose, control_a, mesoscale, coupling_counts, coupling_trajectory, median_d,
            selfalign_sign, rate_level_null)


def scorecard(tables: dict, runs, null_of: dict, protocol="single_token", method: str = "signed_cpm",
              column_norm: str = "mean_jacobian", untrained=()) -> pd.DataFrame:
    """All findings for one protocol. ``protocol`` is a label or {run: label}; ``untrained``
    lists runs without trained weights (source: init) besides the declared nulls."""
    ctx = Context(tables, runs, null_of, method, column_norm, untrained)
    rows = [r for finding in FINDINGS for r in finding(ctx)]
    df = pd.DataFrame(rows)
    df.insert(0, "protocol", df["run"].map(protocol) if isinstance(protocol, dict) else protocol)
    return df[COLUMNS]


def to_markdown(card: pd.DataFrame) -> str:
    counts = card["verdict"].value_counts()
    head = ("# Findings scorecard\n\nEach headline finding of the paper (arXiv:2605.14258), this run set's "
            "number and a verdict by the rule in the table. "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in (HOLDS, DIFFERS, NOT_RESOLVED, NOT_TESTABLE)) + ".\n\n")
    return head + card.to_markdown(index=False) + "\n"
