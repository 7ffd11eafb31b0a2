"""One step of the exact cumulative product and one full SVD at the paper's width, measured here.

    python benchmarks/exact_cumulative.py [--d 4096] [--threads 1]

config/paper.yaml composes P_l = J_{L-1} ... J_l exactly (dense d x d, float64) and takes
every singular value of each P_l: the rank cap of the truncated path would clip
erank(P) at K = 512 (the paper's OLMo step 0 has erank(P_31) ~ 4006). Each step and SVD
runs in a fresh process so that its peak resident memory is its own. The cost model
(benchmarks/cost_model.py) takes these seconds as its exact-path inputs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


# BLAS thread counts are read when numpy loads: set them for the measuring process
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one(kind: str, d: int, threads: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from resdyn.dynamics.cumulative import ExactProduct

    rng = np.random.default_rng(0)
    J = np.eye(d) + rng.standard_normal((d, d)) / np.sqrt(d)
    product = ExactProduct()
    product.right_multiply(J)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if kind == "product_step":
        product.right_multiply(J)
    else:
        product.singular_values()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "d": d, "threads": threads, "seconds": seconds,
            "peak_rss_mib": peak / 1024, "added_rss_mib": (peak - before) / 1024}


def measure(d: int, threads: int) -> dict[str, dict]:
    out = {}
    for kind in ("product_step", "svdvals"):
        proc = subprocess.run([sys.executable, __file__, "--one", kind, "--d", str(d), "--threads", str(threads)],
                              check=True, capture_output=True, text=True,
                              env={**os.environ, **{v: str(threads) for v in BLAS_THREADS}})
        out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--one", choices=["product_step", "svdvals"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.d, args.threads)))
        return
    for kind, m in measure(args.d, args.threads).items():
        print(f"{kind} at d = {m['d']} on {m['threads']} thread(s): {m['seconds']:.1f} s, "
              f"peak RSS {m['peak_rss_mib']:.0f} MiB ({m['added_rss_mib']:+.0f} MiB during the call)")


if __name__ == "__main__":
    main()
