"""Rules for §2.2-2.3 and Appendix C: the cumulative bottleneck, its transport, Schur surgery."""
from __future__ import annotations

import numpy as np

from resdyn.findings import bands as bd
from resdyn.findings.context import REGIMES
from resdyn.findings.registry import rule
from resdyn.findings.verdicts import NO_RESOLUTION, Outcome, Untestable, all_of, answer, over_band


def _cumulative_resolution(row) -> str:
    if row.get("method") == "truncated":
        return f"truncated SVD at rank {int(row['kept_rank'])}: erank is capped at {int(row['kept_rank'])}"
    return "exact product and full SVD (no rank cap)"


@rule("funnel_vs_d")
def funnel_vs_d(ctx, claim, run):
    s = ctx.rows("cumulative_summary", run).iloc[0]
    first, last, d = float(s["erank_first"]), float(s["erank_last"]), float(s["d"])
    return Outcome(f"erank(P₀) = {first:.3g} = {first / d:.2%} of d = {d:.0f}; erank(P_L−1) = {last:.3g}",
                   first / d <= claim.params["max_fraction_of_d"], first < last, _cumulative_resolution(s))


@rule("erank_vs_null")
def erank_vs_null(ctx, claim, run):
    null = ctx.null(run)
    a, b = ctx.rows("cumulative_summary", run).iloc[0], ctx.rows("cumulative_summary", null).iloc[0]
    ea, eb = float(a["erank_first"]), float(b["erank_first"])
    res = f"trained: {_cumulative_resolution(a)}; null: {_cumulative_resolution(b)}"
    return Outcome(f"trained {ea:.3g} vs null {eb:.3g} ({eb / ea:.2g}× lower)", eb / ea >= claim.params["min_ratio"],
                   ea < eb, res, null_run=null)


@rule("erank_steepest_early")
def erank_steepest_early(ctx, claim, run):
    c = ctx.rows("cumulative", run).sort_values("layer")
    regime = ctx.rows("layer_spectra", run).set_index("layer")["regime"]
    log_erank = np.log(c["erank"].to_numpy(float))
    fall = log_erank[1:] - log_erank[:-1]  # injecting at ℓ instead of ℓ+1: how much ln erank drops
    layers = c["layer"].to_numpy()[:-1]
    by_regime = {r: float(np.mean(fall[regime.reindex(layers).to_numpy() == r])) for r in REGIMES}
    if not all(np.isfinite(v) for v in by_regime.values()):
        raise Untestable(f"run {run}: a regime without a layer pair ({by_regime})")
    overall = float(np.mean(fall))
    measured = ("mean fall of ln erank per layer " + " / ".join(f"{by_regime[r]:+.3f}" for r in REGIMES)
                + f" (early / mid / late), all layers {overall:+.3f}")
    strength = by_regime["early"] > max(by_regime["mid"], by_regime["late"])
    return Outcome(measured, strength, by_regime["early"] > overall)


@rule("transport_funnel")
def transport_funnel(ctx, claim, run):
    t = ctx.rows("cumulative_transport", run)
    protocols = list(dict.fromkeys(t["protocol"]))
    pick = "in_context" if "in_context" in protocols else protocols[0]
    parts, answers = [], None
    for protocol in [pick] + [p for p in protocols if p != pick]:
        u = t[t["protocol"] == protocol].sort_values("layer")
        first, last, d = u.iloc[0], u.iloc[-1], float(u["d"].iloc[0])
        e0, eL = float(first["erank_transport"]), float(last["erank_transport"])
        pm = float(first["erank_product_of_means"])
        parts.append(f"{protocol}: erank E[ΠJ] at layer 0 {e0:.3g} = {e0 / d:.2%} of d, at layer {int(last['layer'])} "
                     f"{eL:.3g}; Π E[J] {pm:.3g} (n = {int(first['n_samples'])})")
        if answers is None:
            answers = (e0 / d <= claim.params["max_fraction_of_d"], e0 < eL)
    return Outcome(f"decided on {pick}; " + "; ".join(parts), *answers)


# ----------------------------------------------------------------------- Schur surgery
def _table3(ctx, run):
    rows, method = bd.pick_method(ctx.rows("schur_table3", run))
    return rows.iloc[0], method


def _dose_rows(ctx, run, method, construction="dose", mode="J"):
    d = ctx.rows("schur_dose", run)
    if "method" in d:
        d = d[d["method"] == method]
    d = d[(d["construction"] == construction) & (d["mode"] == mode)]
    if d.empty:
        raise Untestable(f"no schur_dose rows for run {run}, {construction}, mode {mode}"
                         + (" (schur.draws = 0)" if construction != "dose" else ""))
    return d


def _dose_bands(dose):
    out = []
    for _, r in dose.sort_values("c").iterrows():
        lo, hi, _ = bd.band(r, "erank")
        out.append((lo, hi))
    return out


def _at(dose, c):
    return dose[np.isclose(dose["c"], c)]["erank"]


