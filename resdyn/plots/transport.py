"""The bottleneck as the model transports: erank and norm of E[J_{L−1} ⋯ J_ℓ] beside E[J_{L−1}] ⋯ E[J_ℓ]."""
from __future__ import annotations

import pandas as pd

from resdyn.plots.common import plt

PROTOCOL_COLOURS = {"in_context": "tab:orange", "single_token": "tab:blue"}  # as the protocol comparison figure
PROTOCOL_LABELS = {"in_context": "in context", "single_token": "single token (analogue)"}
QUANTITIES = (("erank", "erank", True), ("log_norm", "$\\log_{10}\\|\\cdot\\|_F$", False))


def figure_transport(table: pd.DataFrame):
    """Per run of cumulative_transport.csv, two panels against the injection layer ℓ: erank and
    log10 Frobenius norm; solid = transport E[Π J], dashed = product of means Π E[J], colour = protocol."""
    runs = sorted(table["run"].unique())
    if not runs:
        raise ValueError("cumulative_transport table is empty")
    fig, axes = plt.subplots(len(runs), 2, figsize=(8, 3.0 * len(runs)), squeeze=False, constrained_layout=True)
    for row, run in zip(axes, runs):
        sub = table[table["run"] == run]
        for protocol, rows in sub.groupby("protocol", sort=True):
            rows = rows.sort_values("layer")
            colour, label = PROTOCOL_COLOURS.get(protocol, "0.3"), PROTOCOL_LABELS.get(protocol, protocol)
            for ax, (stem, _, _) in zip(row, QUANTITIES):
                ax.plot(rows["layer"], rows[f"{stem}_transport"], "o-", ms=3, color=colour,
                        label=f"{label}: E[$J_{{L-1}}\\cdots J_\\ell$]")
                ax.plot(rows["layer"], rows[f"{stem}_product_of_means"], "s--", ms=3, color=colour, alpha=0.7,
                        label=f"{label}: E[$J_{{L-1}}$]$\\cdots$E[$J_\\ell$]")
        n = int(sub["n_samples"].iloc[0])
        for ax, (_, name, log) in zip(row, QUANTITIES):
            if log:
                ax.set_yscale("log")
            ax.set_xlabel("injection layer $\\ell$")
            ax.set_title(f"{run}: {name} ({n} samples)")
        row[0].legend(frameon=False, fontsize=7)
    return fig
