"""Rules for §3 and Appendix D: communities, mesoscale variance, boundary coupling, rate-level coupling."""
from __future__ import annotations

import numpy as np

from resdyn.core.linalg import spearman
from resdyn.findings.context import depth_trend
from resdyn.findings.registry import rule
from resdyn.findings.verdicts import Outcome, Untestable


@rule("communities_per_layer")
def communities_per_layer(ctx, claim, run):
    t = ctx.rows("communities", run, method=ctx.method)
    n, d = t["n_nondegenerate"].to_numpy(float), float(t["n_units"].iloc[0])
    lo, hi = claim.params["per_unit"]
    per_unit = n / d
    measured = (f"{int(n.min())}–{int(n.max())} non-degenerate communities per snapshot over {len(n)} snapshots "
                f"({per_unit.min():.2%}–{per_unit.max():.2%} of d = {d:.0f}; paper's range at this d: "
                f"{lo * d:.0f}–{hi * d:.0f})")
    return Outcome(measured, bool(np.all((per_unit >= lo) & (per_unit <= hi))),
                   bool(n.min() >= claim.params["min_count"]))


@rule("nmi_decays")
def nmi_decays(ctx, claim, run):
    t = ctx.rows("community_nmi", run, method=ctx.method)
    dist = (t["snapshot_b"] - t["snapshot_a"]).abs()
    if dist.nunique() < 3:
        raise Untestable(f"run {run}: fewer than 3 snapshot distances")
    rho, p = spearman(dist, t["nmi"])
    adjacent = t.loc[dist == 1, "nmi"]
    k = claim.params["boundary_distance"]
    typical = float(t.loc[dist == k, "nmi"].mean())
    worst = int(adjacent.idxmin())
    measured = (f"ρ(distance, NMI) = {rho:+.2f}, p = {p:.2g}; lowest adjacent NMI {adjacent.min():.3f} (snapshots "
                f"{int(t.loc[worst, 'snapshot_a'])}→{int(t.loc[worst, 'snapshot_b'])}) vs mean at distance {k} "
                f"{typical:.3f}")
    direction = bool(rho < 0)
    return Outcome(measured, direction and p < claim.params["p"] and adjacent.min() >= typical, direction)


def _mesoscale_numbers(ctx, run):
    s = ctx.summary(run)
    n, L, z = int(s["n_mesoscale_above_null"]), int(s["n_layers"]), float(s["median_mesoscale_z"])
    return n, L, z, f"{n}/{L} layers with z > 1.96, median z = {z:.3g}"


@rule("mesoscale")
def mesoscale(ctx, claim, run):
    n, L, z, measured = _mesoscale_numbers(ctx, run)
    p = claim.params
    return Outcome(measured, z > p["z"] and n >= p["fraction"] * L, z > 0)


@rule("mesoscale_step0")
def mesoscale_step0(ctx, claim, run):
    n, L, z, measured = _mesoscale_numbers(ctx, run)
    p = claim.params
    direction = z > p["z"] and n >= p["fraction"] * L
    return Outcome(measured, direction and n == L, direction, null_run=run)


@rule("mesoscale_rises")
def mesoscale_rises(ctx, claim, run):
    t = ctx.rows("mesoscale", run, method=ctx.method)
    rho, p = depth_trend(t, "variance_captured")
    if not np.isfinite(rho):
        raise Untestable(f"run {run}: variance captured is constant or has fewer than 3 layers")
    return Outcome(f"ρ(layer, variance captured) = {rho:+.2f}, p = {p:.2g}", rho > 0 and p < claim.params["p"],
                   rho > 0)


def _other_reading(ctx, run) -> str:
    try:
        c = ctx.rows("coupling", run, method=ctx.method)
    except Untestable:
        return ""
    if "column_norm" not in c:
        return ""
    parts = [f"{reading}: {int(g['significant_positive'].sum())}+/{int(g['significant_negative'].sum())}−, "
             f"median d {g['cohens_d'].median():+.3f}"
             for reading, g in c.groupby("column_norm") if reading != ctx.column_norm]
    return ("; other reading " + "; ".join(parts)) if parts else ""


@rule("coupling_counts")
def coupling_counts(ctx, claim, run):
    s = ctx.summary(run)
    pos, neg, L = int(s["n_fdr_sig_pos"]), int(s["n_fdr_sig_neg"]), int(s["n_layers"])
    measured = f"{pos}+/{neg}− of {L} ({s.get('column_norm', ctx.column_norm)})" + _other_reading(ctx, run)
    direction = pos > neg and pos >= 1
    strength = direction and pos / L >= claim.params["min_fraction"] and neg == 0
    null = ctx.null_of.get(run, "")
    if null:
        sn = ctx.summary(null)
        n_pos = int(sn["n_fdr_sig_pos"])
        measured += f"; null {n_pos}+/{int(sn['n_fdr_sig_neg'])}−"
        direction, strength = direction and pos > n_pos, strength and pos > n_pos
    return Outcome(measured, strength, direction, null_run=null)


