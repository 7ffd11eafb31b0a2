"""Figure 4 and S7: the cumulative bottleneck, drawn from the cumulative tables alone."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

POSITIONS = (("first", "$P_0$ (full product)", "tab:blue"), ("mid", "$P_{mid}$", "tab:orange"), ("last", "$P_{L-1}$ (one layer)", "tab:green"))


def _one_run(table: pd.DataFrame, run: str) -> pd.DataFrame:
    sub = table[table["run"] == run]
    if sub.empty:
        raise ValueError(f"no rows for run {run!r} (runs present: {sorted(table['run'].unique())})")
    return sub


def panel_erank(ax, per_layer: pd.DataFrame) -> None:
    """erank(P_l) (blue, left, log) and fraction of expanding eigenvalues of J_l (red dashed, right)."""
    sub = per_layer.sort_values("layer")
    ax.semilogy(sub["layer"], sub["erank"], "o-", color="tab:blue", ms=3)
    ax.set_xlabel("injection layer $\\ell$")
    ax.set_ylabel("erank($P_\\ell$)", color="tab:blue")
    right = ax.twinx()
    right.plot(sub["layer"], sub["frac_expanding"], "--", color="tab:red")
    right.axhline(0.5, color="tab:red", ls=":", lw=0.8)
    right.set_ylim(0, 1)
    right.set_ylabel("frac. $|\\lambda|>1$", color="tab:red")
    right.spines["right"].set_visible(True)


def panel_radius(ax, per_layer: pd.DataFrame, summary_row: pd.Series) -> None:
    """erank(P_l) against rho(J_l), coloured by layer, with Spearman rho and p."""
    sc = ax.scatter(per_layer["spectral_radius"], per_layer["erank"], c=per_layer["layer"], cmap="viridis", s=14)
    ax.set_yscale("log")
    ax.set_xlabel("spectral radius $\\rho(J_\\ell)$")
    ax.set_ylabel("erank($P_\\ell$)")
    ax.text(
        0.97, 0.95, f"$\\rho_s$ = {summary_row['spearman_rho']:.2f}\n$p$ = {summary_row['spearman_p']:.2g}",
        transform=ax.transAxes, ha="right", va="top", fontsize=8,
    )
    plt.colorbar(sc, ax=ax, label="layer", fraction=0.05)


def panel_spectra(ax, spectra: pd.DataFrame) -> None:
    """Singular values of P_0, P_mid, P_{L-1}, each relative to its largest."""
    for position, label, color in POSITIONS:
        sub = spectra[spectra["position"] == position].sort_values("index")
        if not sub.empty:
            ax.semilogy(sub["index"] + 1, sub["sigma_rel"], color=color, label=f"{label}, $\\ell$={sub['layer'].iloc[0]}")
    ax.set_xlabel("index $i$")
    ax.set_ylabel("$\\sigma_i / \\sigma_1$")
    ax.legend(frameon=False)


def panel_runs(ax, summary: pd.DataFrame) -> None:
    """erank of P_0, P_mid, P_{L-1} for every run (log axis in place of the paper's broken axis)."""
    x = np.arange(len(summary))
    width = 0.27
    for k, (position, label, color) in enumerate(POSITIONS):
        ax.bar(x + (k - 1) * width, summary[f"erank_{position}"], width, color=color, label=label)
    ax.set_yscale("log")
    ax.set_xticks(x, summary["run"], rotation=20, ha="right")
    ax.set_ylabel("effective rank")
    ax.legend(frameon=False)


def figure4(per_layer: pd.DataFrame, summary: pd.DataFrame, spectra: pd.DataFrame, run: str):
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6), constrained_layout=True)
    sub = _one_run(per_layer, run)
    panel_erank(axes[0], sub)
    panel_radius(axes[1], sub, _one_run(summary, run).iloc[0])
    panel_spectra(axes[2], _one_run(spectra, run))
    panel_runs(axes[3], summary)
    for ax, letter in zip(axes, "abcd"):
        ax.set_title(f"({letter})", loc="left")
    axes[0].set_title(f"cumulative Jacobian, {run}")
    return fig


def figure_s7(per_layer: pd.DataFrame, summary: pd.DataFrame, spectra: pd.DataFrame):
    runs = list(summary["run"])
    fig, axes = plt.subplots(len(runs), 3, figsize=(13, 3.1 * len(runs)), constrained_layout=True, squeeze=False)
    for row, run in zip(axes, runs):
        sub = _one_run(per_layer, run)
        panel_erank(row[0], sub)
        panel_radius(row[1], sub, _one_run(summary, run).iloc[0])
        panel_spectra(row[2], _one_run(spectra, run))
        row[0].set_title(run, loc="left")
    return fig
