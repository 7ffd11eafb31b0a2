"""Figures 7, 8 and S9: boundary-unit coupling, self-alignment vs Cohen's d, mesoscale bridge.

Everything is drawn from the combined tables (coupling, coupling_summary, mesoscale,
rate_coupling) and, for Figure 7a, the per-unit arrays saved by the coupling stage.
Tables are filtered to one community method (the primary one).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from resdyn.dynamics.spectra import regime_labels
from resdyn.plots.common import plt

REGIME_COLORS = {"early": "tab:blue", "mid": "tab:red", "late": "tab:green"}


def _run_colors(runs, null_runs):
    cmap = plt.get_cmap("tab10")
    trained = [r for r in runs if r not in null_runs]
    colors = {r: cmap(i % 10) for i, r in enumerate(trained)}
    colors.update({r: "0.55" for r in null_runs})
    return colors


def one_reading(coupling: pd.DataFrame, method: str, column_norm: str | None) -> pd.DataFrame:
    """Rows of one community method and one column-norm reading (the one the summary counts)."""
    c = coupling[coupling["method"] == method]
    if column_norm is not None and "column_norm" in c:
        c = c[c["column_norm"] == column_norm]
        if c.empty:
            raise ValueError(f"coupling table has no rows for column_norm {column_norm!r}")
    return c


def run_label(run: str, null_of: dict | None) -> str:
    """Legend label: a declared null says whose null it is."""
    for trained, null in (null_of or {}).items():
        if null == run:
            return f"{run} (null of {trained})"
    return run


def showcase_layer(n_layers: int) -> int:
    """The paper shows layer 17 of 32; the same depth fraction here."""
    return min(n_layers - 1, (17 * n_layers) // 32)


def fig7(coupling: pd.DataFrame, summary: pd.DataFrame, units: dict, runs, null_runs, method: str,
         null_of: dict | None = None, column_norm: str | None = None):
    c = one_reading(coupling, method, column_norm)
    s = summary[summary["method"] == method].set_index("run").reindex(runs)
    colors = _run_colors(runs, null_runs)
    trained = [r for r in runs if r not in null_runs] or list(runs)
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5))
    # (a) participation vs column norm at one layer of the last trained run
    ax = axes[0, 0]
    run_a = trained[0]
    u = units[run_a]
    n_layers = u["col_norm"].shape[0]
    la = showcase_layer(n_layers)
    part = u[f"participation_{method}"][la]
    ax.scatter(part, u["col_norm"][la], s=5, alpha=0.5, color=colors[run_a])
    row = c[(c["run"] == run_a) & (c["layer"] == la)]
    if len(row):
        ax.set_title(f"(a) {run_a}, layer {la}: d={row['cohens_d'].iat[0]:+.2f}, ρ={row['spearman_rho'].iat[0]:+.2f}")
    ax.set_xlabel("participation coefficient")
    ax.set_ylabel("Jacobian column norm ‖J[:, i]‖")
    # (b) Cohen's d by layer, (c) Spearman rho by layer
    for ax, col, title in ((axes[0, 1], "cohens_d", "(b) Cohen's d by layer"),
                           (axes[0, 2], "spearman_rho", "(c) Spearman ρ(participation, col norm)")):
        for r in runs:
            t = c[c["run"] == r].sort_values("layer")
            ax.plot(t["layer"], t[col], marker="o", ms=3, lw=1, color=colors[r], label=run_label(r, null_of),
                    ls="--" if r in null_runs else "-")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("layer")
        ax.set_title(title)
    axes[0, 1].set_ylabel("Cohen's d (top vs bottom 10 % participation)")
    axes[0, 1].legend(fontsize=7)
    # (d) trajectory over runs in config order: FDR-significant fraction and median d
    ax = axes[0, 3]
    x = np.arange(len(runs))
    ax.bar(x, s["frac_fdr_sig_pos"], color=[colors[r] for r in runs], alpha=0.7)
    ax.set_ylabel("fraction FDR-significant (+)")
    ax.set_xticks(x, runs, rotation=30, ha="right")
    ax2 = ax.twinx()
    ax2.plot(x, s["median_cohens_d"], "ko-")
    ax2.set_ylabel("median Cohen's d")
    ax.set_title("(d) FDR-significant fraction and median d")
    # (e), (f) per-run d with FDR-significant layers filled, for up to two trained runs
    for ax, r, tag in zip(axes[1, :2], (trained + trained)[:2], "ef"):
        t = c[c["run"] == r].sort_values("layer")
        sig = t["significant"].astype(bool)
        ax.plot(t["layer"], t["cohens_d"], "-", color=colors[r], lw=0.8)
        ax.scatter(t["layer"][sig], t["cohens_d"][sig], color=colors[r], s=25, label="FDR significant")
        ax.scatter(t["layer"][~sig], t["cohens_d"][~sig], facecolor="none", edgecolor=colors[r], s=25, label="n.s.")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"({tag}) {r}: {int(s.loc[r, 'n_fdr_sig_pos'])}+ / {int(s.loc[r, 'n_fdr_sig_neg'])}- of {len(t)}")
        ax.set_xlabel("layer")
        ax.set_ylabel("Cohen's d")
        ax.legend(fontsize=7)
    # (g) cross-model FDR-significant fractions
    ax = axes[1, 2]
    ax.bar(x - 0.2, s["frac_fdr_sig_pos"], 0.4, color=[colors[r] for r in runs], label="positive")
    ax.bar(x + 0.2, s["frac_fdr_sig_neg"], 0.4, color=[colors[r] for r in runs], hatch="//", alpha=0.5, label="negative")
    ax.set_xticks(x, runs, rotation=30, ha="right")
    ax.set_ylabel("fraction of layers FDR-significant")
    ax.set_title("(g) cross-model")
    ax.legend(fontsize=7)
    axes[1, 3].axis("off")
    fig.suptitle(f"Boundary-unit coupling ({method})")
    fig.tight_layout()
    return fig


def fig8(coupling: pd.DataFrame, summary: pd.DataFrame, runs, method: str, regime_bounds,
         column_norm: str | None = None, regime_layers: dict | None = None):
    """regime_layers: run -> its `regime_layers` (or None: the depth fractions regime_bounds)."""
    c = one_reading(coupling, method, column_norm)
    s = summary[summary["method"] == method].set_index("run").reindex(runs)
    n = len(runs) + 1
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.5 * ncol, 3.8 * nrow), squeeze=False)
    flat = axes.ravel()
    for ax, r, tag in zip(flat, runs, "abcdefghijklmnop"):
        t = c[c["run"] == r]
        reg = np.array(regime_labels(len(t), regime_bounds, (regime_layers or {}).get(r)))[t["layer"].to_numpy()]
        for name, color in REGIME_COLORS.items():
            sel = reg == name
            ax.scatter(t["self_alignment"][sel], t["cohens_d"][sel], color=color, s=18, label=name)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"({tag}) {r}: ρ={s.loc[r, 'selfalign_d_spearman_rho']:+.2f}, "
                     f"p={s.loc[r, 'selfalign_d_p_perm']:.3g}")
        ax.set_xlabel("self-alignment of J")
        ax.set_ylabel("Cohen's d")
    flat[0].legend(fontsize=7)
    ax = flat[len(runs)]
    rho = s["selfalign_d_spearman_rho"].to_numpy(float)
    ax.bar(np.arange(len(runs)), rho, color="0.4")
    for i, (v, p) in enumerate(zip(rho, s["selfalign_d_p_perm"])):
        if np.isfinite(v) and p < 0.01:
            ax.text(i, v, "**", ha="center", va="bottom" if v >= 0 else "top")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.arange(len(runs)), runs, rotation=30, ha="right")
    ax.set_ylabel("Spearman ρ(self-alignment, d)")
    ax.set_title(f"({'abcdefghijklmnop'[len(runs)]}) cross-model summary (** p < 0.01)")
    for ax in flat[len(runs) + 1:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def figS9(mesoscale: pd.DataFrame, rate: pd.DataFrame, runs, method: str):
    m = mesoscale[mesoscale["method"] == method]
    rt = rate[rate["method"] == method].set_index(["run", "measure"])
    fig, axes = plt.subplots(3, len(runs), figsize=(4.4 * len(runs), 11), squeeze=False, layout="constrained")
    for j, r in enumerate(runs):
        t = m[m["run"] == r].sort_values("layer")
        ax = axes[0, j]
        ax.fill_between(t["layer"], t["null_p05"], t["null_p95"], color="tab:blue", alpha=0.3, label="null 5–95 %")
        ax.plot(t["layer"], t["null_mean"], color="tab:blue", lw=0.8)
        ax.plot(t["layer"], t["variance_captured"], "o-", color="tab:red", ms=3, label="communities")
        ax.set_title(f"{r}: {int(t['above_null'].sum())}/{len(t)} layers z > 1.96")
        ax.set_xlabel("layer")
        ax.set_ylabel("variance captured by K")
        ax.legend(fontsize=7)
        pairs = t.dropna(subset=["disruption_next"])
        for ax, col, measure, label in (
            (axes[1, j], "delta_sigma_max_next", "delta_sigma_max", "Δσ_max(K)"),
            (axes[2, j], "delta_variance_next", "abs_delta_variance_captured", "|Δ variance captured|"),
        ):
            y = pairs[col].abs() if measure.startswith("abs") else pairs[col]
            sc = ax.scatter(pairs["disruption_next"], y, c=pairs["layer"], cmap="viridis", s=18)
            if (r, measure) in rt.index:
                e = rt.loc[(r, measure)]
                ax.set_title(f"ρ={e['spearman_rho']:+.2f}, p={e['p_perm']:.3g}, n={int(e['n'])}")
            ax.set_xlabel("topology disruption 1 − NMI")
            ax.set_ylabel(label)
        fig.colorbar(sc, ax=axes[1:, j].tolist(), shrink=0.6, label="layer")
    fig.suptitle(f"Mesoscale bridge diagnostic ({method})")
    return fig
