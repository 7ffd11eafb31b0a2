"""Figure 5 and S8: non-normality surgery dose response (polar or Schur), drawn from the schur_dose table alone."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

CONTROL_STYLE = {
    "dose": dict(color="tab:red", ls="-", label="trained dose"),
    "control_a": dict(color="tab:blue", ls="--", label="Control A (random, $\\|N\\|_F$-matched)"),
    "control_b": dict(color="tab:green", ls="--", label="Control B (Haar-random basis)"),
}


def _curve(dose: pd.DataFrame, run: str, mode: str, construction: str, column: str) -> pd.DataFrame:
    """Mean and std over draws of one column against c."""
    sub = dose[(dose["run"] == run) & (dose["mode"] == mode) & (dose["construction"] == construction)]
    return sub.groupby("c")[column].agg(["mean", "std"]).fillna(0.0).reset_index()


def _runs(dose: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(dose["run"]))


def _order_band(ax, dose: pd.DataFrame, run: str, color: str) -> None:
    """Schur surgery: shade erank's 5th-95th percentiles over the random Schur orders and dot their
    median (the canonical order is the line). Polar surgery has no order and no band."""
    if "erank_order_q05" not in dose:
        return
    sub = dose[(dose["run"] == run) & (dose["mode"] == "J") & (dose["construction"] == "dose")].sort_values("c")
    if sub["erank_order_q05"].notna().any():
        ax.fill_between(sub["c"], sub["erank_order_q05"], sub["erank_order_q95"], color=color, alpha=0.2, lw=0)
        ax.plot(sub["c"], sub["erank_order_median"], ls=":", color=color, lw=1)


def _method_title(dose: pd.DataFrame) -> str:
    methods = sorted(set(dose["method"])) if "method" in dose else ["schur"]
    names = {"polar": "polar surgery (no eigenvalue order)",
             "schur": "Schur surgery, canonical order (band: 5th–95th percentile of random orders, dotted: median)"}
    return "; ".join(names.get(m, m) for m in methods)


def figure5(dose: pd.DataFrame):
    """(a) erank, (b) log10 ||P||_F, (c) Henrici departure of P_{0:L-1} against c, mode J; under
    Schur surgery (canonical order) (a) shades erank's 5th-95th percentiles over random orders."""
    panels = (("erank", "erank($P_{0:L-1}$)", True), ("log10_fro", "$\\log_{10}\\|P_{0:L-1}\\|_F$", False), ("henrici", "Henrici departure of $P_{0:L-1}$", False))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for ax, (column, label, log) in zip(axes, panels):
        for k, run in enumerate(_runs(dose)):
            cur = _curve(dose, run, "J", "dose", column)
            ax.plot(cur["c"], cur["mean"], "o-", ms=3, label=run, color=f"C{k}")
            if column == "erank":
                _order_band(ax, dose, run, f"C{k}")
        if log:
            ax.set_yscale("log")
        ax.axvline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("dose $c$ (0 = normal, 1 = trained)")
        ax.set_ylabel(label)
    axes[0].legend(frameon=False)
    for ax, letter in zip(axes, "abc"):
        ax.set_title(f"({letter})", loc="left")
    fig.suptitle(_method_title(dose), fontsize=9)
    return fig


def figure_s8(dose: pd.DataFrame):
    """One panel per run: dose vs Controls A and B (mean +- std over draws), mode J;
    last panel: mode J (solid) vs mode R (dashed) dose curves for every run."""
    runs = _runs(dose)
    n = len(runs) + 1
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), constrained_layout=True, squeeze=False)
    axes = axes[0]
    for ax, run in zip(axes, runs):
        for construction, style in CONTROL_STYLE.items():
            cur = _curve(dose, run, "J", construction, "erank")
            if cur.empty:
                continue
            ax.plot(cur["c"], cur["mean"], marker="o", ms=3, **style)
            if construction == "dose":
                _order_band(ax, dose, run, style["color"])
            else:
                ax.fill_between(cur["c"], cur["mean"] - cur["std"], cur["mean"] + cur["std"], color=style["color"], alpha=0.2)
        ax.set_yscale("log")
        ax.set_title(run)
        ax.set_xlabel("dose $c$")
        ax.set_ylabel("erank($P_{0:L-1}$), mode J")
    axes[0].legend(frameon=False)
    last = axes[-1]
    for k, run in enumerate(runs):
        color = f"C{k}"
        for mode, ls in (("J", "-"), ("R", "--")):
            cur = _curve(dose, run, mode, "dose", "erank")
            if not cur.empty:
                last.plot(cur["c"], cur["mean"], ls=ls, color=color, label=f"{run} ({mode})")
    last.set_yscale("log")
    polar = "method" in dose and set(dose["method"]) == {"polar"}
    last.set_title("mode J vs mode R (polar: R_c = J_c − I)" if polar else "mode J vs mode R (= J in R's order)")
    last.set_xlabel("dose $c$")
    last.legend(frameon=False, fontsize=6)
    for ax, letter in zip(axes, "abcdefghijklmnop"):
        ax.set_title(f"({letter})", loc="left")
    fig.suptitle(_method_title(dose), fontsize=9)
    return fig
