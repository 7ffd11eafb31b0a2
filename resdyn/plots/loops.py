"""Figures of the loop study (Lyapunov Spectral Analysis of Loop Transformer Dynamics (anonymous, 2026)): each takes one combined loop_* table."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _panels(names, width=4.5, height=3.3):
    fig, axes = plt.subplots(1, len(names), figsize=(width * len(names), height), squeeze=False)
    return fig, dict(zip(names, axes[0]))


def spectrum_convergence(conv: pd.DataFrame, spectrum: pd.DataFrame, top: int = 5):
    """Fig. 1: running averages of the top exponents over loop steps, mean over prompts."""
    fig, axes = _panels(list(dict.fromkeys(conv["model"])))
    for model, ax in axes.items():
        g = conv[(conv["model"] == model) & (conv["index"] <= top)]
        curves = g.groupby(["index", "step"])["running_mean"].mean().unstack("step")
        for i, row in curves.iterrows():
            ax.plot(row.index, row.values, label=f"lambda{i}")
        s = spectrum[spectrum["model"] == model].groupby("index")["exponent"].mean()
        n_pos = int((s >= 0).sum())
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(f"{model}: top-{len(s)} in [{s.min():+.3f}, {s.max():+.3f}], {n_pos} >= 0", fontsize=9)
        ax.set_xlabel("loop step")
        ax.set_ylabel("running mean of exponent")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def state_change(conv: pd.DataFrame):
    """||z_{t+1} - z_t|| over loop steps: median over prompts, band min..max."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    first = conv[conv["index"] == 1]
    for model, g in first.groupby("model", sort=False):
        per = g.pivot_table(index="step", columns="sample", values="state_change")
        line = ax.plot(per.index, per.median(1), label=model)[0]
        ax.fill_between(per.index, per.min(1), per.max(1), color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("loop step t")
    ax.set_ylabel("||z_{t+1} - z_t||")
    ax.legend()
    fig.tight_layout()
    return fig


def attribution_bars(attr: pd.DataFrame, index: int = 1):
    """Fig. 2: each sublayer's contribution to lambda_index (bars) and the running sum through the loop (line)."""
    a = attr[attr["index"] == index]
    fig, axes = _panels(list(dict.fromkeys(a["model"])), width=5.5)
    for model, ax in axes.items():
        g = a[a["model"] == model]
        m = g.groupby(["order", "sublayer"], as_index=False)["contribution"].mean().sort_values("order")
        x = np.arange(len(m))
        ax.bar(x, m["contribution"], color=np.where(m["contribution"] >= 0, "tab:red", "tab:blue"))
        ax.plot(x, m["contribution"].cumsum(), color="k", marker=".", lw=1, label="running sum")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(x, m["sublayer"], rotation=90, fontsize=6)
        total = g.groupby("sample")["exponent"].first().mean()
        ax.set_title(f"{model}: lambda{index} = {total:+.4f}", fontsize=9)
        ax.set_ylabel("contribution per step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def directions_heatmap(dirs: pd.DataFrame):
    """Fig. 5a: mean contribution of each sublayer (rows) to each exponent (columns)."""
    fig, axes = _panels(list(dict.fromkeys(dirs["model"])), width=5.5, height=4.5)
    for model, ax in axes.items():
        g = dirs[dirs["model"] == model]
        m = g.groupby(["order", "sublayer", "index"])["contribution"].mean().unstack("index")
        lim = float(np.abs(m.values).max()) or 1.0
        im = ax.imshow(m.values, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_yticks(range(len(m)), [s for _, s in m.index], fontsize=6)
        ax.set_xlabel("exponent index")
        ax.set_title(model, fontsize=9)
        fig.colorbar(im, ax=ax, label="contribution")
    fig.tight_layout()
    return fig


def cosine_heatmap(cos: pd.DataFrame):
    """Fig. 4: cosine similarity of the last token's states after every sublayer of every loop."""
    fig, axes = _panels(list(dict.fromkeys(cos["model"])), width=5.0, height=4.3)
    for model, ax in axes.items():
        g = cos[cos["model"] == model]
        m = g.pivot_table(index=["loop_a", "order_a"], columns=["loop_b", "order_b"], values="cosine")
        im = ax.imshow(m.values, cmap="viridis", vmin=min(0.0, float(m.values.min())), vmax=1.0)
        per_loop = int(g["order_a"].max()) + 1
        ticks = np.arange(0, len(m), per_loop)
        ax.set_xticks(ticks, [f"loop {t // per_loop + 1}" for t in ticks], rotation=90, fontsize=6)
        ax.set_yticks(ticks, [f"loop {t // per_loop + 1}" for t in ticks], fontsize=6)
        ax.set_title(f"{model} ({per_loop} sublayers per loop)", fontsize=9)
        fig.colorbar(im, ax=ax, label="cosine")
    fig.tight_layout()
    return fig


def checkpoint_series(ck: pd.DataFrame):
    """Fig. 3: lambda_1 across the checkpoint series, mean +- sd over prompts; star: final."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    s = ck.groupby(["step", "checkpoint", "final"], as_index=False)["lambda1"].agg(["mean", "std"]).sort_values("step")
    s["std"] = s["std"].fillna(0.0)
    mid = s[~s["final"]]
    ax.errorbar(mid["step"], mid["mean"], yerr=mid["std"], marker="o", ls="-", label="intermediate")
    fin = s[s["final"]]
    ax.errorbar(fin["step"], fin["mean"], yerr=fin["std"], marker="*", ms=14, color="k", ls="none", label="final")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("lambda_1 (single probe)")
    # the loop paper compares the spread across checkpoints with the per-prompt spread
    ax.set_title(f"across-checkpoint sd {s['mean'].std(ddof=0):.4f}, mean per-prompt sd {s['std'].mean():.4f}",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
