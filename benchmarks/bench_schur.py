"""Time the cumulative and surgery stages on a synthetic run (no timed asserts).

    PYTHONPATH=. python benchmarks/bench_schur.py            # d = 576, L = 30 (SmolLM2 shape)
    PYTHONPATH=. python benchmarks/bench_schur.py --d 128 --layers 8 --order-draws 4

Prints the time of each piece for one run, as the workflow splits it into jobs (one
sweep job per mode running all three constructions on shared forms), for polar and Schur
surgery (Schur: with --order-draws random diagonal orders in mode J), and the real-Schur
+ rsf2csf vs complex-Schur ratio. Set OPENBLAS_NUM_THREADS to match the rule's threads
(1 by default).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg as sla

from resdyn.dynamics.cumulative import cumulative_products
from resdyn.dynamics.schur import CONSTRUCTIONS, LayerSchurForms, complex_schur, dose_sweep, layer_operator

DOSES = [0, 0.25, 0.5, 0.75, 1, 1.5, 2]


def synthetic_stack(d: int, L: int, seed: int = 0) -> list[np.ndarray]:
    """Near-identity layers with a low-rank non-normal update, roughly like a residual block."""
    rng = np.random.default_rng(seed)
    Js = []
    for _ in range(L):
        U = rng.standard_normal((d, 32)) / np.sqrt(d)
        V = rng.standard_normal((32, d))
        Js.append(np.eye(d) + 0.2 * rng.standard_normal((d, d)) / np.sqrt(d) + 0.5 * U @ V / np.sqrt(32))
    return Js


def timed(label: str, fn):
    """Wall and CPU seconds (CPU time is the fairer number on a shared, loaded machine)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    dt, dc = time.perf_counter() - t, time.process_time() - c
    print(f"{label:<44s} wall {dt:8.2f} s   cpu {dc:8.2f} s", flush=True)
    return out, dc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=576)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--modes", default="J,R")
    ap.add_argument("--surgery", default="polar,schur")
    ap.add_argument("--order-draws", type=int, default=2, help="Schur surgery, mode J (the workflow default: 40)")
    args = ap.parse_args()
    d, L = args.d, args.layers
    Js = synthetic_stack(d, L)
    print(f"d = {d}, L = {L}, doses = {len(DOSES)}, draws = {args.draws}")

    A = Js[0]
    _, t_real = timed("one layer: real Schur + rsf2csf", lambda: sla.rsf2csf(*sla.schur(A, output="real")))
    _, t_cplx = timed("one layer: schur(output='complex')", lambda: sla.schur(A, output="complex"))
    print(f"{'  ratio complex / (real + rsf2csf), cpu':<44s} {t_cplx / t_real:8.2f} x")

    _, t_cum = timed("cumulative (exact, all L products + SVDs)", lambda: cumulative_products(Js, "exact"))
    for surgery in args.surgery.split(","):
        total = t_cum
        for mode in args.modes.split(","):
            forms = LayerSchurForms(Js, mode, surgery)
            timed(f"{surgery} mode {mode}: forms of {L} layers", lambda: [forms[layer] for layer in range(L)])
            orders = args.order_draws if surgery == "schur" and mode == "J" else 0
            _, dt = timed(f"{surgery} mode {mode}: job ({orders} orders)",
                          lambda: dose_sweep(forms, mode, CONSTRUCTIONS, DOSES, draws=args.draws, seed=0,
                                             precision="single", order_draws=orders))
            total += dt
        print(f"{'  total cpu for one run (sum of jobs), ' + surgery:<44s} {total:8.2f} s")

if __name__ == "__main__":
    main()
