import numpy as np
import pytest

from resdyn.topology.graphs import (SignedGraph, correlation_graph, correlation_matrix, knn_signed_graph, pack_graphs,
                           showcase_snapshot, snapshot_graphs, unpack_graphs)


def test_correlation_matches_numpy_and_constant_unit_is_isolated():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 6))
    np.testing.assert_allclose(correlation_matrix(x), np.corrcoef(x.T), atol=1e-12)
    x[:, 2] = 3.0
    c = correlation_matrix(x)
    assert np.all(c[2] == 0) and np.all(c[:, 2] == 0)
    g = knn_signed_graph(c, 2)
    assert 2 not in set(g.src) | set(g.dst)


def test_knn_hand_example_signs_and_symmetrisation():
    # |c| ranking per row, k = 1: 0 -> 1 (0.9), 1 -> 0 (0.9), 2 -> 3 (-0.8), 3 -> 2 (-0.8 vs -0.7 stored at [3,2])
    c = np.array([
        [1.0, 0.9, 0.1, 0.2],
        [0.9, 1.0, 0.3, 0.0],
        [0.1, 0.3, 1.0, -0.8],
        [0.2, 0.0, -0.7, 1.0],
    ])
    g = knn_signed_graph(c, 1)
    assert list(zip(g.src, g.dst)) == [(0, 1), (2, 3)]
    np.testing.assert_allclose(g.weight, [0.9, -0.8])  # larger |weight| of the two directions kept, sign kept


def test_knn_union_and_min_degree():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 30))
    g = correlation_graph(x, 3)
    deg = np.bincount(np.concatenate([g.src, g.dst]), minlength=30)
    assert deg.min() >= 3
    assert np.all(g.src < g.dst)
    assert np.any(g.weight < 0) and np.any(g.weight > 0)
    # every kept edge is in the top-3 of at least one endpoint
    a = np.abs(correlation_matrix(x))
    np.fill_diagonal(a, -1)
    top = np.argsort(-a, axis=1, kind="stable")[:, :3]
    for i, j in zip(g.src, g.dst):
        assert j in top[i] or i in top[j]
    # known answer: the edge set is exactly the union of every node's top-3, with its correlation
    expected = {(min(i, j), max(i, j)) for i in range(30) for j in top[i]}
    assert set(zip(g.src.tolist(), g.dst.tolist())) == expected and g.n_edges == len(expected)
    np.testing.assert_allclose(g.weight, correlation_matrix(x)[g.src, g.dst], rtol=1e-6)


def test_pack_roundtrip_and_snapshots():
    rng = np.random.default_rng(2)
    acts = rng.standard_normal((20, 4, 10)).astype(np.float32)
    graphs = snapshot_graphs(acts, 2)
    back = unpack_graphs(pack_graphs(graphs))
    assert len(back) == 4
    for a, b in zip(graphs, back):
        np.testing.assert_array_equal(a.src, b.src)
        np.testing.assert_array_equal(a.weight, b.weight)


def test_bad_input():
    x = np.ones((10, 4))
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="sample 3, unit 2"):
        correlation_matrix(x)
    with pytest.raises(ValueError, match="knn"):
        knn_signed_graph(np.eye(3), 0)
    with pytest.raises(ValueError):
        SignedGraph(3, np.array([1]), np.array([1]), np.array([0.5]))  # self-loop
    with pytest.raises(ValueError, match="snapshot 1"):
        acts = np.random.default_rng(0).standard_normal((10, 2, 5))
        acts[0, 1, 0] = np.inf
        snapshot_graphs(acts, 2)


def test_showcase_snapshot():
    assert showcase_snapshot(64, 0.53) == 32  # layer 16 of 32, pre-attention
    assert showcase_snapshot(36, 1.0) == 34
