"""Token-trajectory figures: the regime phase map and ct_t traces with entropy beneath."""
from __future__ import annotations

import pandas as pd

from resdyn.plots.common import plt

REGIME_COLOURS = {"underactive": "#4c72b0", "adaptive": "#55a868", "transition": "#dd8452", "chaotic": "#c44e52"}
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def phase_map(regimes: pd.DataFrame):
    """(level, variability) of every trajectory, one panel per (metric, normalisation), the
    thresholds drawn; colour = regime, marker = run, filled = greedy, open = sampled."""
    panels = regimes.groupby(["metric", "normalisation"], sort=True)
    fig, axes = plt.subplots(2, 2, figsize=(9, 7.5), squeeze=False)
    runs = sorted(regimes["run"].unique())
    for ax, ((metric, norm), g) in zip(axes.ravel(), panels):
        for i, run in enumerate(runs):
            for decoding, fill in (("greedy", True), ("sampled", False)):
                s = g[(g["run"] == run) & (g["decoding"] == decoding)]
                colours = [REGIME_COLOURS[r] for r in s["regime"]]
                ax.scatter(s["level"], s["variability"], marker=MARKERS[i % len(MARKERS)], s=30,
                           c=colours if fill else "none", edgecolors=colours, linewidths=1)
        lo, hi, vh = g[["level_low", "level_high", "variability_high"]].iloc[0]
        for x in (lo, hi):
            ax.axvline(x, color="0.5", lw=0.8, ls="--")
        ax.axhline(vh, color="0.5", lw=0.8, ls="--")
        ax.set_xlabel(f"level (median {metric}, {norm})")
        ax.set_ylabel("variability (IQR)")
        ax.set_title(f"{metric}, {norm.upper()}")
    for i, run in enumerate(runs):  # grey proxies: marker = run, filled = greedy
        for decoding, fill in (("greedy", "0.4"), ("sampled", "none")):
            axes[0, 0].scatter([], [], marker=MARKERS[i % len(MARKERS)], c=fill, edgecolors="0.4",
                               label=f"{run} ({decoding})")
    for colour_name, colour in REGIME_COLOURS.items():
        axes[0, 0].scatter([], [], color=colour, label=colour_name)
    axes[0, 0].legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def traces(tokens: pd.DataFrame):
    """ct_dynamical along t (top) and H_t (bottom) per run: the first prompt of each category,
    greedy solid, sampled dashed."""
    runs = sorted(tokens["run"].unique())
    fig, axes = plt.subplots(2, len(runs), figsize=(4.5 * len(runs), 5), sharex=True, squeeze=False)
    firsts = tokens.groupby("category")["prompt"].min()
    colours = dict(zip(sorted(firsts.index), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for j, run in enumerate(runs):
        for category, prompt in firsts.items():
            for decoding, ls in (("greedy", "-"), ("sampled", "--")):
                s = tokens[(tokens["run"] == run) & (tokens["prompt"] == prompt) & (tokens["decoding"] == decoding)]
                s = s.sort_values("t")
                kw = dict(color=colours[category], ls=ls, lw=1)
                axes[0, j].plot(s["t"], s["ct_dynamical"], label=f"{category} ({decoding})", **kw)
                axes[1, j].plot(s["t"], s["entropy"], **kw)
        axes[0, j].set_title(run)
        axes[0, j].set_ylabel(r"ct$_t$ dynamical ($\lambda_1$ through depth)")
        axes[1, j].set_ylabel(r"$H_t$ (nats)")
        axes[1, j].set_xlabel("generated token t")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig
