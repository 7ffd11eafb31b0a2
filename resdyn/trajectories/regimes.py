"""Four regimes on the (level, variability) plane of the trajectory summaries.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (four regimes;
thresholds defined here).

Thresholds, per (metric, normalisation), pooled over every trajectory of the panel (all
runs, prompts, decodings): level_low, level_high = the level quantiles
`level_quantiles` (default terciles 1/3, 2/3), variability_high = the variability
quantile `variability_quantile` (default the upper quartile 0.75). A trajectory is
  Chaotic      if variability > variability_high, else
  Underactive  if level <= level_low, else
  Adaptive     if level <= level_high, else
  Transition   (level above the upper tercile, variability not in the top quartile).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

REGIMES = ("underactive", "adaptive", "transition", "chaotic")


def classify(level, variability, level_low: float, level_high: float, variability_high: float) -> np.ndarray:
    level, variability = np.asarray(level), np.asarray(variability)
    return np.select([variability > variability_high, level <= level_low, level <= level_high],
                     ["chaotic", "underactive", "adaptive"], "transition")


def regime_table(summary: pd.DataFrame, level_quantiles, variability_quantile: float) -> pd.DataFrame:
    lo_q, hi_q = level_quantiles
    parts = []
    for (metric, norm), g in summary.groupby(["metric", "normalisation"], sort=True):
        g = g.copy()
        lo, hi = np.quantile(g["level"], [lo_q, hi_q])
        v_hi = float(np.quantile(g["variability"], variability_quantile))
        g["level_low"], g["level_high"], g["variability_high"] = lo, hi, v_hi
        g["regime"] = classify(g["level"], g["variability"], lo, hi, v_hi)
        parts.append(g)
    cols = ["run", "prompt", "category", "decoding", "metric", "normalisation", "level", "variability",
            "spike_rate", "regime", "level_low", "level_high", "variability_high"]
    return pd.concat(parts, ignore_index=True)[cols]
