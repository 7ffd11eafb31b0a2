"""RAW and CLIPPED_MAD scores of the per-token metrics, and per-trajectory summaries.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (RAW and CLIPPED_MAD).

CLIPPED_MAD: z = (x - median) / (1.4826 MAD), median and MAD over one model's pooled
tokens (all its prompts and decodings), then clipped to [-c, c]. 1.4826 MAD estimates
the standard deviation of a normal sample. A trajectory is one (run, prompt, decoding).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("ct_dynamical", "ct_kinematic")
NORMALISATIONS = ("raw", "clipped_mad")
TRAJECTORY = ["run", "prompt", "category", "decoding"]
MAD_SCALE = 1.4826


def clipped_mad(x, clip: float, where: str = "") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    if not mad > 0:
        raise ValueError(f"{where}MAD is 0 (over half the values equal the median): CLIPPED_MAD is undefined")
    return np.clip((x - med) / (MAD_SCALE * mad), -clip, clip)


def add_scores(tokens: pd.DataFrame, clip: float) -> pd.DataFrame:
    """tokens with z_<metric> columns (CLIPPED_MAD over each run's pooled tokens)."""
    out = tokens.copy()
    for metric in METRICS:
        out[f"z_{metric}"] = np.nan
        for run, idx in out.groupby("run").groups.items():
            out.loc[idx, f"z_{metric}"] = clipped_mad(out.loc[idx, metric], clip, f"run {run} {metric}: ")
    return out


def iqr(x) -> float:
    q75, q25 = np.percentile(x, [75, 25])
    return float(q75 - q25)


def summaries(scored: pd.DataFrame, spike: float) -> pd.DataFrame:
    """One row per (trajectory, metric, normalisation): level (median), variability (IQR)
    and spike rate (share of tokens with |z| > spike, the same under both normalisations)."""
    rows = []
    for key, g in scored.groupby(TRAJECTORY, sort=True):
        for metric in METRICS:
            z = g[f"z_{metric}"].to_numpy()
            for norm in NORMALISATIONS:
                x = g[metric].to_numpy() if norm == "raw" else z
                rows.append(dict(zip(TRAJECTORY, key), metric=metric, normalisation=norm, n_tokens=len(g),
                                 level=float(np.median(x)), variability=iqr(x),
                                 spike_rate=float(np.mean(np.abs(z) > spike)),
                                 mean_entropy=float(g["entropy"].mean()), repeat_rate=float(g["repeat"].mean())))
    return pd.DataFrame(rows)
