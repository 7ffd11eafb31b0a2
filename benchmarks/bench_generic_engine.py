"""The generic Jacobian engine on every family it is tested on, and beside the closed form on one layer.

    PYTHONPATH=. python benchmarks/bench_generic_engine.py [--samples 8] [--threads 1] [--families granite olmoe]

Every family is a random model of SmolLM2-135M's layer shape (d = 576, MLP 1536, 9 heads,
3 KV heads; MoE families 8 experts of width 768, 2 per token), three layers; the timed layer is
layer 1. Printed per family: s/Jacobian of the generic engine (jacrev through the transformers
layer) single token and in context (the last of 32 tokens), and the float64 check's relative
error. Then a Llama layer of the same shape, generic engine beside the closed form (Block and
its in-context form) on the same states: best of 5 interleaved rounds, ratios within the run.
Last, the preparation self-check's wall time on a whole SmolLM2-135M-shaped model (30 layers,
49152-token vocabulary) of a generic family.
Machines here are shared: compare ratios within one run, not seconds across runs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from resdyn.dynamics.jacobians import single_token_jacobians  # noqa: E402
from resdyn.models.architectures import architecture_of  # noqa: E402
from resdyn.models.block import Block  # noqa: E402
from resdyn.models.generic import DecoderLayer  # noqa: E402
from resdyn.models.in_context import in_context_jacobians  # noqa: E402
from resdyn.models.sources import with_decoder_alias  # noqa: E402
from tiny_models import GENERIC_CONFIGS, tiny_config  # noqa: E402
from timing import interleaved_best  # noqa: E402

SHAPE = dict(hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3, head_dim=64,
             vocab_size=1000, num_hidden_layers=3, max_position_embeddings=512)
MOE = {"olmoe": dict(num_experts=8, num_experts_per_tok=2, intermediate_size=768),
       "mixtral": dict(num_local_experts=8, num_experts_per_tok=2, intermediate_size=768),
       "qwen3_moe": dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=768, mlp_only_layers=[])}
FAMILIES = [*GENERIC_CONFIGS, "gpt_neox", "phi3", "qwen3_moe"]
CONTEXT = 32


def model_of(model_type: str, **extra):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**{**tiny_config(model_type), **SHAPE, **MOE.get(model_type, {}), **extra})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    model.config._experts_implementation = "eager"
    return with_decoder_alias(model)


def states_of(model, n: int) -> torch.Tensor:
    """Layer 1's input states (n, d) of a random prompt, as the model computes them."""
    ids = torch.randint(3, model.config.vocab_size, (1, n), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]


def family_row(model_type: str, samples: int) -> tuple[str, float, float, float]:
    model = model_of(model_type)
    x = states_of(model, CONTEXT)
    layer = DecoderLayer(model, 1)
    single, context = interleaved_best([lambda: layer.single_token_jacobians(x[:samples]), lambda: layer.in_context_jacobian(x)],
                              rounds=2)
    ref = DecoderLayer(model, 1, torch.float64).single_token_jacobians(x[:2].double())
    err = float((layer.single_token_jacobians(x[:2]).double() - ref).abs().max() / ref.abs().max())
    return model_type, single / samples, context, err


def closed_form_rows(samples: int):
    model = model_of("llama")
    x = states_of(model, CONTEXT)
    block, generic = Block(model, 1, architecture_of("llama")), DecoderLayer(model, 1)
    prefix = x[:-1]
    ctx = block.context(prefix)
    t = interleaved_best([lambda: single_token_jacobians(block, x[:samples]),
                 lambda: generic.single_token_jacobians(x[:samples]),
                 lambda: in_context_jacobians(block, x[-1:], [ctx]),
                 lambda: generic.in_context_jacobian(x)])
    return [("single token", t[0] / samples, t[1] / samples), ("in context (32 tokens)", t[2], t[3])]


def self_check_seconds(model_type: str = "smollm3") -> float:
    from resdyn.models.self_check import check_decoder

    shape = dict(num_hidden_layers=30, vocab_size=49152, max_position_embeddings=2048,
                 no_rope_layers=[1] * 30, layer_types=["full_attention"] * 30)
    model = model_of(model_type, **shape)
    start = time.perf_counter()
    check_decoder(model)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="*", default=FAMILIES)
    parser.add_argument("--no-self-check", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"SmolLM2-135M layer shape (d = 576), layer 1, float32, threads={args.threads}, samples={args.samples}")
    print(f"{'family':<14}{'s/J single token':>18}{'s/J in context':>16}{'rel err vs f64':>16}")
    for family in args.families:
        name, single, context, err = family_row(family, args.samples)
        print(f"{name:<14}{single:>18.4f}{context:>16.4f}{err:>16.1e}")
    print(f"\nllama layer, same shape and states: {'closed form':>12}{'generic':>10}{'generic / closed':>18}")
    for label, closed, generic in closed_form_rows(args.samples):
        print(f"{label:<36}{closed:>12.4f}{generic:>10.4f}{generic / closed:>17.1f}×")
    if not args.no_self_check:
        print(f"\nself-check at preparation, smollm3 at SmolLM2-135M's shape (30 layers, 49152 vocab): "
              f"{self_check_seconds():.1f} s")


if __name__ == "__main__":
    main()
