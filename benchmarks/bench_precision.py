"""Cost of jacobians.precision single / auto / double on real blocks, and how many κ each leaves censored.

    python benchmarks/bench_precision.py --model resources/models/smollm2_135m \
        --activations results/smollm2_135m/activations.npy --layers 5 25 --samples 16

Per layer: the first `--samples` samples' states (the activation snapshot the Jacobian stage
reads), the whole per-layer statistic (Jacobians, σ_max/σ_min/sums, the float64 recompute
of unresolved samples under auto) timed as `single_token_layer_stats` runs it in a
`make run` job, best of `--repeats` calls per precision with the precisions interleaved (a
ratio of two such times is little disturbed by neighbours on a shared machine). Prints
s/sample, the ratio to single, and the samples whose κ is censored (a lower bound).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from resdyn.dynamics.jacobians import PRECISIONS, single_token_layer_stats
from resdyn.models.layer_files import single_token_block


def measure(model: str, states: np.ndarray, layer: int, batch_size: int, repeats: int) -> dict[str, tuple[float, int]]:
    """precision -> (seconds per sample, censored samples) for one layer's states (N, d)."""
    block = single_token_block(model, layer)
    best = {p: float("inf") for p in PRECISIONS}
    censored = {}
    for _ in range(repeats):
        for precision in PRECISIONS:
            start = time.perf_counter()
            out = single_token_layer_stats(block, states, batch_size, f"layer {layer}", precision=precision)
            best[precision] = min(best[precision], time.perf_counter() - start)
            censored[precision] = int(out["kappa_censored"].sum())
    return {p: (best[p] / len(states), censored[p]) for p in PRECISIONS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="prepared model folder (resources/models/<run>)")
    ap.add_argument("--activations", required=True, help="results/<run>/activations.npy")
    ap.add_argument("--layers", type=int, nargs="+", default=[5])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the Jacobian rule (threads: 1)
    acts = np.load(args.activations, mmap_mode="r")
    print(f"{args.model}: d = {acts.shape[-1]}, {args.samples} samples, best of {args.repeats}")
    print("layer  precision  s/sample  x single  censored")
    for layer in args.layers:
        states = np.ascontiguousarray(acts[: args.samples, 2 * layer])
        res = measure(args.model, states, layer, args.batch_size, args.repeats)
        for precision, (sec, n_cens) in res.items():
            print(f"{layer:5d}  {precision:9s}  {sec:8.4f}  {sec / res['single'][0]:8.2f}  {n_cens:4d}/{len(states)}")


if __name__ == "__main__":
    main()
