"""Low-entropy collapse episodes and how often they end before the trajectory does.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (collapse exits).

An episode is a maximal run of >= min_length consecutive generated tokens with
H_t < entropy_threshold. It exits when a token with H_t >= threshold follows it within
the trajectory; one that lasts to token T is censored (not exited). The exit share is
exited / episodes, its interval a percentile bootstrap over trajectories (episodes of
one trajectory are resampled together), seeded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def episodes(entropy, threshold: float, min_length: int) -> list[tuple[int, int, bool]]:
    """[(start index, length, exited)] of one trajectory's entropies (in t order)."""
    low = np.asarray(entropy) < threshold
    out, start = [], None
    for i, flag in enumerate([*low, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= min_length:
                out.append((start, i - start, i < len(low)))
            start = None
    return out


def exit_share(exited: np.ndarray, counts: np.ndarray, n_boot: int, seed: int, alpha: float):
    """(share, low, high) from per-trajectory exited and episode counts.

    Percentile bootstrap of the ratio of sums, resampling trajectories; resamples without
    any episode have no ratio and are dropped (scipy.stats.bootstrap would turn the whole
    interval into NaN on them)."""
    if counts.sum() == 0:
        return np.nan, np.nan, np.nan
    share = float(exited.sum() / counts.sum())
    if len(counts) < 2:
        return share, np.nan, np.nan
    idx = np.random.default_rng(seed).integers(0, len(counts), size=(n_boot, len(counts)))
    e, c = exited[idx].sum(1), counts[idx].sum(1)
    lo, hi = np.quantile(e[c > 0] / c[c > 0], [alpha / 2, 1 - alpha / 2])
    return share, float(lo), float(hi)


def collapse_table(tokens: pd.DataFrame, threshold: float, min_length: int, n_boot: int, seed: int,
                   alpha: float) -> pd.DataFrame:
    per = []
    for (run, prompt, decoding), g in tokens.sort_values("t").groupby(["run", "prompt", "decoding"], sort=True):
        eps = episodes(g["entropy"].to_numpy(), threshold, min_length)
        per.append(dict(run=run, decoding=decoding, n_episodes=len(eps), n_exited=sum(e[2] for e in eps),
                        total_length=sum(e[1] for e in eps)))
    per = pd.DataFrame(per)
    rows = []
    for run in [*sorted(per["run"].unique()), "all"]:
        for decoding in [*sorted(per["decoding"].unique()), "all"]:
            g = per[((per["run"] == run) | (run == "all")) & ((per["decoding"] == decoding) | (decoding == "all"))]
            n_ep, n_ex = int(g["n_episodes"].sum()), int(g["n_exited"].sum())
            share, lo, hi = exit_share(g["n_exited"].to_numpy(float), g["n_episodes"].to_numpy(float), n_boot, seed,
                                       alpha)
            rows.append(dict(run=run, decoding=decoding, n_trajectories=len(g), n_episodes=n_ep, n_exited=n_ex,
                             n_censored=n_ep - n_ex, exit_share=share, ci_low=lo, ci_high=hi,
                             mean_length=g["total_length"].sum() / n_ep if n_ep else np.nan,
                             entropy_threshold=threshold, min_length=min_length, n_boot=n_boot, alpha=alpha))
    return pd.DataFrame(rows)
