"""Tiny random Ouro and Huginn folders with the published config fields and weight names."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

OURO_CONFIG = dict(
    architectures=["OuroForCausalLM"], model_type="ouro", vocab_size=300, hidden_size=16,
    intermediate_size=24, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
    head_dim=4, hidden_act="silu", max_position_embeddings=64, rms_norm_eps=1e-6,
    rope_theta=10000.0, rope_scaling=None, total_ut_steps=4, early_exit_threshold=1.0,
    tie_word_embeddings=False, use_sliding_window=False, sliding_window=3,
    layer_types=["full_attention", "sliding_attention", "full_attention"],
    bos_token_id=1, eos_token_id=2,
)

HUGINN_CONFIG = dict(
    architectures=["RavenForCausalLM"], model_type="huginn_raven", n_embd=16, n_heads=4,
    n_layers=5, block_size=64, vocab_size=300, padding_multiple=1, tie_embeddings=True,
    intermediate_size=24, bias=False, norm_eps=1e-6, n_layers_in_prelude=1,
    n_layers_in_recurrent_block=2, n_layers_in_coda=2, mean_recurrence=32,
    mean_backprop_depth=8, qk_bias=True, rope_base=50000, bos_token_id=1, eos_token_id=2,
    num_key_value_heads=4, head_dim=4,
    # stored in the published config.json and read back over the derived values (sqrt(2/(5 n_embd)), sqrt(n_embd))
    init_values={"std": 0.05, "out_proj": 0.01, "embedding": 0.05, "embed_scale": 2.5},
)


def _rand(gen, *shape, scale=0.3):
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def _norm(gen, d):
    return 1.0 + 0.2 * torch.randn(d, generator=gen, dtype=torch.float64)


def ouro_weights(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    d, hd, h, hkv, inter = (cfg[k] for k in ("hidden_size", "head_dim", "num_attention_heads",
                                              "num_key_value_heads", "intermediate_size"))
    w = {"model.embed_tokens.weight": _rand(g, cfg["vocab_size"], d, scale=1.0),
         "model.norm.weight": _norm(g, d),
         "model.early_exit_gate.weight": _rand(g, 1, d), "model.early_exit_gate.bias": _rand(g, 1),
         "lm_head.weight": _rand(g, cfg["vocab_size"], d)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w |= {p + "self_attn.q_proj.weight": _rand(g, h * hd, d), p + "self_attn.k_proj.weight": _rand(g, hkv * hd, d),
              p + "self_attn.v_proj.weight": _rand(g, hkv * hd, d), p + "self_attn.o_proj.weight": _rand(g, d, h * hd),
              p + "mlp.gate_proj.weight": _rand(g, inter, d), p + "mlp.up_proj.weight": _rand(g, inter, d),
              p + "mlp.down_proj.weight": _rand(g, d, inter)}
        for n in ("input_layernorm", "input_layernorm_2", "post_attention_layernorm", "post_attention_layernorm_2"):
            w[p + n + ".weight"] = _norm(g, d)
    return w


def huginn_weights(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    d, h, inter = cfg["n_embd"], cfg["n_heads"], cfg["intermediate_size"]
    hd = d // h
    w = {"transformer.wte.weight": _rand(g, cfg["vocab_size"], d, scale=0.2),
         "transformer.adapter.weight": _rand(g, d, 2 * d, scale=0.25),
         "transformer.ln_f.weight": _norm(g, d), "lm_head.weight": _rand(g, cfg["vocab_size"], d),
         "freqs_cis": torch.zeros(1, 64, 1, hd // 2, 2, dtype=torch.float64)}  # a persistent buffer in the reference
    blocks = [("prelude", cfg["n_layers_in_prelude"]), ("core_block", cfg["n_layers_in_recurrent_block"]),
              ("coda", cfg["n_layers_in_coda"])]
    for part, count in blocks:
        for i in range(count):
            p = f"transformer.{part}.{i}."
            w |= {p + "attn.Wqkv.weight": _rand(g, 3 * d, d), p + "attn.qk_bias": _rand(g, 2, 1, h, hd),
                  p + "attn.proj.weight": _rand(g, d, d), p + "mlp.fc.weight": _rand(g, 2 * inter, d),
                  p + "mlp.proj.weight": _rand(g, d, inter)}
            for j in (1, 2, 3, 4):
                w[p + f"norm_{j}.weight"] = _norm(g, d)
    return w


def save_folder(folder: Path, cfg: dict, weights: dict, shards: int = 2, tokenizer: bool = True) -> Path:
    """config.json + the weights split over `shards` safetensors files (+ a byte tokenizer)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    names = sorted(weights)
    for s in range(shards):
        part = {n: weights[n].contiguous() for n in names[s::shards]}
        save_file(part, str(folder / f"model-{s + 1:05d}-of-{shards:05d}.safetensors"))
    if tokenizer:
        from resdyn.models.sources import _byte_tokenizer

        _byte_tokenizer().save_pretrained(str(folder))
    return folder


def tiny_ouro(folder: Path, seed: int = 0) -> Path:
    return save_folder(folder, OURO_CONFIG, ouro_weights(OURO_CONFIG, seed))


def tiny_huginn(folder: Path, seed: int = 0) -> Path:
    return save_folder(folder, HUGINN_CONFIG, huginn_weights(HUGINN_CONFIG, seed))
