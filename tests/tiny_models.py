"""Tiny randomly initialised models of every supported architecture, for tests.

Weights are perturbed after initialisation so that norm scales, biases and q/k
norms are not at their neutral values (a bug there must show).
"""
from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM

COMMON = dict(
    vocab_size=300,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=64,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)

# model_type -> extra config (sliding windows short enough to matter on 9 tokens)
TINY_CONFIGS = {
    "llama": {},
    "mistral": {"sliding_window": None},
    "qwen2": {},
    "qwen3": {},
    "gemma2": {"sliding_window": 4, "query_pre_attn_scalar": 8, "attn_logit_softcapping": 5.0},
    "gemma3_text": {
        "sliding_window": 4,
        "query_pre_attn_scalar": 8,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
    },
    "olmo2": {},
    "olmo3": {"sliding_window": 4, "layer_types": ["sliding_attention", "full_attention", "full_attention"]},
}


# Types without a `Block` adapter (Gemma 4's own closed form; the generic autodiff engine).
DECODER_CONFIGS = {
    # sliding and global layers (global: k = v projection, 16-dim heads, 1 KV head, partial RoPE),
    # the PLE branch, and KV sharing: layers 3 (sliding) and 4 (global) reuse layers 2 and 1.
    "gemma4_text": {
        "sliding_window": 4,
        "num_hidden_layers": 5,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                        "full_attention"],
        "num_kv_shared_layers": 2,
        "global_head_dim": 16,
        "num_global_key_value_heads": 1,
        "attention_k_eq_v": True,
        "hidden_size_per_layer_input": 8,
        "vocab_size_per_layer_input": 300,
        "use_double_wide_mlp": True,
        "hidden_activation": "gelu_pytorch_tanh",
    },
    "gpt_neox": {"rotary_pct": 0.5, "use_parallel_residual": True, "hidden_act": "gelu"},
    "phi3": {"sliding_window": None, "partial_rotary_factor": 1.0},
    # layer 1 is dense (mlp_only_layers), layers 0 and 2 route each token to 2 of 4 experts
    "qwen3_moe": {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 24, "decoder_sparse_step": 1,
                  "mlp_only_layers": [1], "norm_topk_prob": True},
}


# Families with no listed adapter: the generic engine, its pre-MLP hook read by rule, the self-check.
# Windows of 4 tokens so that sliding layers matter on 9-12 tokens.
GENERIC_CONFIGS = {
    # residual, attention and embedding multipliers
    "granite": {"residual_multiplier": 0.7, "attention_multiplier": 0.3, "embedding_multiplier": 2.0,
                "logits_scaling": 1.5, "attention_bias": True},
    # LayerNorm with biases; the config's window on every layer (no layer_types)
    "starcoder2": {"sliding_window": 4, "use_bias": True},
    # MoE: 2 of 4 experts per token, q/k norms over all heads
    "olmoe": {"num_experts": 4, "num_experts_per_tok": 2, "norm_topk_prob": False},
    # MoE and a sliding window on every layer
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 4},
    # attention and MLP in parallel from one LayerNorm (float32 upcast inside), per-head q/k LayerNorms
    "cohere": {"use_qk_norm": True, "logit_scale": 0.5},
    # a NoPE layer (layer 1) between RoPE layers
    "smollm3": {"no_rope_layers": [1, 0, 1], "no_rope_layer_interval": 2},
    # post-attention and post-MLP norms around a pre-norm block, partial RoPE, q/k/v biases
    "glm4": {"rope_parameters": {"rope_theta": 10000.0, "partial_rotary_factor": 0.5, "rope_type": "default"}},
    # post-norm (as OLMo 2); sliding layers with RoPE, a full layer without
    "exaone4": {"sliding_window": 4, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]},
}


def tiny_config(model_type: str) -> dict:
    extra = {**TINY_CONFIGS, **DECODER_CONFIGS, **GENERIC_CONFIGS}[model_type]
    return {"model_type": model_type, **COMMON, **extra}


def _perturbed(model):
    """Every parameter moved off its neutral initial value (unit norms, zero biases) by 0.05·N(0, 1)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def tiny_model(model_type: str, seed: int = 0):
    cfg = AutoConfig.for_model(**tiny_config(model_type))
    torch.manual_seed(seed)
    model = _perturbed(AutoModelForCausalLM.from_config(cfg, attn_implementation="eager"))
    with torch.no_grad():
        for layer in getattr(model, "model", model.base_model).layers:
            if hasattr(layer, "layer_scalar"):  # Gemma 4: a buffer, 1 at initialisation
                layer.layer_scalar.fill_(0.8)
    return model.eval()


def layer_io(model, tokens):
    """Every layer's input and output states (T, d) in the model's own forward pass."""
    ins, outs, hooks = {}, {}, []
    for i, layer in enumerate(model.model.layers):
        hooks.append(layer.register_forward_pre_hook(
            lambda m, a, k, i=i: ins.__setitem__(i, (a[0] if a else k["hidden_states"])[0].clone()), with_kwargs=True))
        hooks.append(layer.register_forward_hook(
            lambda m, a, o, i=i: outs.__setitem__(i, (o[0] if isinstance(o, tuple) else o)[0].clone())))
    with torch.no_grad():
        model.model(input_ids=torch.tensor([tokens]), use_cache=False)
    for h in hooks:
        h.remove()
    return ins, outs


def tiny_gemma4_moe():
    """Gemma 4 with MoE blocks (as 26B-A4B), weights perturbed, float32, eager attention."""
    cfg = AutoConfig.for_model(**{**tiny_config("gemma4_text"), "enable_moe_block": True, "num_experts": 4,
                                  "top_k_experts": 2, "moe_intermediate_size": 16})
    torch.manual_seed(0)
    return _perturbed(AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")).eval()
