"""Sparse signed activation-correlation graphs (paper Appendix A.4).

For one snapshot of activations X (N samples x d units):

1. z-score every unit over the N samples (population std, ddof = 0);
2. full Pearson correlation C = Z^T Z / N (float64);
3. keep, for every unit i, the k largest |C_ij| with j != i (ties broken by the lower j);
4. symmetrise the directed k-NN edge set by union; an undirected edge {i, j} takes the
   one of C_ij, C_ji with the larger absolute value (they agree up to rounding);
5. no self-loops, signs kept.

A unit that is constant over the samples has no defined correlation: its row and column
of C are set to 0 and it gets no edges (it is isolated). Zero-weight edges are dropped.

A graph is stored as upper-triangular edge lists (src < dst) sorted by (src, dst).
Many snapshots pack into one ``.npz`` (see :func:`pack_graphs` / :func:`unpack_graphs`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SignedGraph:
    """Undirected weighted signed graph on ``n`` nodes; edges (src[e], dst[e]) with src < dst."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    def __post_init__(self):
        if not (len(self.src) == len(self.dst) == len(self.weight)):
            raise ValueError("src, dst and weight must have the same length")
        if len(self.src) and (np.any(self.src >= self.dst) or self.dst.max() >= self.n or self.src.min() < 0):
            raise ValueError("edges must satisfy 0 <= src < dst < n (no self-loops)")

    @property
    def n_edges(self) -> int:
        return len(self.src)

    def dense(self) -> np.ndarray:
        """Symmetric dense adjacency (for small graphs and figures)."""
        a = np.zeros((self.n, self.n))
        a[self.src, self.dst] = self.weight
        a[self.dst, self.src] = self.weight
        return a


def correlation_matrix(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of ``x`` (N x d), float64; constant units -> 0 rows."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D (samples x units) array, got shape {x.shape}")
    n, _ = x.shape
    if n < 3:
        raise ValueError(f"need at least 3 samples for correlations, got {n}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"non-finite activation at sample {bad[0]}, unit {bad[1]}")
    z = x - x.mean(axis=0)
    sd = z.std(axis=0)
    scale = np.max(np.abs(x), axis=0)
    live = sd > 1e-12 * np.maximum(scale, 1e-300)
    z[:, live] /= sd[live]
    z[:, ~live] = 0.0
    c = (z.T @ z) / n
    np.clip(c, -1.0, 1.0, out=c)
    return c


def knn_signed_graph(corr: np.ndarray, k: int) -> SignedGraph:
    """Top-``k`` per unit by |corr|, symmetrised keeping the larger |weight|; signs kept."""
    corr = np.asarray(corr, dtype=np.float64)
    d = corr.shape[0]
    if corr.ndim != 2 or corr.shape[1] != d:
        raise ValueError(f"correlation matrix must be square, got shape {corr.shape}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"graphs.knn must be a positive integer, got {k!r}")
    if d < 2:
        raise ValueError("need at least 2 units")
    k = min(int(k), d - 1)
    a = np.abs(corr)
    np.fill_diagonal(a, -1.0)  # never pick self
    # stable sort on -|c|: ties resolved by the lower column index, deterministic everywhere
    order = np.argsort(-a, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(d), k)
    cols = order.ravel()
    keep = a[rows, cols] > 0.0
    rows, cols = rows[keep], cols[keep]
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    key = np.unique(lo.astype(np.int64) * d + hi)
    src, dst = key // d, key % d
    w_ij, w_ji = corr[src, dst], corr[dst, src]
    weight = np.where(np.abs(w_ij) >= np.abs(w_ji), w_ij, w_ji)
    return SignedGraph(d, src.astype(np.int32), dst.astype(np.int32), weight.astype(np.float64))


def correlation_graph(x: np.ndarray, k: int) -> SignedGraph:
    """Sparse signed top-k correlation graph of one snapshot (N x d)."""
    return knn_signed_graph(correlation_matrix(x), k)


def pack_graphs(graphs: list[SignedGraph]) -> dict[str, np.ndarray]:
    """Concatenate graphs on the same node set into arrays for one ``.npz``."""
    if not graphs:
        raise ValueError("no graphs to pack")
    n = {g.n for g in graphs}
    if len(n) != 1:
        raise ValueError(f"graphs have different node counts: {sorted(n)}")
    offsets = np.concatenate([[0], np.cumsum([g.n_edges for g in graphs])]).astype(np.int64)
    return {
        "n_nodes": np.array(graphs[0].n, dtype=np.int64),
        "offsets": offsets,
        "src": np.concatenate([g.src for g in graphs]),
        "dst": np.concatenate([g.dst for g in graphs]),
        "weight": np.concatenate([g.weight for g in graphs]),
    }


def unpack_graphs(store) -> list[SignedGraph]:
    """Inverse of :func:`pack_graphs` (``store`` is a mapping such as an open ``.npz``)."""
    n = int(store["n_nodes"])
    off = np.asarray(store["offsets"])
    src, dst, w = (np.asarray(store[key]) for key in ("src", "dst", "weight"))
    return [SignedGraph(n, src[a:b], dst[a:b], w[a:b]) for a, b in zip(off[:-1], off[1:])]


def snapshot_graphs(activations: np.ndarray, k: int, log=None) -> list[SignedGraph]:
    """One graph per snapshot of an (N, S, d) activation array."""
    activations = np.asarray(activations)
    if activations.ndim != 3:
        raise ValueError(f"activations must be (N, snapshots, d), got shape {activations.shape}")
    graphs = []
    for s in range(activations.shape[1]):
        try:
            graphs.append(correlation_graph(activations[:, s, :], k))
        except ValueError as err:
            raise ValueError(f"snapshot {s}: {err}") from None
        if log:
            log(f"snapshot {s}: {graphs[-1].n_edges} edges")
    return graphs


def showcase_snapshot(n_snapshots: int, depth: float) -> int:
    """Pre-attention snapshot 2l of the layer l = floor(depth * L) (clipped to the last layer)."""
    if n_snapshots < 2 or n_snapshots % 2:
        raise ValueError(f"expected 2L snapshots, got {n_snapshots}")
    if not 0 <= depth <= 1:
        raise ValueError(f"graphs.showcase_depth must lie in [0, 1], got {depth}")
    n_layers = n_snapshots // 2
    return 2 * min(n_layers - 1, int(np.floor(depth * n_layers)))
