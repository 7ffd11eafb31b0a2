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


def tiny_config(model_type: str) -> dict:
    return {"model_type": model_type, **COMMON, **TINY_CONFIGS[model_type]}


def tiny_model(model_type: str, seed: int = 0):
    cfg = AutoConfig.for_model(**tiny_config(model_type))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()
