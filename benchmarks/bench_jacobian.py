"""Jacobian engines on one block, timed in the same run, printed as ratios.

    python benchmarks/bench_jacobian.py [--model resources/models/smollm2_135m] [--layer 5] [--samples 8]
    python benchmarks/bench_jacobian.py --decoders   # the generic engine beside the closed forms

Compares the paper's method (torch.autograd.functional.jacobian through the
transformers layer, default settings, token at position 0) with the project's
engines on the same states: reverse-mode autodiff of the functional block
(vmap of jacrev) and the closed form. Reports per-Jacobian time, speed-up over
the paper's method, attained GFLOP/s beside a d×d float32 matmul measured in
the same run, and the largest deviation from a float64 autodiff reference.
In context (the last of 32 tokens attending to the others' fixed keys/values): jacrev
against the closed form, per sample and batched, and the ratio of the closed form's
s/Jacobian to the single-token closed form's (target ≤ 2×).
Without --model it uses a randomly initialised block of SmolLM2-135M's shape.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from resdyn.dynamics.jacobians import (autodiff_in_context_jacobian, autodiff_single_token_jacobians, in_context_jacobian,
                              single_token_jacobians)
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block, rotary_tables
from resdyn.models.in_context import in_context_jacobians
from timing import interleaved_best


def load_model(path=None):
    """A prepared model folder, or a randomly initialised one-layer model of SmolLM2-135M's shape."""
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
    """FLOPs of one closed-form Jacobian: the MLP GEMM (2·d·f·d) and the composition (2·d³)."""
    d, f = model.config.hidden_size, model.config.intermediate_size
    return 2 * d * f * d + 2 * d**3


