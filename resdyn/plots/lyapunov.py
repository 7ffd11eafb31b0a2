"""Lyapunov figures: FTLE depth profiles, loop convergence, sublayer attribution,
attention-product spectra against temperature. Each takes a combined table."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _runs_axes(runs, width=4.0, height=3.0):
    fig, axes = plt.subplots(1, len(runs), figsize=(width * len(runs), height), squeeze=False)
    return fig, dict(zip(runs, axes[0]))


def ftle_profiles(profile: pd.DataFrame):
    """Per-layer log growth of the top tangent: mean over samples of the seed mean, with spread."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run, g in profile.groupby("run", sort=False):
        per_sample = g.groupby(["sample", "layer"])["log_growth"].mean().unstack("layer")
        mean, sd = per_sample.mean(0), per_sample.std(0, ddof=0)
        line = ax.plot(mean.index, mean.values, marker=".", label=f"{run} (lambda1 {mean.mean():+.3f})")[0]
        ax.fill_between(mean.index, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("layer")
    ax.set_ylabel("log growth per layer")
    ax.set_title("FTLE depth profiles (mean over samples; band: +-1 sd)")
    ax.legend()
    return fig


def loop_convergence(conv: pd.DataFrame, top: int = 5):
    """Running averages of the top exponents over loop steps (mean over samples)."""
    loop = conv[conv["mode"] == "loop"]
    fig, axes = _runs_axes(list(loop["run"].unique()))
    for run, ax in axes.items():
        g = loop[(loop["run"] == run) & (loop["index"] <= top)]
        curves = g.groupby(["index", "step"])["running_mean"].mean().unstack("step")
        for i, row in curves.iterrows():
            ax.plot(row.index, row.values, label=f"lambda{i}")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(f"{run}: iterated stack")
        ax.set_xlabel("loop step")
        ax.set_ylabel("running mean")
        ax.legend(fontsize=7)
    return fig


def attribution_bars(attr: pd.DataFrame, index: int = 1):
    """Contribution of each sublayer to lambda_index (mean over samples), depth and loop."""
    a = attr[attr["index"] == index]
    modes = list(a["mode"].unique())
    runs = list(a["run"].unique())
    fig, axes = plt.subplots(len(modes), len(runs), figsize=(5 * len(runs), 2.8 * len(modes)), squeeze=False)
    colors = {"attn": "tab:blue", "mlp": "tab:orange"}
    for r, mode in enumerate(modes):
        for c, run in enumerate(runs):
            ax = axes[r][c]
            g = a[(a["mode"] == mode) & (a["run"] == run)]
            m = g.groupby(["order", "sublayer", "kind"], as_index=False)["contribution"].mean().sort_values("order")
            ax.bar(np.arange(len(m)), m["contribution"], color=[colors.get(k, "tab:green") for k in m["kind"]])
            total = g.groupby("sample")["exponent"].first().mean()
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set_title(f"{run} {mode}: lambda{index} = {total:+.3f} (blue attn, orange mlp)")
            ax.set_xlabel("sublayer")
            ax.set_ylabel("contribution")
    fig.tight_layout()
    return fig


def attention_spectra(att: pd.DataFrame):
    """Lambda_2 of attention products against temperature, plain and residual."""
    first = att[att["run"] == att["run"].iloc[0]]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    rows = [("random", first)] + [(f"model {run}", g) for run, g in att[att["source"] == "model"].groupby("run")]
    for label, g in rows:
        src = g[g["source"] == ("random" if label == "random" else "model")]
        for form, ls in (("plain", "-"), ("residual", "--")):
            s = src[(src["form"] == form) & (src["index"] == 2)].sort_values("temperature")
            if len(s):
                axes[0].errorbar(s["temperature"], s["exponent"], yerr=s["exponent_std"], ls=ls, marker=".",
                                 label=f"{label} {form}")
                axes[1].plot(s["temperature"], s["depth_measured"], ls=ls, marker=".", label=f"{label} {form}")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("temperature")
    axes[0].set_ylabel("Lambda_2 (Lambda_1 = 0)")
    axes[0].legend(fontsize=6)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("temperature")
    axes[1].set_ylabel("measured collapse depth (-1: none)")
    fig.tight_layout()
    return fig
