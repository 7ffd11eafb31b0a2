"""The checkpoint-series figure: each headline finding against training step (Fig. 7d generalised).

One panel per group of quantities (``resdyn.findings.checkpoint_series.QUANTITIES``), one colour per
quantity and one line style per series; shaded where the table has a band over layers. The
x-axis is symlog, linear below the first non-zero step, so that step 0 sits on the axis
beside log-spaced checkpoints. Drawn from ``checkpoint_series.csv`` alone.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resdyn.findings.checkpoint_series import QUANTITIES

PANELS = {
    "coupling": "FDR-significant fraction of layers",
    "cohens_d": "median Cohen's d (boundary units)",
    "erank": "erank($P_0$), full product",
    "self_alignment": "J self-alignment by regime (Table 2)",
    "complex": "complex-pair fraction",
    "mesoscale": "mesoscale z (variance captured)",
}
STYLES = ["-", "--", ":", "-."]


def step_label(step: int) -> str:
    """143000 -> '143k', 1413814 -> '1.41M'."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if step >= scale:
            return f"{step / scale:.3g}{suffix}"
    return str(step)


def _step_axis(ax, steps: np.ndarray) -> None:
    """symlog (linear below the first non-zero step, so step 0 is on the axis), ticks at the steps."""
    steps = np.unique(steps.astype(int))
    positive = steps[steps > 0]
    linthresh = float(positive.min()) if positive.size else 1.0
    ax.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
    ax.set_xticks(steps, [step_label(int(s)) for s in steps], rotation=45 if steps.size > 5 else 0)
    ax.minorticks_off()
    ax.set_xlim(steps.min(), steps.max() * 1.15)  # symlog's margins would reach below step 0
    ax.set_xlabel("training step")


def figure_checkpoint_series(table: pd.DataFrame, null_runs=()) -> plt.Figure:
    """The figure from the long table (series, run, step, quantity, value, band_low, band_high)."""
    if table.empty:
        raise ValueError("checkpoint_series table is empty: no series declared or no rows gathered")
    panels = [p for p in PANELS if any(QUANTITIES.get(q, (None,))[0] == p for q in table["quantity"].unique())]
    ncols = 3
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    steps = table["step"].to_numpy(float)
    series = list(dict.fromkeys(table["series"]))
    for ax, panel in zip(axes.flat, panels):
        quantities = [q for q, (p, _) in QUANTITIES.items() if p == panel and q in set(table["quantity"])]
        for qi, quantity in enumerate(quantities):
            colour = f"C{qi}"
            for si, name in enumerate(series):
                sub = table[(table["series"] == name) & (table["quantity"] == quantity)].sort_values("step")
                if sub.empty:
                    continue
                label = QUANTITIES[quantity][1] + (f" ({name})" if len(series) > 1 else "")
                ax.plot(sub["step"], sub["value"], STYLES[si % len(STYLES)], color=colour, marker="o", ms=4,
                        label=label)
                band = sub[np.isfinite(sub["band_low"]) & np.isfinite(sub["band_high"])]
                if len(band):
                    ax.fill_between(band["step"], band["band_low"], band["band_high"], color=colour, alpha=0.15,
                                    lw=0)
                nulls = sub[sub["run"].isin(list(null_runs))]
                ax.plot(nulls["step"], nulls["value"], "o", mfc="white", mec="grey", ms=6, zorder=3)
        if panel == "erank":
            ax.set_yscale("log")
        if panel == "mesoscale":
            ax.axhline(1.96, color="grey", ls=":", lw=0.8)
        if panel in ("coupling", "complex"):
            ax.set_ylim(-0.03, 1.03)
        if panel == "cohens_d":
            ax.axhline(0, color="grey", lw=0.6)
        _step_axis(ax, steps)
        ax.set_title(PANELS[panel])
        if len(quantities) > 1 or len(series) > 1:
            ax.legend(frameon=False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Headline findings over training checkpoints (open grey: declared nulls; shaded: "
                 "layer q25–q75, complex pairs: layer min–max)", fontsize=9)
    fig.tight_layout()
    return fig