@rule("schur_dose")
def schur_dose(ctx, claim, run):
    r, method = _table3(ctx, run)
    lo, hi, res = bd.band(r, "ratio_c0_c1_j")
    c2lo, c2hi, res2 = bd.band(r, "erank_c2")
    c1 = float(r["erank_c1"])
    monotone = bd.falls_monotonically(_dose_bands(_dose_rows(ctx, run, method)))
    direction = all_of(over_band(lambda x: x > 1, lo, hi), over_band(lambda x: x < c1, c2lo, c2hi))
    strength = all_of(direction, over_band(lambda x: x >= claim.params["min_ratio"], lo, hi), monotone)
    measured = (f"{method}: c0/c1 = {bd.fmt(lo, hi)}; erank c0 {bd.fmt(*bd.band(r, 'erank_c0')[:2])}, c1 {c1:.3g}, "
                f"c2 {bd.fmt(c2lo, c2hi)}; falls at every dose: {answer(monotone)}")
    resolution = "; ".join(x for x in (res, res2) if x) or (
        "order-free (polar surgery)" if method == bd.ORDER_FREE else f"{NO_RESOLUTION} (one Schur eigenvalue order)")
    return Outcome(measured, strength, direction, resolution)


@rule("schur_null_flat")
def schur_null_flat(ctx, claim, run):
    trained = ctx.trained_run(run)
    r, method = _table3(ctx, run)
    bands = _dose_bands(_dose_rows(ctx, run, method))
    span_hi = max(b[1] for b in bands) / min(b[0] for b in bands)
    span_lo = max(1.0, max(b[0] for b in bands) / min(b[1] for b in bands))
    strength = over_band(lambda x: x <= claim.params["max_span"], span_lo, span_hi)
    null_ratio = bd.band(r, "ratio_c0_c1_j")[:2]
    rt, _ = _table3(ctx, trained)
    trained_ratio = bd.band(rt, "ratio_c0_c1_j")[:2]
    direction = bd.less(null_ratio, trained_ratio)
    measured = (f"{method}: null erank over doses spans {bd.fmt(span_lo, span_hi)}×; c0/c1 null {bd.fmt(*null_ratio)} "
                f"vs trained {trained} {bd.fmt(*trained_ratio)}")
    res = "; ".join(f"{who}: {x}" for who, x in (("null", bd.band(r, "ratio_c0_c1_j")[2]),
                                                 ("trained", bd.band(rt, "ratio_c0_c1_j")[2])) if x) or NO_RESOLUTION
    return Outcome(measured, all_of(direction, strength), direction, res, null_run=run)


def _control(ctx, run, construction):
    d = ctx.rows("schur_dose", run)
    method = bd.pick_method(d)[1] if "method" in d else None
    return _dose_rows(ctx, run, method, construction), _dose_rows(ctx, run, method), method


@rule("control_a")
def control_a(ctx, claim, run):
    a, dose, method = _control(ctx, run, "control_a")
    a1 = _at(a, 1)
    c0lo, c0hi = _dose_bands(dose[np.isclose(dose["c"], 0)])[0]
    c1 = float(_at(dose, 1).iloc[0])
    sd = a1.std(ddof=1) if len(a1) > 1 else 0.0
    measured = (f"c = 1: dose {c1:.3g} vs Control A {a1.mean():.3g} ± {sd:.2g} (n = {len(a1)}); "
                f"dose c = 0: {bd.fmt(c0lo, c0hi)}" + (f" ({method})" if method else ""))
    res = f"dose c = 0 over Schur orders: {bd.fmt(c0lo, c0hi)}" if c0lo != c0hi else NO_RESOLUTION
    return Outcome(measured, over_band(lambda x: a1.mean() > x, c0lo, c0hi), bool(a1.mean() > c1), res)


@rule("control_b")
def control_b(ctx, claim, run):
    b, dose, method = _control(ctx, run, "control_b")
    a, _, _ = _control(ctx, run, "control_a")
    b1, a1, c1 = float(_at(b, 1).mean()), float(_at(a, 1).mean()), float(_at(dose, 1).iloc[0])
    measured = f"c = 1: dose {c1:.3g}, Control B {b1:.3g}, Control A {a1:.3g} (means over draws)"
    return Outcome(measured, c1 < b1 < a1, b1 > c1)


@rule("mode_r")
def mode_r(ctx, claim, run):
    r, method = _table3(ctx, run)
    if "ratio_c0_c1_r" not in r or not np.isfinite(r["ratio_c0_c1_r"]):
        raise Untestable("no mode R surgery (schur.modes lacks R)")
    rlo, rhi, _ = bd.band(r, "ratio_c0_c1_r")
    jlo, jhi, _ = bd.band(r, "ratio_c0_c1_j")
    qlo, qhi = rlo / jhi, rhi / jlo
    a, b = claim.params["band"]
    direction = over_band(lambda x: x > 1, rlo, rhi)
    measured = f"{method}: c0/c1 R {bd.fmt(rlo, rhi)} vs J {bd.fmt(jlo, jhi)} (R/J {bd.fmt(qlo, qhi)})"
    return Outcome(measured, all_of(direction, bd.within(qlo, qhi, a, b)), direction)
