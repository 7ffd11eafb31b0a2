"""Figures 1–3, S1–S3 and S6: per-layer spectral geometry, from the layer table and eigenvalues."""
from __future__ import annotations

import numpy as np
import pandas as pd

from resdyn.plots.common import plt

REGIMES = ["early", "mid", "late"]


def five_depths(n_layers: int) -> list[int]:
    return sorted(set(np.linspace(0, n_layers - 1, 5).round().astype(int).tolist()))


def eigenvalue_figure(eigs: np.ndarray, run: str, bins: int = 60, robust: np.ndarray | None = None):
    """Fig. 1/S1: (a) complex-plane scatter at five depths; (b) log P(value | layer) of Re λ, Im λ, |λ|.

    `robust` (L, d; the eigenvalue file's robust_J): complex eigenvalues whose pair is not robust
    at the Jacobians' precision are drawn grey, and each panel names both complex fractions."""
    n_layers = eigs.shape[0]
    depths = five_depths(n_layers)
    fig = plt.figure(figsize=(3 * len(depths), 6.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    axes = top.subplots(1, len(depths))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    for ax, layer in zip(np.atleast_1d(axes), depths):
        e = eigs[layer]
        keep = np.ones(e.shape, bool) if robust is None else robust[layer] | (np.abs(e.imag) <= 1e-6)
        ax.scatter(e[keep].real, e[keep].imag, s=2, alpha=0.5)
        ax.scatter(e[~keep].real, e[~keep].imag, s=2, alpha=0.5, color="0.6")
        ax.plot(circle.real, circle.imag, "k--", lw=0.6)
        ax.set_aspect("equal")
        title = f"layer {layer}"
        if robust is not None:
            title += f"\ncomplex {np.mean(np.abs(e.imag) > 1e-6):.0%}, robust {robust[layer].mean():.0%}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("Re λ")
    np.atleast_1d(axes)[0].set_ylabel("Im λ")
    top.suptitle(f"(a) {run}: eigenvalues of the mean Jacobian" + ("" if robust is None else " (grey: complex at |Im λ| > 1e-6 but not robust)"))
    for ax, (label, values, ref) in zip(
        bottom.subplots(1, 3),
        [("Re λ", eigs.real, 1.0), ("Im λ", eigs.imag, 0.0), ("|λ|", np.abs(eigs), 1.0)],
    ):
        edges = np.linspace(values.min(), values.max() + 1e-12, bins + 1)
        density = np.array([np.histogram(v, edges)[0] / v.size for v in values])
        image = ax.imshow(
            np.log10(density.T + 1e-4), origin="lower", aspect="auto", cmap="magma",
            extent=(-0.5, n_layers - 0.5, edges[0], edges[-1]),
        )
        ax.axhline(ref, color="w", ls="--", lw=0.7)
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        fig.colorbar(image, ax=ax, label="log10 P(value | layer)")
    bottom.suptitle("(b) eigenvalue densities across depth")
    return fig


def _band(ax, table, name, color, label=None, log=False):
    ax.plot(table["layer"], table[f"{name}_median"], color=color, label=label)
    ax.fill_between(table["layer"], table[f"{name}_q25"], table[f"{name}_q75"], color=color, alpha=0.25)
    if log:
        ax.set_yscale("log")


def _rows(table: pd.DataFrame, n_cols: int, width: float = 3.0):
    runs = list(dict.fromkeys(table["run"]))
    fig, axes = plt.subplots(len(runs), n_cols, figsize=(width * n_cols, 2.4 * len(runs)), squeeze=False, layout="constrained")
    return fig, axes, [(run, table[table["run"] == run], axes[i]) for i, run in enumerate(runs)]


def profiles_figure(table: pd.DataFrame):
    """Fig. 2/S2: κ (median, IQR band), σ_max and σ_min, ‖J‖_F, fraction expanding, mean |λ| per layer."""
    fig, axes, rows = _rows(table, 5)
    for run, t, ax in rows:
        _band(ax[0], t, "kappa", "C0", log=True)
        ax[0].set_ylabel(f"{run}\nκ = σmax/σmin")
        _band(ax[1], t, "sigma_max", "C3", "σmax", log=True)
        _band(ax[1], t, "sigma_min", "C2", "σmin", log=True)
        ax[1].legend()
        _band(ax[2], t, "fro", "C4")
        ax[2].set_ylabel("‖J‖_F")
        ax[3].plot(t["layer"], t["frac_expanding"], "C1")
        ax[3].axhline(0.5, color="k", ls=":", lw=0.7)
        ax[3].set_ylabel("fraction |λ| > 1")
        ax[4].plot(t["layer"], t["mean_abs_eig"], "C5")
        ax[4].set_ylabel("mean |λ|")
    for ax in axes[-1]:
        ax.set_xlabel("layer")
    return fig


def nonnormality_figure(table: pd.DataFrame):
    """Fig. 3/S3: self-alignment of J and R (k/d baseline), residual norm ratio, Henrici departure."""
    fig, axes, rows = _rows(table, 3, width=3.4)
    for run, t, ax in rows:
        ax[0].plot(t["layer"], t["self_alignment_J"], color="C1", label="J")
        ax[0].plot(t["layer"], t["self_alignment_R"], color="C0", label="R = J − I")
        ax[0].axhline(t["random_alignment_baseline"].iloc[0], color="k", ls=":", lw=0.8, label="k/d")
        ax[0].set_ylabel(f"{run}\nself-alignment")
        ax[0].legend()
        ax[1].plot(t["layer"], t["residual_norm_ratio"], "C2")
        ax[1].set_ylabel("‖R‖_F / ‖J‖_F")
        ax[2].plot(t["layer"], t["henrici_J"], "C3")
        ax[2].set_ylabel("Henrici departure δ(J)")
    for ax in axes[-1]:
        ax.set_xlabel("layer")
    return fig


def forward_alignment_figure(table: pd.DataFrame):
    """Fig. S6: ‖U_ℓᵀ V_{ℓ+1}‖²_F / k for J and R, with the k/d baseline."""
    runs = list(dict.fromkeys(table["run"]))
    fig, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs), 2.8), squeeze=False, layout="constrained")
    for ax, run in zip(axes[0], runs):
        t = table[table["run"] == run]
        ax.plot(t["layer"], t["forward_alignment_J"], "C1", label="J")
        ax.plot(t["layer"], t["forward_alignment_R"], "C0", label="R")
        ax.axhline(t["random_alignment_baseline"].iloc[0], color="k", ls=":", lw=0.8, label="k/d")
        ax.set_title(run)
        ax.set_xlabel("layer ℓ")
    axes[0, 0].set_ylabel("forward alignment")
    axes[0, 0].legend()
    return fig


def regime_figure(means: pd.DataFrame, columns: dict[str, str], log_columns=()):
    """Regime means (early/mid/late) of each column across runs (Fig. 2d–f, 3d–g)."""
    runs = list(dict.fromkeys(means["run"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8), squeeze=False, layout="constrained")
    width = 0.8 / len(runs)
    for ax, (col, label) in zip(axes[0], columns.items()):
        for i, run in enumerate(runs):
            m = means[means["run"] == run].set_index("regime").reindex(REGIMES)
            ax.bar(np.arange(3) + i * width, m[col], width, label=run)
        ax.set_xticks(np.arange(3) + 0.4 - width / 2, REGIMES)
        ax.set_ylabel(label)
        if col in log_columns:
            ax.set_yscale("log")
    axes[0, 0].legend()
    return fig
