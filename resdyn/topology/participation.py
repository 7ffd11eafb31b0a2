"""Participation coefficient of every unit in a partitioned graph (paper Appendix A.4).

p_i = 1 - sum_c (k_ic / k_i)^2, where k_ic is the summed absolute edge weight from unit i
to community c and k_i = sum_c k_ic. A unit with no edges (k_i = 0) gets p_i = 0 by
convention: it bridges nothing.
"""
from __future__ import annotations

import numpy as np

from resdyn.topology.graphs import SignedGraph


def participation(graph: SignedGraph, membership) -> np.ndarray:
    """(n,) participation coefficients from absolute edge weights."""
    m = np.asarray(membership, dtype=np.int64)
    if m.shape != (graph.n,):
        raise ValueError(f"membership has shape {m.shape}, graph has {graph.n} nodes")
    if m.min(initial=0) < 0:
        raise ValueError("community labels must be non-negative")
    c = int(m.max()) + 1
    w = np.abs(graph.weight)
    node = np.concatenate([graph.src, graph.dst]).astype(np.int64)
    other = np.concatenate([m[graph.dst], m[graph.src]])
    k_ic = np.bincount(node * c + other, weights=np.concatenate([w, w]), minlength=graph.n * c).reshape(graph.n, c)
    k_i = k_ic.sum(axis=1)
    p = np.zeros(graph.n)
    live = k_i > 0
    p[live] = 1.0 - ((k_ic[live] / k_i[live, None]) ** 2).sum(axis=1)
    return np.clip(p, 0.0, 1.0)
