"""Variance decomposition of trajectory summaries into model, prompt category and residual.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (variance
decomposition).

Two-way additive ANOVA (statsmodels OLS y ~ C(run) + C(category), type II sums of
squares); share = SS_factor / SS_total with SS_total = sum (y - mean y)^2. With every
model decoding every prompt the design is balanced and the shares add up to 1; the
residual holds the prompt-within-category, interaction and (for decoding `all`)
decoding variance. A factor with one level (a one-model panel) has SS 0 and df 0; a
saturated fit (no residual df) gets its type II SS from nested OLS fits and no F test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FACTORS = {"model": "run", "category": "category"}
SUMMARIES = ("level", "variability", "spike_rate")


def decompose(frame: pd.DataFrame, response: str) -> pd.DataFrame:
    """Rows factor (model, category, residual): df, sum_sq, share, f_value, p_value."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    y = frame[response].astype(float)
    ss_total = float(((y - y.mean()) ** 2).sum())
    terms = {name: col for name, col in FACTORS.items() if frame[col].nunique() > 1}
    data = frame.assign(y=y)
    formula = "y ~ " + (" + ".join(f"C({col})" for col in terms.values()) or "1")
    fit = smf.ols(formula, data=data).fit()
    rows = []
    if terms and fit.df_resid > 0:
        table = anova_lm(fit, typ=2)
    elif terms:  # saturated (no residual df, a tiny panel): type II SS from nested fits, no F test
        table = {}
        for col in terms.values():
            others = " + ".join(f"C({c})" for c in terms.values() if c != col) or "1"
            reduced = smf.ols(f"y ~ {others}", data=data).fit()
            table[f"C({col})"] = dict(df=reduced.df_resid - fit.df_resid, sum_sq=reduced.ssr - fit.ssr,
                                      F=np.nan, **{"PR(>F)": np.nan})
        table = pd.DataFrame(table).T
    for name, col in FACTORS.items():
        if name in terms:
            r = table.loc[f"C({col})"]
            rows.append(dict(factor=name, df=float(r["df"]), sum_sq=float(r["sum_sq"]), f_value=float(r["F"]),
                             p_value=float(r["PR(>F)"])))
        else:
            rows.append(dict(factor=name, df=0.0, sum_sq=0.0, f_value=np.nan, p_value=np.nan))
    rows.append(dict(factor="residual", df=float(fit.df_resid), sum_sq=float(fit.ssr), f_value=np.nan, p_value=np.nan))
    out = pd.DataFrame(rows)
    out["share"] = out["sum_sq"] / ss_total if ss_total > 0 else np.nan
    out["ss_total"] = ss_total
    out["n_trajectories"] = len(frame)
    return out


def variance_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Every (metric, normalisation, summary statistic) per decoding and with both pooled."""
    parts = []
    for (metric, norm), g in summary.groupby(["metric", "normalisation"], sort=True):
        for decoding in [*sorted(g["decoding"].unique()), "all"]:
            sub = g if decoding == "all" else g[g["decoding"] == decoding]
            for stat in SUMMARIES:
                d = decompose(sub, stat)
                d.insert(0, "decoding", decoding)
                d.insert(0, "summary", stat)
                d.insert(0, "normalisation", norm)
                d.insert(0, "metric", metric)
                parts.append(d)
    out = pd.concat(parts, ignore_index=True)
    out["ss_type"] = "II"
    return out
