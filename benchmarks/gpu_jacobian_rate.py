"""Seconds per Jacobian on the GPU beside cost_model.py's projection.

    python benchmarks/gpu_jacobian_rate.py [--batch-576 16] [--batch-4096 4] [--batches 2]

Per sample, what a Jacobian job does (resdyn.dynamics.jacobians.JacobianAccumulator.add on the
closed form): the d x d Jacobian in float32, its float64 running sums, and its singular
values by cuSOLVER's batched svdvals. Blocks are random (seeded), Llama-shaped:
SmolLM2-135M's (d = 576, f = 1536) and Llama-3.1-8B's (d = 4096, f = 14336).

The projection is cost_model.project's GPU term for an A100 (its FP32/FP64 peaks, 90% of
the GEMM rate for the closed form, and the SVD's fraction of the float64 GEMM rate measured
on this machine's CPU at d = 1024 on one thread, as cost_model does). On another GPU the
ratio measured / projected says how far that A100 projection is from this device.
"""
from __future__ import annotations

import argparse
import time

import torch
from cost_model import A100_FP32, A100_FP64, N_SAMPLES, PAPER_MODELS, project
from timing import best_of

from resdyn.core.device import job_device
from resdyn.dynamics.jacobians import JacobianAccumulator, single_token_jacobians
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block

SHAPES = {  # d: (f, heads, kv heads, head dim)
    576: (1536, 9, 3, 64),
    4096: (14336, 32, 8, 128),
}
JAC_EFF = 0.9  # cost_model.project's assumption for the closed form on an A100


def random_block(d: int, device) -> Block:
    from transformers import AutoModelForCausalLM, LlamaConfig

    f, heads, kv, head_dim = SHAPES[d]
    cfg = LlamaConfig(hidden_size=d, intermediate_size=f, num_hidden_layers=1, num_attention_heads=heads,
                      num_key_value_heads=kv, head_dim=head_dim, vocab_size=256)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    return Block(model, 0, architecture_of("llama"))


def seconds_per_jacobian(d: int, batch: int, batches: int, device) -> float:
    block = random_block(d, device)
    states = torch.randn(batch, d, generator=torch.Generator().manual_seed(0)).mul_(2).to(device)
    acc = JacobianAccumulator(d=d)

    def one_batch():
        acc.add(single_token_jacobians(block, states), range(batch), f"d = {d}")
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    one_batch()  # warm-up: cuBLAS/cuSOLVER handles and workspaces
    start = time.perf_counter()
    for _ in range(batches):
        one_batch()
    return (time.perf_counter() - start) / (batches * batch)


def svd_efficiency(d: int = 1024) -> float:
    """float64 svdvals' fraction of the float64 GEMM rate on one CPU core (cost_model.measure)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a = torch.randn(d, d, dtype=torch.float64)
    gemm = 2 * d**3 / best_of(lambda: a @ a, 5)
    svd = 8 / 3 * d**3 / best_of(lambda: torch.linalg.svdvals(a))
    torch.set_num_threads(threads)
    return svd / gemm


def projected(d: int, f: int, svd_eff: float) -> float:
    """cost_model.project's GPU seconds per Jacobian (closed form + per-sample SVD)."""
    return (2 * d * f * d + 2 * d**3) / (A100_FP32 * JAC_EFF) + 8 / 3 * d**3 / (A100_FP64 * svd_eff)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-576", type=int, default=16, help="samples per batch at d = 576 (config.yaml: 16)")
    ap.add_argument("--batch-4096", type=int, default=4)
    ap.add_argument("--batches", type=int, default=2, help="timed batches after one warm-up")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_jacobian_rate: torch sees no CUDA device")
    device = job_device()  # IEEE float32 pinned, as in the jobs: the rate of the arithmetic they run
    svd_eff = svd_efficiency()
    # the formula is cost_model's: at d = 4096 it must give the llama31_8b row of project()
    d, f, n_layers, _ = PAPER_MODELS["llama31_8b"]
    keys = ("gemm32", "stats_cpu", "schur", "eigvals", "svd_layer", "truncated_update", "leiden_4096")
    row = project({"gemm64": 1.0, "svdvals64": svd_eff, **dict.fromkeys(keys, 0.0)}, 1024)[0]
    assert abs(row[2] * 3600 / (N_SAMPLES * n_layers) / projected(d, f, svd_eff) - 1) < 1e-12
    print(f"device: {torch.cuda.get_device_name(device)}; CPU svdvals/GEMM (float64, d = 1024, 1 thread): {svd_eff:.0%}")
    print("| d | f | batch | measured s/Jacobian | cost model (A100) s/Jacobian | measured / projected |")
    print("|---:|---:|---:|---:|---:|---:|")
    for d, batch in ((576, args.batch_576), (4096, args.batch_4096)):
        f = SHAPES[d][0]
        measured = seconds_per_jacobian(d, batch, args.batches, device)
        proj = projected(d, f, svd_eff)
        print(f"| {d} | {f} | {batch} | {measured:.4g} | {proj:.4g} | {measured / proj:.2f} |", flush=True)


if __name__ == "__main__":
    main()
