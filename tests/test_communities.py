import numpy as np
import pytest

from resdyn.topology.communities import (METHODS, canonical_labels, detect, nmi, nmi_matrix, partition_snapshots,
                                signed_cpm_quality, signed_leiden, summarise)
from resdyn.topology.graphs import SignedGraph, correlation_graph
from resdyn.topology.participation import participation


def planted_signed_graph(size=12, seed=0):
    """Four planted groups A, B, C, D. Dense positive edges inside groups; between A-B and
    between C-D some weak positive edges but mostly negative ones. Ignoring signs (or the
    negative layer) merges A+B and C+D; the signed objective keeps all four apart."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(4), size)
    n = len(truth)
    src, dst, w = [], [], []
    for i in range(n):
        for j in range(i + 1, n):
            gi, gj = truth[i], truth[j]
            if gi == gj:
                src.append(i), dst.append(j), w.append(0.6)
            elif {gi, gj} in ({0, 1}, {2, 3}):
                u = rng.random()
                if u < 0.25:
                    src.append(i), dst.append(j), w.append(0.4)
                elif u < 0.75:
                    src.append(i), dst.append(j), w.append(-0.6)
    return SignedGraph(n, np.array(src), np.array(dst), np.array(w)), truth


def positive_part(g):
    keep = g.weight > 0
    return SignedGraph(g.n, g.src[keep], g.dst[keep], g.weight[keep])


def test_signed_cpm_recovers_planted_and_beats_ignoring_negatives():
    g, truth = planted_signed_graph()
    signed = detect(g, "signed_cpm", gamma=0.001, gamma_neg=0.0, seed=3)
    assert nmi(signed.membership, truth) == pytest.approx(1.0)
    unsigned = signed_leiden(positive_part(g), "cpm", 0.001, 0.0, seed=3)
    assert len(np.unique(unsigned.membership)) == 2
    assert nmi(unsigned.membership, truth) < 0.9
    # the joint objective prefers the planted partition to the one found without the negative layer
    assert signed_cpm_quality(g, signed.membership, 0.001, 0.0) > signed_cpm_quality(g, unsigned.membership, 0.001, 0.0)


def test_multiplex_objective_is_the_signed_cpm_formula():
    # leidenalg's reported multiplex quality equals sum_c [W+_c - g C(n_c,2)] - [W-_c - g_neg C(n_c,2)]
    rng = np.random.default_rng(5)
    g = correlation_graph(rng.standard_normal((30, 40)), 5)
    for gamma, gamma_neg in ((0.001, 0.0), (0.05, 0.02)):
        p = detect(g, "signed_cpm", gamma=gamma, gamma_neg=gamma_neg, seed=1)
        assert p.quality == pytest.approx(signed_cpm_quality(g, p.membership, gamma, gamma_neg), rel=1e-9)
    # hand example: one community of nodes {0,1,2}: W+ = 0.5 + 0.25, W- = 0.5, pairs = 3
    h = SignedGraph(4, np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3]), np.array([0.5, -0.5, 0.25, 0.9]))
    assert signed_cpm_quality(h, [0, 0, 0, 1], 0.1, 0.05) == pytest.approx((0.75 - 0.3) - (0.5 - 0.15))


@pytest.mark.parametrize("method", METHODS)
def test_methods_are_deterministic(method):
    rng = np.random.default_rng(7)
    g = correlation_graph(rng.standard_normal((40, 60)), 6)
    a = detect(g, method, seed=11)
    b = detect(g, method, seed=11)
    np.testing.assert_array_equal(a.membership, b.membership)
    assert a.quality == b.quality
    assert a.membership.min() == 0 and len(a.membership) == 60


def test_modularity_and_infomap_on_planted():
    g, truth = planted_signed_graph()
    for method in ("signed_modularity_g1", "signed_modularity_g2"):
        assert nmi(detect(g, method, seed=0).membership, truth) == pytest.approx(1.0)
    assert nmi(detect(g, "infomap", seed=0).membership, truth) > 0.6


def test_unknown_method():
    g, _ = planted_signed_graph()
    with pytest.raises(ValueError, match="communities.methods"):
        detect(g, "louvain")


def test_nmi_hand_values():
    assert nmi([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    # H(a) = ln 2, H(b) = H(3/4, 1/4), H(a, b) = H(1/2, 1/4, 1/4)
    ha, hb = np.log(2), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    hab = -(0.5 * np.log(0.5) + 0.5 * np.log(0.25))
    assert nmi([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(2 * (ha + hb - hab) / (ha + hb))
    assert nmi([0, 0, 0], [1, 1, 1]) == 1.0
    m = nmi_matrix(np.array([[0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0]]))
    np.testing.assert_allclose(m, m.T)
    assert m[0, 2] == pytest.approx(1.0)


def test_canonical_labels_and_summary():
    m = canonical_labels([7, 3, 3, 9, 3, 7])
    np.testing.assert_array_equal(m, [1, 0, 0, 2, 0, 1])
    s = summarise(m)
    assert (s["n_communities"], s["n_nondegenerate"], s["n_singletons"], s["sizes"]) == (3, 2, 1, "3;2;1")


def test_participation_hand_example():
    # node 0: |0.5| to community 0, |-0.5| + |1.0| to community 1 -> 1 - (0.25^2 + 0.75^2) = 0.375
    g = SignedGraph(5, np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([0.5, -0.5, 1.0]))
    p = participation(g, [0, 0, 1, 1, 2])
    np.testing.assert_allclose(p, [0.375, 0.0, 0.0, 0.0, 0.0])  # node 4 isolated -> 0 by convention
    # equal split over 3 communities -> 2/3
    g = SignedGraph(4, np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([0.3, -0.3, 0.3]))
    assert participation(g, [0, 0, 1, 2])[0] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        participation(g, [0, 0, 1])


def test_partition_snapshots_rows():
    rng = np.random.default_rng(3)
    graphs = [correlation_graph(rng.standard_normal((30, 25)), 4) for _ in range(4)]
    mems, part, q, nm, rows = partition_snapshots(graphs, "signed_cpm", gamma=0.001, gamma_neg=0.0, seed=0)
    assert mems.shape == (4, 25) and part.shape == (4, 25) and nm.shape == (4, 4)
    assert [r["site"] for r in rows] == ["pre_attn", "pre_mlp"] * 2
    assert rows[0]["nmi_next_layer"] == pytest.approx(nm[0, 2])
    again = partition_snapshots(graphs, "signed_cpm", gamma=0.001, gamma_neg=0.0, seed=0)
    np.testing.assert_array_equal(mems, again[0])