def autodiff_flops(model) -> float:
    """FLOPs of reverse-mode autodiff: one input-gradient pass per output unit, each as
    costly as the block's single-token forward GEMMs (2·(3·d·f + 2·d·r), r = n_kv·head_dim)."""
    cfg = model.config
    d, f = cfg.hidden_size, cfg.intermediate_size
    r = cfg.num_key_value_heads * (getattr(cfg, "head_dim", None) or d // cfg.num_attention_heads)
    return d * 2 * (3 * d * f + 2 * d * r)


def test_states(d: int, samples: int) -> torch.Tensor:
    """Residual-like states (seeded): RMS about 2, as in the middle of a trained stack."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(samples, d, generator=gen) * 2


def closed_form_jacobians(model, layer: int, samples: int) -> torch.Tensor:
    block = Block(model, layer, architecture_of(model.config.model_type))
    return single_token_jacobians(block, test_states(model.config.hidden_size, samples))


@dataclass
class EngineTimes:
    d: int
    peak: float  # float32 d×d matmul GFLOP/s, this run
    flops: float  # closed form, per Jacobian
    flops_autodiff: float
    t_paper: float
    t_autodiff: float
    t_closed: float
    t_ctx_closed: float  # in context, closed form, one sample at a time (as scripts/jacobian_layer.py calls it)
    t_ctx_batched: float
    t_ctx_autodiff: float
    ratio_per_sample: float  # in-context closed form / single-token closed form, interleaved best of 5
    ratio_batched: float
    rows: list  # (engine, seconds per Jacobian, max relative error vs float64)


def measure(model, layer: int = 0, samples: int = 8, context: int = 32) -> EngineTimes:
    """Time the paper's method and each engine on the same block and states."""
    block_layer = model.model.layers[layer]
    arch = architecture_of(model.config.model_type)
    d = model.config.hidden_size
    states = test_states(d, samples)
    block32 = Block(model, layer, arch)
    block64 = Block(model, layer, arch, torch.float64)
    reference = autodiff_single_token_jacobians(block64, states.double())
    cos, sin = rotary_tables(model, layer, 1)

    def paper_one(h):
        f = lambda x: block_layer(x.view(1, 1, d), position_embeddings=(cos[None], sin[None]), attention_mask=None).view(d)  # noqa: E731
        return torch.autograd.functional.jacobian(f, h)

    paper_n = min(2, samples)
    t_paper, paper = _timed(lambda: torch.stack([paper_one(h) for h in states[:paper_n]]), 1)
    t_paper /= paper_n
    t_auto, auto = _timed(lambda: autodiff_single_token_jacobians(block32, states), 2)
    t_closed, closed = _timed(lambda: single_token_jacobians(block32, states), 3)
    # jacobians.precision auto/double: the same closed form in float64 (the recompute of unresolved σ_min)
    t_closed64, closed64 = _timed(lambda: single_token_jacobians(block64, states.double()), 3)
    t_auto, t_closed, t_closed64 = t_auto / samples, t_closed / samples, t_closed64 / samples
    # in context: the last of `context` tokens, earlier keys/values fixed; jacrev on one sample,
    # the closed form per sample and batched (each including the contexts' keys/values)
    prefixes = test_states(d, samples * context).reshape(samples, context, d)
    t_ctx, ctx = _timed(lambda: autodiff_in_context_jacobian(block32, prefixes[0]), 2)
    ctx_ref = autodiff_in_context_jacobian(block64, prefixes[0].double())
    t_ctx_closed, ctx_closed = _timed(lambda: torch.stack([in_context_jacobian(block32, p) for p in prefixes]), 3)
    t_ctx_batched, ctx_batched = _timed(
        lambda: in_context_jacobians(block32, prefixes[:, -1], [block32.context(p[:-1]) for p in prefixes]), 3)
    t_ctx_closed, t_ctx_batched = t_ctx_closed / samples, t_ctx_batched / samples
    best_single, best_ctx, best_batched = interleaved_best([
        lambda: single_token_jacobians(block32, states),
        lambda: [in_context_jacobian(block32, p) for p in prefixes],
        lambda: in_context_jacobians(block32, prefixes[:, -1], [block32.context(p[:-1]) for p in prefixes])])

    def err(j, ref):
        ref = ref[: len(j)]
        return float((j.double() - ref).abs().max() / ref.abs().max())

    rows = [("paper: autograd.functional.jacobian", t_paper, err(paper, reference)),
            ("autodiff: vmap(jacrev(block))", t_auto, err(auto, reference)),
            ("closed form (single_token)", t_closed, err(closed, reference)),
            (f"closed form float64 (recompute; {t_closed64 / t_closed:.1f}x float32)", t_closed64, err(closed64, reference)),
            (f"in context: jacrev, {context} tokens", t_ctx, err(ctx[None], ctx_ref[None])),
            (f"in context: closed form, {context} tokens", t_ctx_closed, err(ctx_closed[:1], ctx_ref[None])),
            (f"in context: closed form, batched {samples}", t_ctx_batched, err(ctx_batched[:1], ctx_ref[None]))]
    return EngineTimes(d, matmul_gflops(d), closed_form_flops(model), autodiff_flops(model),
                       t_paper, t_auto, t_closed, t_ctx_closed, t_ctx_batched, t_ctx,
                       best_ctx / best_single, best_batched / best_single, rows)


# Shapes for the decoder-engine rows: SmolLM2-135M's (d = 576) block for the closed form beside the
# generic engine, a Gemma 4 layer of that width (PLE 256, a KV-shared global layer), Pythia-70M's layer.
DECODER_SHAPES = {
    "llama": dict(hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3),
    "gemma4_text": dict(hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3,
                        head_dim=64, global_head_dim=128, num_global_key_value_heads=1, attention_k_eq_v=True,
                        hidden_size_per_layer_input=256, vocab_size_per_layer_input=1000, num_kv_shared_layers=1,
                        layer_types=["sliding_attention", "full_attention", "full_attention"]),
    "gpt_neox": dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8, rotary_pct=0.25),
}


