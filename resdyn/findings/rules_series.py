"""Rules for the training claims over a declared checkpoint order (checkpoint_series.csv)."""
from __future__ import annotations

import numpy as np

from resdyn.findings.checkpoint_series import LAYER_RANGE, grows, trend
from resdyn.findings.registry import rule
from resdyn.findings.verdicts import NO_RESOLUTION, Outcome, Untestable


def series_order(ctx, name):
    t = ctx.table("checkpoint_series")
    t = t[t["series"] == name]
    order = t.drop_duplicates("run").sort_values("step")
    return t, list(order["run"]), list(order["step"])


def label(runs, steps) -> str:
    return " → ".join(f"{r} ({s})" for r, s in zip(runs, steps))


def _values(t, runs, quantity, column="value"):
    v = t[t["quantity"] == quantity].set_index("run")
    return [float(v[column].get(r, np.nan)) if r in v.index else np.nan for r in runs]


def _trend_rule(ctx, claim, name):
    t, runs, steps = series_order(ctx, name)
    sign = claim.params["sign"]
    parts, strength, direction = [], True, True
    for q in claim.params["quantities"]:
        v = _values(t, runs, q)
        if not np.all(np.isfinite(v)):
            raise Untestable(f"series {name}: {label(runs, steps)}; {q} undefined at "
                             + ", ".join(r for r, x in zip(runs, v) if not np.isfinite(x)))
        tr = trend(steps, v)
        fmt = "{:.0f}" if q == "n_fdr_sig" else "{:.3g}"
        rho = f"ρ = {tr['rho']:+.2f}" if np.isfinite(tr["rho"]) else "ρ undefined (constant)"
        every_step = bool(np.all(sign * np.diff(v) > 0))
        parts.append(f"{q}: " + " → ".join(fmt.format(x) for x in v) + f"; {rho}"
                     + ("" if every_step else " (not at every step)"))
        direction = direction and grows(tr, sign)
        strength = strength and every_step
    res = NO_RESOLUTION
    if "erank_p0" in claim.params["quantities"]:
        src = t.loc[t["quantity"] == "erank_p0", "source"]
        res = ("truncated SVD: erank capped at the kept rank" if src.str.contains("truncated").any()
               else "exact product and full SVD (no rank cap)")
    return Outcome(f"series {name}: {label(runs, steps)}; " + "; ".join(parts), strength and direction, direction,
                   res, null_run=ctx.null_of.get(runs[-1], ""))


for _id in ("series_coupling_emerges", "series_median_d", "series_erank_falls", "series_selfalignment_falls"):
    rule(_id)(_trend_rule)


def _every(ctx, claim, name):
    t, runs, steps = series_order(ctx, name)
    p = claim.params
    q = p["quantity"]
    keep = [(r, s) for r, s in zip(runs, steps) if p["with_step0"] or s > 0]
    v = dict(zip(runs, _values(t, runs, q)))
    rows = t[t["quantity"] == q].set_index("run")
    low = {r: float(rows.loc[r, "band_low"]) if r in rows.index and rows.loc[r, "band"] == LAYER_RANGE
           and np.isfinite(rows.loc[r, "band_low"]) else v[r] for r, _ in keep}
    if not keep or not all(np.isfinite(v[r]) for r, _ in keep):
        raise Untestable(f"series {name}: {label(runs, steps)}; {q} undefined")
    measured = f"series {name}: {label(runs, steps)}; {q}: " + ", ".join(f"{v[r]:.3g}" for r, _ in keep)
    if "every_layer" in p:
        direction = all(v[r] > p["majority"] for r, _ in keep)
        strength = all(low[r] >= p["every_layer"] for r, _ in keep)
        measured += "; lowest layer " + ", ".join(f"{low[r]:.3g}" for r, _ in keep)
    else:  # the step-0 checkpoint at every layer, the others at least the fraction
        direction = all(v[r] >= p["fraction"] for r, _ in keep)
        strength = all(v[r] >= 1.0 for r, s in keep if s == 0)
    return Outcome(measured, direction and strength, direction, null_run=ctx.null_of.get(runs[-1], ""))


for _id in ("series_mesoscale_every", "series_complex_every"):
    rule(_id)(_every)
