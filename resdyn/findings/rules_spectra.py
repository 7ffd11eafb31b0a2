"""Rules for §2-2.1 of the paper: eigenvalues, κ regimes, non-normality, Table 2, forward alignment."""
from __future__ import annotations

import numpy as np

from resdyn.findings.context import depth_trend, fmt_regimes, regime_means
from resdyn.findings.registry import rule
from resdyn.findings.verdicts import NO_RESOLUTION, Outcome, all_of, exceeds, greater


@rule("model_health")
def model_health(ctx, claim, run):
    p = claim.params
    row = ctx.rows("model_health", run).iloc[0]
    loss, lnv = float(row["loss"]), float(row["ln_vocab"])
    f = loss / lnv
    if run in ctx.untrained:
        strength, direction = f >= p["untrained_strength"], f >= p["untrained_direction"]
    else:
        strength, direction = f < p["trained_strength"], f < p["trained_direction"]
    role = "untrained" if run in ctx.untrained else "trained"
    return Outcome(f"{role}: loss {loss:.3f} nats/token vs ln(vocab) {lnv:.3f} ({f:.2f}×), "
                   f"{int(row['n_tokens'])} tokens", strength, direction)


@rule("complex_pairs")
def complex_pairs(ctx, claim, run):
    t = ctx.rows("layer_spectra", run)
    robust = "frac_complex_robust" in t
    col = "frac_complex_robust" if robust else "frac_complex"
    low_layer = int(t.loc[t[col].idxmin(), "layer"])
    low, mean = float(t[col].min()), float(t[col].mean())
    measured = (f"decided on {col}: lowest layer {low:.3f} (layer {low_layer}), layer mean {mean:.3f}; "
                f"raw frac_complex lowest {t['frac_complex'].min():.3f}, mean {t['frac_complex'].mean():.3f}")
    res = NO_RESOLUTION
    if robust and "eig_cond_median" in t:
        res = (f"robust = pairs resolved beyond eigenvalue conditioning; eigenvalue condition number median "
               f"{t['eig_cond_median'].median():.3g}, max {t['eig_cond_max'].max():.3g}")
    return Outcome(measured, low >= claim.params["every_layer"], mean > claim.params["majority"], res)


def _kappa_regimes(t):
    """Regime means of the per-layer median κ, and whether each is only a lower bound (a layer
    with at least half of its samples censored at the Jacobians' resolution has a censored median)."""
    means = regime_means(t, "kappa_median")
    if "n_kappa_censored" in t:
        censored = t["n_kappa_censored"] >= t["n_samples"] / 2
    else:
        censored = np.zeros(len(t), bool)
    bound = {r: bool(censored[t["regime"] == r].any()) for r in means}
    layers = t.loc[censored, "layer"].astype(int).tolist()
    return means, bound, layers


@rule("kappa_u_shape")
def kappa_u_shape(ctx, claim, run):
    t = ctx.rows("layer_spectra", run)
    means, bound, layers = _kappa_regimes(t)
    lg = {r: np.log10(v) for r, v in means.items()}
    p = claim.params
    direction = all_of(greater(lg["early"], lg["mid"], bound["early"], bound["mid"]),
                       greater(lg["late"], lg["mid"], bound["late"], bound["mid"]))
    strength = all_of(direction,
                      exceeds(lg["early"] - lg["mid"], p["log10_early_over_mid"], bound["early"], bound["mid"]),
                      exceeds(lg["late"] - lg["mid"], p["log10_late_over_mid"], bound["late"], bound["mid"]))
    marks = {r: "≥ " if bound[r] else "" for r in means}
    measured = ("κ regime means " + " / ".join(f"{marks[r]}{means[r]:.3g}" for r in means)
                + f" (early / mid / late); log10 early/mid {lg['early'] - lg['mid']:+.2f}, "
                f"late/mid {lg['late'] - lg['mid']:+.2f}")
    n_cens = int(t["n_kappa_censored"].sum()) if "n_kappa_censored" in t else None
    total = int(t["n_samples"].sum())
    res = (f"κ censored (a lower bound at the Jacobians' precision) in {n_cens} of {total} sample-layers; "
           f"median censored at layers {layers or 'none'}" if n_cens is not None else NO_RESOLUTION)
    return Outcome(measured, strength, direction, res)


@rule("expanding_fraction_mid")
def expanding_fraction_mid(ctx, claim, run):
    t = ctx.rows("layer_spectra", run)
    m = regime_means(t, "frac_expanding")
    lo, hi = claim.params["mid_band"]
    direction = m["mid"] < m["early"]
    return Outcome(f"fraction of |λ| > 1: {fmt_regimes(m)}", direction and lo <= m["mid"] <= hi, direction)


@rule("mean_abs_eig_regimes")
def mean_abs_eig_regimes(ctx, claim, run):
    m = regime_means(ctx.rows("layer_spectra", run), "mean_abs_eig")
    direction = m["mid"] < m["early"]
    return Outcome(f"mean |λ|: {fmt_regimes(m, '.4f')}", direction and m["mid"] < m["late"], direction)


