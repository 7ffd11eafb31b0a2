"""The two Jacobian protocols side by side: each per-layer quantity of protocol_comparison.csv against depth."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from resdyn.findings.protocol_comparison import QUANTITIES

LABELS = {
    "kappa_median": "median $\\kappa(J_\\ell)$",
    "self_alignment_J": "self-alignment of $\\bar J_\\ell$",
    "henrici_J": "Henrici departure of $\\bar J_\\ell$",
    "frac_complex": "fraction of complex eigenvalues",
    "frac_complex_robust": "fraction complex (robust)",
    "erank_P": "erank($P_\\ell$)",
    "cohens_d": "coupling Cohen's $d$",
}
LOG_SCALE = {"kappa_median", "erank_P"}  # span orders of magnitude across layers


def figure_protocol_comparison(table: pd.DataFrame, run: str):
    """One panel per quantity present for `run`: single-token (blue) and in-context (orange) against layer."""
    sub = table[table["run"] == run]
    if sub.empty:
        raise ValueError(f"no rows for run {run!r} (runs present: {sorted(table['run'].unique())})")
    quantities = [q for q in QUANTITIES if q in set(sub["quantity"])]
    fig, axes = plt.subplots(1, len(quantities), figsize=(3.0 * len(quantities), 2.9), constrained_layout=True,
                             squeeze=False)
    for ax, quantity in zip(axes[0], quantities):
        rows = sub[sub["quantity"] == quantity].sort_values("layer")
        ax.plot(rows["layer"], rows["single_token"], "o-", ms=3, color="tab:blue", label="single token")
        ax.plot(rows["layer"], rows["in_context"], "s--", ms=3, color="tab:orange", label="in context")
        if quantity in LOG_SCALE and (rows[["single_token", "in_context"]] > 0).all().all():
            ax.set_yscale("log")
        ax.set_title(LABELS.get(quantity, quantity))
        ax.set_xlabel("layer $\\ell$")
    axes[0][0].legend(frameon=False)
    fig.suptitle(f"{run}: single-token vs in-context Jacobians", fontsize=10)
    return fig
