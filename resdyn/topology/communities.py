"""Community detection on signed correlation graphs, partition summaries and NMI.

Methods (paper Appendix A.4 and Table 1):

``signed_cpm``
    Signed Leiden with the Constant Potts Model, optimised jointly as a two-layer
    multiplex (leidenalg ``Optimiser.optimise_partition_multiplex``) with layer weights
    [+1, -1]: layer 1 is the positive subgraph with resolution gamma (paper 0.001),
    layer 2 the negative subgraph with |weights| and resolution gamma_neg (paper 0).
    The objective maximised is

        Q = sum_c [ W+_c - gamma * C(n_c, 2) ] - sum_c [ W-_c - gamma_neg * C(n_c, 2) ]

    with W+_c (W-_c) the summed positive (absolute negative) edge weight inside
    community c and n_c its size; see :func:`signed_cpm_quality`.
``signed_modularity_g1`` / ``signed_modularity_g2``
    The same multiplex with the Reichardt-Bornholdt configuration-model (modularity-type)
    quality on both layers, resolution gamma = 1 or 2 on both.
``infomap``
    igraph's InfoMap on |corr| (edge weights = absolute correlations, 10 trials).

All methods are seeded (leidenalg's own RNG; igraph draws from Python's ``random``,
reseeded before each call) and Leiden iterates until an iteration brings no improvement.
Labels are canonical: 0 is the largest community, ties broken by the smallest member.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from resdyn.topology.graphs import SignedGraph

METHODS = ("signed_cpm", "signed_modularity_g1", "signed_modularity_g2", "infomap")
MODULARITY_GAMMA = {"signed_modularity_g1": 1.0, "signed_modularity_g2": 2.0}
INFOMAP_TRIALS = 10


@dataclass(frozen=True)
class Partition:
    membership: np.ndarray  # (n,) int64, canonical labels 0..c-1
    quality: float  # signed CPM: Q of signed_cpm_quality; modularity: leidenalg's quality; InfoMap: codelength


def canonical_labels(membership) -> np.ndarray:
    """Relabel so that 0 is the largest community; ties broken by the smallest member index."""
    m = np.asarray(membership)
    if m.ndim != 1:
        raise ValueError("membership must be 1-D")
    _, first, inv, counts = np.unique(m, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -counts))  # by size desc, then first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inv].astype(np.int64)


def community_sizes(membership) -> np.ndarray:
    """Sizes of communities 0..c-1 of a canonical membership (descending)."""
    return np.bincount(np.asarray(membership, dtype=np.int64))


def _igraph(n: int, src, dst, weight):
    import igraph as ig

    g = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=False)
    g.es["weight"] = np.asarray(weight, dtype=float).tolist()
    return g


def _layers(graph: SignedGraph):
    pos = graph.weight > 0
    neg = graph.weight < 0
    g_pos = _igraph(graph.n, graph.src[pos], graph.dst[pos], graph.weight[pos])
    g_neg = _igraph(graph.n, graph.src[neg], graph.dst[neg], -graph.weight[neg])
    return g_pos, g_neg


def _leiden_seed(seed: int) -> int:
    # leidenalg takes a C int seed
    return int(seed) % (2**31 - 1)


def signed_leiden(graph: SignedGraph, quality: str, gamma: float, gamma_neg: float, seed: int) -> Partition:
    """Joint Leiden optimisation of the positive and negative layers with weights [1, -1]."""
    import leidenalg as la

    kinds = {"cpm": la.CPMVertexPartition, "rb": la.RBConfigurationVertexPartition}
    if quality not in kinds:
        raise ValueError(f"quality must be one of {sorted(kinds)}, got {quality!r}")
    cls = kinds[quality]
    g_pos, g_neg = _layers(graph)
    parts, weights = [], []
    for g, res, w in ((g_pos, gamma, 1.0), (g_neg, gamma_neg, -1.0)):
        # a configuration-model layer without edges is undefined (0/0); CPM is fine
        if quality == "rb" and g.ecount() == 0:
            continue
        parts.append(cls(g, weights="weight", resolution_parameter=float(res)))
        weights.append(w)
    opt = la.Optimiser()
    opt.set_rng_seed(_leiden_seed(seed))
    opt.optimise_partition_multiplex(parts, layer_weights=weights, n_iterations=-1)
    q = float(sum(w * p.quality() for w, p in zip(weights, parts)))
    if quality == "cpm":
        # leidenalg sums over ordered pairs (i, j) of an undirected graph, i.e. twice the
        # per-community form; report the per-community form of signed_cpm_quality
        q *= 0.5
    return Partition(canonical_labels(parts[0].membership), q)


def infomap(graph: SignedGraph, seed: int, trials: int = INFOMAP_TRIALS) -> Partition:
    """InfoMap on absolute edge weights (isolated units end up as singletons)."""
    g = _igraph(graph.n, graph.src, graph.dst, np.abs(graph.weight))
    state = random.getstate()
    try:
        random.seed(int(seed))
        cl = g.community_infomap(edge_weights="weight", trials=int(trials))
    finally:
        random.setstate(state)
    return Partition(canonical_labels(cl.membership), float(cl.codelength))


def detect(graph: SignedGraph, method: str, *, gamma: float = 0.001, gamma_neg: float = 0.0, seed: int = 0) -> Partition:
    """Partition ``graph`` with one of :data:`METHODS`."""
    if method == "signed_cpm":
        return signed_leiden(graph, "cpm", gamma, gamma_neg, seed)
    if method in MODULARITY_GAMMA:
        g = MODULARITY_GAMMA[method]
        return signed_leiden(graph, "rb", g, g, seed)
    if method == "infomap":
        return infomap(graph, seed)
    raise ValueError(f"communities.methods: unknown method {method!r}; allowed: {', '.join(METHODS)}")


def signed_cpm_quality(graph: SignedGraph, membership, gamma: float, gamma_neg: float) -> float:
    """The signed multiplex CPM objective Q (module docstring) of a given partition."""
    m = np.asarray(membership)
    same = m[graph.src] == m[graph.dst]
    w = graph.weight[same]
    w_pos, w_neg = w[w > 0].sum(), -w[w < 0].sum()
    n_c = np.unique(m, return_counts=True)[1].astype(float)
    pairs = (n_c * (n_c - 1) / 2).sum()
    return float((w_pos - gamma * pairs) - (w_neg - gamma_neg * pairs))


# ---------------------------------------------------------------------------- NMI
def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(a, b) -> float:
    """Normalised mutual information I(a;b) / ((H(a)+H(b))/2) (arithmetic normalisation).

    Two partitions that are both a single community count as identical (NMI = 1).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"memberships must be 1-D of equal length, got {a.shape} and {b.shape}")
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    nb = b.max() + 1
    joint = np.bincount(a * nb + b, minlength=(a.max() + 1) * nb).astype(float)
    ha, hb = _entropy(np.bincount(a)), _entropy(np.bincount(b))
    if ha == 0.0 and hb == 0.0:
        return 1.0
    mi = ha + hb - _entropy(joint)
    return float(np.clip(2.0 * mi / (ha + hb), 0.0, 1.0))