def measure_decoder_engines(samples: int = 4) -> list[tuple[str, str, float, float]]:
    """(model type, engine, s/Jacobian, max relative error vs the float64 generic engine) on one layer
    per type, single-token protocol, the same states for every engine of a type."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from resdyn.models.sources import with_decoder_alias

    rows = []
    for model_type, shape in DECODER_SHAPES.items():
        n_layers = len(shape.get("layer_types", [0]))
        cfg = AutoConfig.for_model(model_type, vocab_size=1000, num_hidden_layers=n_layers, **shape)
        torch.manual_seed(0)
        model = with_decoder_alias(AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval())
        gemma = model_type == "gemma4_text"
        for layer in (1, 2) if gemma else (n_layers - 1,):  # Gemma 4: a global layer, and the KV-shared one
            rows += _decoder_rows(model, layer, samples, f"{model_type} L{layer}")
    return rows


def _decoder_rows(model, layer, samples, label):
    from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs
    from resdyn.models.generic import DecoderLayer

    model_type, d = model.config.model_type, model.config.hidden_size
    states = test_states(d, samples)
    gemma = model_type == "gemma4_text"
    j = kv_source_of(model.config, layer) if gemma else None
    e = per_layer_inputs(model, list(range(5, 5 + samples)), layer) if gemma else None
    kv = None if j is None else test_states(d, samples) * 0.5
    opt64 = lambda t: None if t is None else t.double()  # noqa: E731
    src32, src64 = (None, None) if j is None else (DecoderLayer(model, j), DecoderLayer(model, j, torch.float64))
    ref = DecoderLayer(model, layer, torch.float64, kv_source=src64).single_token_jacobians(
        states.double(), opt64(e), opt64(kv))
    generic = DecoderLayer(model, layer, kv_source=src32)
    engines = {"generic: jacrev through the layer": lambda: generic.single_token_jacobians(states, e, kv)}
    if model_type == "llama":
        block = Block(model, layer, architecture_of(model_type))
        engines["closed form (Block)"] = lambda: single_token_jacobians(block, states)
    if gemma:
        g4 = Gemma4Block(model, layer, source=None if j is None else Gemma4Block(model, j))
        engines["closed form (Gemma4Block)"] = lambda: g4.single_token_jacobian(states, e, kv)
    rows = []
    for name, fn in engines.items():
        t, jac = _timed(fn, 2)
        rows.append((label, name, t / samples, float((jac.double() - ref).abs().max() / ref.abs().max())))
    return rows


def print_decoder_engines(samples: int) -> None:
    print(f"{'layer':<18}{'engine':<38}{'s/Jacobian':>12}{'max rel err':>13}")
    for model_type, name, t, e in measure_decoder_engines(samples):
        print(f"{model_type:<18}{name:<38}{t:>12.4f}{e:>13.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--layer", type=int, default=0)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--decoders", action="store_true",
                        help="only the generic engine beside the closed forms (Llama, Gemma 4, GPT-NeoX layers)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.decoders:
        return print_decoder_engines(args.samples)
    res = measure(load_model(args.model), args.layer, args.samples)
    print(f"model={args.model or 'random SmolLM2-shaped block'} layer={args.layer} d={res.d} samples={args.samples} threads={args.threads}")
    print(f"float32 matmul (d×d) measured in this run: {res.peak:.1f} GFLOP/s")
    print(f"{'engine':<36}{'s/Jacobian':>12}{'× paper':>10}{'GFLOP/s':>10}{'max rel err':>13}")
    for name, t, e in res.rows:
        print(f"{name:<36}{t:>12.4f}{res.t_paper / t:>10.1f}{res.flops / t / 1e9:>10.1f}{e:>13.1e}")
    print(f"closed form attains {res.flops / res.t_closed / 1e9 / res.peak:.0%} of the matmul rate "
          f"(GFLOP/s column counts the closed form's {res.flops / 1e9:.2f} GFLOP for every engine); "
          f"autodiff, counting its own {res.flops_autodiff / 1e9:.2f} GFLOP: "
          f"{res.flops_autodiff / res.t_autodiff / 1e9 / res.peak:.0%}")
    print(in_context_ratios(res))


def in_context_ratios(res: EngineTimes) -> str:
    """The in-context closed form against the single-token closed form (target ≤ 2×) and against jacrev."""
    return (f"in context, closed form / single-token closed form (best of 5 interleaved rounds): "
            f"{res.ratio_per_sample:.2f}× per sample, {res.ratio_batched:.2f}× batched; "
            f"jacrev in context / closed form in context: "
            f"{res.t_ctx_autodiff / res.t_ctx_closed:.1f}×")


if __name__ == "__main__":
    main()