@rule("coupling_null")
def coupling_null(ctx, claim, run):
    s = ctx.summary(run)
    n = int(s["n_fdr_sig_pos"]) + int(s["n_fdr_sig_neg"])
    trained = ctx.trained_run(run)
    st_ = ctx.summary(trained)
    n_trained = int(st_["n_fdr_sig_pos"]) + int(st_["n_fdr_sig_neg"])
    return Outcome(f"{n} of {int(s['n_layers'])} FDR-significant at the null; {n_trained} at {trained}",
                   n == 0, n < n_trained, null_run=run)


@rule("median_d")
def median_d(ctx, claim, run):
    d = float(ctx.summary(run)["median_cohens_d"])
    measured, null, above_null = f"{d:+.3f}", ctx.null_of.get(run, ""), True
    if null:
        dn = float(ctx.summary(null)["median_cohens_d"])
        measured += f"; null {dn:+.3f}"
        above_null = d > dn
    return Outcome(measured, d >= claim.params["min_d"] and above_null, d > 0 and above_null, null_run=null)


@rule("selfalign_sign")
def selfalign_sign(ctx, claim, run):
    s = ctx.summary(run)
    rho, p = float(s["selfalign_d_spearman_rho"]), float(s["selfalign_d_p_perm"])
    if not np.isfinite(rho):
        raise Untestable("ρ undefined (too few layers or constant d)")
    c = ctx.rows("coupling", run, method=ctx.method, column_norm=ctx.column_norm)
    pr = claim.params
    low = c.loc[c["self_alignment"] < pr["low"], "cohens_d"]
    high = c.loc[c["self_alignment"] > pr["high"], "cohens_d"]
    ends = (low.empty or low.median() < 0) and (high.empty or high.median() > 0)
    fmt = lambda x: f"{x.median():+.3f} (n = {len(x)})" if len(x) else "no layers"  # noqa: E731
    measured = (f"ρ = {rho:+.2f}, p = {p:.3g}; median d at self-alignment < {pr['low']}: {fmt(low)}, "
                f"> {pr['high']}: {fmt(high)}")
    return Outcome(measured, rho > 0 and p < pr["p"] and ends, rho > 0)


@rule("coupling_sign_by_depth")
def coupling_sign_by_depth(ctx, claim, run):
    c = ctx.rows("coupling", run, method=ctx.method, column_norm=ctx.column_norm).sort_values("layer")
    regime = ctx.rows("layer_spectra", run).set_index("layer")["regime"]
    reg = regime.reindex(c["layer"]).to_numpy()
    pos, neg = reg[c["significant_positive"].to_numpy(bool)], reg[c["significant_negative"].to_numpy(bool)]
    placed = (len(pos) + len(neg) > 0 and set(pos) <= {"mid", "late"} and set(neg) <= {"early", "mid"})
    rho, p = depth_trend(c, "cohens_d")
    count = lambda r: {k: int((r == k).sum()) for k in ("early", "mid", "late")}  # noqa: E731
    measured = (f"significant d > 0 by regime {count(pos)}, d < 0 {count(neg)}; ρ(layer, d) = {rho:+.2f}, "
                f"p = {p:.2g}")
    direction = bool(np.isfinite(rho) and rho > 0)
    return Outcome(measured, direction and placed, direction)


@rule("rate_level_not_robust")
def rate_level_not_robust(ctx, claim, run):
    r = ctx.rows("rate_coupling", run, method=ctx.method).set_index("measure")
    tests = []
    for measure, label in (("abs_delta_sigma_max", "|Δσ_max(K)|"), ("abs_delta_variance_captured", "|Δ var|")):
        if measure in r.index and np.isfinite(r.loc[measure, "p_perm"]):
            e = r.loc[measure]
            tests.append((label, float(e["spearman_rho"]), float(e["p_perm"]), int(e["n"])))
    if not tests:
        raise Untestable("no defined rate-level test (fewer than 4 layers)")
    pr = claim.params
    significant = [t for t in tests if t[2] < pr["p"]]
    strength = all(t[2] >= pr["p_strength"] for t in tests) and len(significant) <= 1
    robust = len(significant) == len(tests) == 2 and len({np.sign(t[1]) for t in significant}) == 1
    measured = "; ".join(f"{label} ρ = {rho:+.2f}, p = {p:.3g}, n = {n}" for label, rho, p, n in tests)
    return Outcome(measured, strength, not robust)
