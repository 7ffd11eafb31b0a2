"""Which residual snapshots a block reads and writes, and the random stream of each test.

Snapshot 2l is the residual state before attention of block l, 2l+1 before its MLP. Block l
maps snapshot 2l (its input) to snapshot 2l+2 (its output, the next block's input); the last
block has no snapshot 2L, so its output basis falls back to snapshot 2L-1 (before its MLP,
the latest state recorded). ``out_snapshot`` in the tables says which one was used.

Every random draw comes from SeedSequence(seed, spawn_key=(crc32(method), layer, test)),
so results do not depend on job or loop order.
"""
from __future__ import annotations

import zlib

import numpy as np

TEST_IDS = {"mesoscale": 1, "boundary": 2, "rate": 3, "selfalign": 4, "tail_ties": 5}


def rng_for(seed: int, method: str, layer: int, test: str) -> np.random.Generator:
    key = (zlib.crc32(method.encode()), int(layer), TEST_IDS[test])
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def block_snapshots(n_layers: int) -> list[tuple[int, int]]:
    """(input snapshot, output snapshot) of every block (see module docstring)."""
    if n_layers < 1:
        raise ValueError("need at least one layer")
    return [(2 * l, 2 * l + 2 if l < n_layers - 1 else 2 * l + 1) for l in range(n_layers)]
