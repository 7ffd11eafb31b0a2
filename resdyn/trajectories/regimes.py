"""Four regimes on the (level, variability) plane of the trajectory summaries, at fixed thresholds.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (four regimes;
thresholds defined here).

Thresholds are absolute values per (metric, normalisation), set in the config
(token_trajectories.regimes.thresholds), not quantiles of the panel itself: quantiles split
any panel into every regime whatever the models do, fixed values let a regime count be a
finding (a panel of identical trajectories is one regime). A trajectory is
  Chaotic      if variability > variability_high, else
  Underactive  if level <= level_low, else
  Adaptive     if level <= level_high, else
  Transition   (level above level_high, variability not above variability_high).

`sensitivity_table` recounts the regimes over the full grid of each threshold multiplied by
each of `factors` (a product scales a threshold about 0: the run's median for CLIPPED_MAD
scores, the neutral growth rate for raw ct_dynamical), per run and over the pooled panel.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

REGIMES = ("underactive", "adaptive", "transition", "chaotic")
THRESHOLDS = ("level_low", "level_high", "variability_high")
KEY = "token_trajectories.regimes.thresholds"
COLUMNS = ["run", "prompt", "category", "decoding", "metric", "normalisation", "level", "variability",
           "spike_rate", "regime", *THRESHOLDS]
SENSITIVITY_COLUMNS = ["metric", "normalisation", "run", *(f"{t}_factor" for t in THRESHOLDS), *THRESHOLDS,
                       "n_trajectories", *(f"n_{r}" for r in REGIMES), "n_regimes"]
POOLED = "all"  # the `run` of the sensitivity rows that pool every run


def classify(level, variability, level_low: float, level_high: float, variability_high: float) -> np.ndarray:
    level, variability = np.asarray(level), np.asarray(variability)
    return np.select([variability > variability_high, level <= level_low, level <= level_high],
                     ["chaotic", "underactive", "adaptive"], "transition")


def thresholds_of(thresholds: dict, metric: str, normalisation: str) -> tuple[float, float, float]:
    """(level_low, level_high, variability_high) of one (metric, normalisation); a missing one is named."""
    entry = thresholds.get(metric, {}).get(normalisation)
    if entry is None or any(name not in entry for name in THRESHOLDS):
        raise KeyError(f"{KEY}.{metric}.{normalisation} must set {', '.join(THRESHOLDS)} (got {entry!r})")
    return tuple(float(entry[name]) for name in THRESHOLDS)


def regime_table(summary: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """summary's trajectories with their regime and the thresholds it was read at (COLUMNS)."""
    parts = []
    for (metric, norm), g in summary.groupby(["metric", "normalisation"], sort=True):
        lo, hi, v_hi = thresholds_of(thresholds, metric, norm)
        g = g.assign(level_low=lo, level_high=hi, variability_high=v_hi)
        g["regime"] = classify(g["level"], g["variability"], lo, hi, v_hi)
        parts.append(g)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def sensitivity_table(summary: pd.DataFrame, thresholds: dict, factors) -> pd.DataFrame:
    """Regime counts (SENSITIVITY_COLUMNS) for every combination of the three thresholds times
    `factors`, per (metric, normalisation), for each run and pooled (run `all`); n_regimes is the
    number of regimes holding at least one trajectory."""
    factors = [float(f) for f in factors]
    rows = []
    for (metric, norm), g in summary.groupby(["metric", "normalisation"], sort=True):
        base = thresholds_of(thresholds, metric, norm)
        groups = [(POOLED, g), *g.groupby("run", sort=True)]
        for scale in itertools.product(factors, repeat=len(THRESHOLDS)):
            lo, hi, v_hi = (t * f for t, f in zip(base, scale))
            for run, sub in groups:
                counts = pd.Series(classify(sub["level"], sub["variability"], lo, hi, v_hi)).value_counts()
                n = {f"n_{r}": int(counts.get(r, 0)) for r in REGIMES}
                rows.append({"metric": metric, "normalisation": norm, "run": run,
                             **{f"{t}_factor": f for t, f in zip(THRESHOLDS, scale)},
                             "level_low": lo, "level_high": hi, "variability_high": v_hi,
                             "n_trajectories": len(sub), **n, "n_regimes": sum(v > 0 for v in n.values())})
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
