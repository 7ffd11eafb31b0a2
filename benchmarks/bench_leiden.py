"""Time graph construction and community detection at paper scale (d = 4096, k = 20).

Synthetic activations: N samples of d units driven by G latent factors with random signs
(a planted signed community structure) plus unit noise. Prints wall times measured here.

    PYTHONPATH=. python benchmarks/bench_leiden.py [--d 4096] [--n 1000] [--k 20] [--methods signed_cpm]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from resdyn.topology.communities import METHODS, detect, nmi, summarise
from resdyn.topology.graphs import correlation_graph
from resdyn.topology.participation import participation


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--groups", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["signed_cpm"], choices=METHODS)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, args.groups, args.d)
    signs = np.where(rng.random(args.d) < 0.5, -1.0, 1.0)
    factors = rng.standard_normal((args.n, args.groups))
    x = (factors[:, labels] * signs * rng.uniform(0.3, 1.0, args.d) + rng.standard_normal((args.n, args.d)))
    x = x.astype(np.float32)

    t = time.perf_counter()
    g = correlation_graph(x, args.k)
    t_graph = time.perf_counter() - t
    print(f"graph: d={args.d} N={args.n} k={args.k}: {g.n_edges} edges "
          f"({(g.weight < 0).mean():.0%} negative) in {t_graph:.2f} s")
    import igraph  # noqa: F401  (exclude import time from the timings)
    import leidenalg  # noqa: F401

    for method in args.methods:
        times = []
        for r in range(args.repeats):
            t = time.perf_counter()
            p = detect(g, method, gamma=0.001, gamma_neg=0.0, seed=r)
            times.append(time.perf_counter() - t)
        s = summarise(p.membership)
        t = time.perf_counter()
        participation(g, p.membership)
        t_part = time.perf_counter() - t
        print(f"{method}: median {np.median(times):.2f} s over {args.repeats} runs "
              f"(min {min(times):.2f}, max {max(times):.2f}); {s['n_communities']} communities, "
              f"{s['n_nondegenerate']} of size >= 2, NMI to planted labels x sign "
              f"{nmi(p.membership, labels * 2 + (signs > 0)):.3f}; participation {t_part * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