def nmi_matrix(memberships) -> np.ndarray:
    """Symmetric matrix of pairwise NMI between the rows of an (S, n) membership array."""
    m = np.asarray(memberships)
    s = m.shape[0]
    out = np.eye(s)
    for i in range(s):
        for j in range(i + 1, s):
            out[i, j] = out[j, i] = nmi(m[i], m[j])
    return out


def summarise(membership, min_size: int = 2) -> dict:
    """Counts and sizes of one partition; non-degenerate = size >= ``min_size``."""
    sizes = community_sizes(membership)
    nondeg = sizes[sizes >= min_size]
    return {
        "n_units": int(sizes.sum()),
        "n_communities": int(len(sizes)),
        "n_nondegenerate": int(len(nondeg)),
        "n_singletons": int((sizes == 1).sum()),
        "largest": int(sizes.max()),
        "median_size_nondegenerate": float(np.median(nondeg)) if len(nondeg) else float("nan"),
        "sizes": ";".join(map(str, sizes.tolist())),
    }


def snapshot_seed(seed: int, method: str, snapshot: int) -> int:
    """Per-snapshot seed from SeedSequence, independent of processing order."""
    import zlib

    ss = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(method.encode()), int(snapshot)))
    return int(ss.generate_state(1)[0] % (2**31 - 1))


def partition_snapshots(graphs, method: str, *, gamma: float, gamma_neg: float, seed: int, min_size: int = 2, log=None):
    """Partition every snapshot graph. Returns (memberships (S, n), participation (S, n),
    qualities (S,), NMI matrix (S, S), summary rows without the ``run`` column)."""
    from resdyn.topology.participation import participation

    mems, parts, quals, rows = [], [], [], []
    for s, g in enumerate(graphs):
        p = detect(g, method, gamma=gamma, gamma_neg=gamma_neg, seed=snapshot_seed(seed, method, s))
        mems.append(p.membership)
        parts.append(participation(g, p.membership))
        quals.append(p.quality)
        rows.append({"method": method, "snapshot": s, "layer": s // 2, "site": ("pre_attn", "pre_mlp")[s % 2],
                     "n_edges": g.n_edges, "n_negative_edges": int((g.weight < 0).sum()),
                     **summarise(p.membership, min_size), "quality": p.quality,
                     "mean_participation": float(parts[-1].mean())})
        if log:
            log(f"{method} snapshot {s}: {rows[-1]['n_communities']} communities "
                f"({rows[-1]['n_nondegenerate']} of size >= {min_size})")
    mems = np.stack(mems)
    nm = nmi_matrix(mems)
    for s, r in enumerate(rows):
        r["nmi_next_snapshot"] = float(nm[s, s + 1]) if s + 1 < len(rows) else float("nan")
        r["nmi_next_layer"] = float(nm[s, s + 2]) if s + 2 < len(rows) else float("nan")
    return mems, np.stack(parts), np.array(quals), nm, rows
