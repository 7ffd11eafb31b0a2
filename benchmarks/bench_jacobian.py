"""Jacobian engines on one block, timed in the same run, printed as ratios.

    python benchmarks/bench_jacobian.py [--model resources/models/smollm2_135m] [--layer 5] [--samples 8]

Compares the paper's method (torch.autograd.functional.jacobian through the
transformers layer, default settings, token at position 0) with the project's
engines on the same states: reverse-mode autodiff of the functional block
(vmap of jacrev) and the closed form. Reports per-Jacobian time, speed-up over
the paper's method, attained GFLOP/s beside a d×d float32 matmul measured in
the same run, and the largest deviation from a float64 autodiff reference.
Without --model it uses a randomly initialised block of SmolLM2-135M's shape.
"""
from __future__ import annotations

import argparse
import time

import torch

from resdyn.jacobians import autodiff_single_token_jacobians, single_token_jacobians
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block, rotary_tables


def _model(path):
    if path:
        from resdyn.models.sources import load_prepared

        return load_prepared(path)[0]
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=1, num_attention_heads=9,
                      num_key_value_heads=3, vocab_size=1000)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()


def _timed(fn, repeats):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return (time.perf_counter() - start) / repeats, out


def matmul_gflops(d: int, repeats: int = 20) -> float:
    a, b = torch.randn(d, d), torch.randn(d, d)
    seconds, _ = _timed(lambda: a @ b, repeats)
    return 2 * d**3 / seconds / 1e9


def closed_form_flops(model) -> float:
    """FLOPs of one closed-form Jacobian: the MLP product (4·d·I·d) and the composition (2·d³)."""
    d, i = model.config.hidden_size, model.config.intermediate_size
    return 4 * d * i * d + 2 * d**3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--layer", type=int, default=0)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = _model(args.model)
    layer = model.model.layers[args.layer]
    arch = architecture_of(model.config.model_type)
    d = model.config.hidden_size
    states = torch.randn(args.samples, d) * 2
    block32 = Block(model, args.layer, arch)
    reference = autodiff_single_token_jacobians(Block(model, args.layer, arch, torch.float64), states.double())
    cos, sin = rotary_tables(model, args.layer, 1)

    def paper_one(h):
        f = lambda x: layer(x.view(1, 1, d), position_embeddings=(cos[None], sin[None]), attention_mask=None).view(d)  # noqa: E731
        return torch.autograd.functional.jacobian(f, h)

    paper_n = min(2, args.samples)
    t_paper, paper = _timed(lambda: torch.stack([paper_one(h) for h in states[:paper_n]]), 1)
    t_paper /= paper_n
    t_auto, auto = _timed(lambda: autodiff_single_token_jacobians(block32, states), 2)
    t_closed, closed = _timed(lambda: single_token_jacobians(block32, states), 3)
    t_auto, t_closed = t_auto / args.samples, t_closed / args.samples
    peak = matmul_gflops(d)
    flops = closed_form_flops(model)

    def err(j, n=None):
        ref = reference[: n or len(j)]
        return float((j.double() - ref).abs().max() / ref.abs().max())

    print(f"model={args.model or 'random SmolLM2-shaped block'} layer={args.layer} d={d} samples={args.samples} threads={args.threads}")
    print(f"float32 matmul (d×d) measured in this run: {peak:.1f} GFLOP/s")
    print(f"{'engine':<34}{'s/Jacobian':>12}{'× paper':>10}{'GFLOP/s':>10}{'max rel err':>13}")
    rows = [("paper: autograd.functional.jacobian", t_paper, err(paper, paper_n)),
            ("autodiff: vmap(jacrev(block))", t_auto, err(auto)),
            ("closed form", t_closed, err(closed))]
    for name, t, e in rows:
        print(f"{name:<34}{t:>12.4f}{t_paper / t:>10.1f}{flops / t / 1e9:>10.1f}{e:>13.1e}")
    print(f"closed form attains {flops / t_closed / 1e9 / peak:.0%} of the matmul rate "
          f"(GFLOP/s column counts the closed form's {flops / 1e9:.2f} GFLOP for every engine)")


if __name__ == "__main__":
    main()