@rule("participation_ratio_range")
def participation_ratio_range(ctx, claim, run):
    t = ctx.rows("layer_spectra", run)
    pr, d = t["pr_median"].to_numpy(float), float(t["d"].iloc[0])
    span = pr.max() / pr.min()
    p = claim.params
    lo, hi = p["paper_range"]
    measured = (f"median PR per layer {pr.min():.3g}–{pr.max():.3g} ({pr.min() / d:.2%}–{pr.max() / d:.1%} of d = "
                f"{d:.0f}), span {span:.3g}× (paper {lo}–{hi} of {p['paper_d']}: {hi / lo:.0f}×)")
    return Outcome(measured, span >= p["span_strength"], span >= p["span_direction"])


def _trend(ctx, claim, run, column, sign):
    """A depth trend: regime means move in the claim's sign (direction); Spearman significant in that
    sign and the early-late change at least the claim's size (strength)."""
    t = ctx.rows("layer_spectra", run)
    m = regime_means(t, column)
    rho, pv = depth_trend(t, column)
    change = sign * (m["late"] - m["early"])
    size = claim.params.get("min_rise", claim.params.get("min_fall"))
    direction = change > 0
    strength = direction and np.isfinite(rho) and sign * rho > 0 and pv < claim.params["p"] and change >= size
    return Outcome(f"{column}: {fmt_regimes(m)}; change {sign * change:+.3f}; ρ(layer) = {rho:+.2f}, p = {pv:.2g}",
                   strength, direction)


@rule("selfalignment_rises")
def selfalignment_rises(ctx, claim, run):
    return _trend(ctx, claim, run, "self_alignment_J", +1)


@rule("henrici_falls")
def henrici_falls(ctx, claim, run):
    return _trend(ctx, claim, run, "henrici_J", -1)


@rule("residual_ratio_falls")
def residual_ratio_falls(ctx, claim, run):
    return _trend(ctx, claim, run, "residual_norm_ratio", -1)


@rule("r_selfalignment")
def r_selfalignment(ctx, claim, run):
    t = ctx.rows("layer_spectra", run)
    top, med = float(t["self_alignment_R"].max()), float(t["self_alignment_R"].median())
    layer = int(t.loc[t["self_alignment_R"].idxmax(), "layer"])
    c = claim.params["ceiling"]
    return Outcome(f"max {top:.3f} (layer {layer}), median {med:.3f}", top < c, med < c)


def _table2(ctx, run):
    r = ctx.rows("table2_self_alignment", run).iloc[0]
    return {k: float(r[k]) for k in ("early", "mid", "late")}


@rule("step0_near_symmetric")
def step0_near_symmetric(ctx, claim, run):
    m = _table2(ctx, run)
    low = min(m["mid"], m["late"])
    return Outcome(f"J self-alignment {fmt_regimes(m)}", low >= claim.params["strength"],
                   low >= claim.params["direction"])


@rule("table2_order")
def table2_order(ctx, claim, run):
    m = _table2(ctx, run)
    return Outcome(fmt_regimes(m), m["early"] < m["mid"] < m["late"], m["early"] < m["late"])


@rule("training_lowers_early_mid")
def training_lowers_early_mid(ctx, claim, run):
    null = ctx.null(run)
    a, b = _table2(ctx, run), _table2(ctx, null)
    drops = {k: b[k] - a[k] for k in ("early", "mid")}
    measured = "null → trained: " + ", ".join(f"{k} {b[k]:.3f} → {a[k]:.3f}" for k in ("early", "mid", "late"))
    return Outcome(measured, min(drops.values()) >= claim.params["min_drop"], min(drops.values()) > 0,
                   null_run=null)


@rule("late_ceiling_kept")
def late_ceiling_kept(ctx, claim, run):
    null = ctx.null(run)
    a, b = _table2(ctx, run), _table2(ctx, null)
    kept = a["late"] / b["late"]
    direction = (b["late"] - a["late"]) < (b["mid"] - a["mid"])
    measured = (f"late {b['late']:.3f} → {a['late']:.3f} ({kept:.2f} of the null's), "
                f"fall {b['late'] - a['late']:+.3f} "
                f"vs mid fall {b['mid'] - a['mid']:+.3f}")
    return Outcome(measured, direction and kept >= claim.params["min_kept"], direction, null_run=null)


@rule("forward_alignment")
def forward_alignment(ctx, claim, run):
    t = ctx.rows("layer_spectra", run)
    fa = float(t["forward_alignment_J"].mean())  # NaN on the last layer is skipped
    base = float(t["random_alignment_baseline"].iloc[0])
    return Outcome(f"{fa:.4f} = {fa / base:.2f}× k/d ({base:.4f})", fa / base <= claim.params["max_ratio"],
                   fa < claim.params["small"])
