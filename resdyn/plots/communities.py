"""Figure 6: correlation matrix in unit order and sorted by community, and the NMI matrix."""
from __future__ import annotations

import numpy as np

from resdyn.plots.common import plt


def community_order(membership) -> np.ndarray:
    """Unit order grouping communities (largest first), units ascending within each."""
    m = np.asarray(membership)
    return np.lexsort((np.arange(len(m)), m))


def fig6(panels: list[dict]):
    """One row per run: ``panels`` items have run, corr (d, d), snapshot, membership (d,)
    of that snapshot, nmi (S, S) and method."""
    fig, axes = plt.subplots(len(panels), 3, figsize=(13, 4.2 * len(panels)), squeeze=False, layout="constrained")
    for row, p in zip(axes, panels):
        corr = np.asarray(p["corr"], dtype=np.float32)
        layer, site = p["snapshot"] // 2, ("pre-attn", "pre-MLP")[p["snapshot"] % 2]
        kw = dict(cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        row[0].imshow(corr, **kw)
        row[0].set_title(f"(a) {p['run']}\ncorrelation, layer {layer} {site}, unit order")
        order = community_order(p["membership"])
        im = row[1].imshow(corr[np.ix_(order, order)], **kw)
        sizes = np.bincount(np.asarray(p["membership"]))
        for edge in np.cumsum(sizes[sizes >= 2])[:-1]:
            row[1].axhline(edge - 0.5, color="k", lw=0.2)
            row[1].axvline(edge - 0.5, color="k", lw=0.2)
        row[1].set_title(f"(b) sorted by {p['method']} communities\n({int((sizes >= 2).sum())} of size ≥ 2)")
        fig.colorbar(im, ax=row[:2].tolist(), shrink=0.8, label="Pearson r")
        nm = row[2].imshow(p["nmi"], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        row[2].set_title("(c) pairwise NMI between\nsnapshot partitions")
        row[2].set_xlabel("snapshot (even: pre-attn, odd: pre-MLP)")
        row[2].set_ylabel("snapshot")
        fig.colorbar(nm, ax=row[2], shrink=0.8, label="NMI")
        for ax in row[:2]:
            ax.set_xlabel("unit")
            ax.set_ylabel("unit")
    return fig
