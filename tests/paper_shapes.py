"""The paper's model shapes (config/paper.yaml's runs) as transformers configs, and fake-weight
models of them on the simulated device (tests/simulated_cuda.py): no weights are read or made.

The configs copy each hub model's width, MLP width, heads and vocabulary; `n_layers` shortens the
stack (a layer's shapes do not depend on depth) where a test needs a forward pass but not the depth.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

LLAMA31_8B = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=128256,
                  rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=131072, hidden_act="silu",
                  bos_token_id=128000, eos_token_id=128001)
OLMO3_7B = dict(model_type="olmo3", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=32, head_dim=128, vocab_size=100278,
                rms_norm_eps=1e-6, sliding_window=4096, max_position_embeddings=65536, hidden_act="silu",
                layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"] * 8)
_GEMMA4_TYPES = (["sliding_attention"] * 5 + ["full_attention"]) * 7
GEMMA4_E4B = dict(model_type="gemma4_text", hidden_size=2560, intermediate_size=10240, num_hidden_layers=42,
                  num_attention_heads=8, num_key_value_heads=2, head_dim=256, global_head_dim=512,
                  num_global_key_value_heads=2, attention_k_eq_v=True, hidden_size_per_layer_input=256,
                  vocab_size=262144, vocab_size_per_layer_input=262144, num_kv_shared_layers=18,
                  sliding_window=512, layer_types=_GEMMA4_TYPES, use_double_wide_mlp=True,
                  hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, max_position_embeddings=131072)
# the generic (autodiff) engine at the paper's width: a Phi-3 layer widened to d = 4096
GENERIC_4096 = dict(model_type="phi3", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=32, vocab_size=32064, sliding_window=None,
                    partial_rotary_factor=1.0, max_position_embeddings=4096, hidden_act="silu")

PAPER_SHAPES = {"llama31_8b": LLAMA31_8B, "olmo3_7b": OLMO3_7B, "gemma4_e4b": GEMMA4_E4B, "generic_4096": GENERIC_4096}


def shortened(cfg: dict, n_layers: int | None) -> dict:
    """cfg with only its first n_layers layers (None: all), KV sharing kept inside the stack."""
    if n_layers is None:
        return dict(cfg)
    out = dict(cfg, num_hidden_layers=n_layers)
    if "layer_types" in cfg:
        out["layer_types"] = cfg["layer_types"][:n_layers]
    if cfg.get("num_kv_shared_layers"):
        out["num_kv_shared_layers"] = min(cfg["num_kv_shared_layers"], n_layers // 2)
    return out


def hf_config(cfg: dict):
    return AutoConfig.for_model(**cfg)


def fake_model(cfg: dict, device: torch.device):
    """The model of `cfg` with fake (data-free) float32 weights on `device`; call inside simulated_cuda()."""
    from transformers.initialization import no_init_weights

    from resdyn.models.sources import with_decoder_alias

    with torch.device(device), no_init_weights():  # fake weights: initialising them would only cost time
        model = AutoModelForCausalLM.from_config(hf_config(cfg), attn_implementation="eager", dtype=torch.float32)
    model = model.eval()

    return with_decoder_alias(model)


def prepared_folder(folder: Path, cfg: dict) -> Path:
    """A prepared-model folder holding config.json alone (the weights come from `fake_layer_tensors`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(cfg).to_dict()))
    return folder


def fake_layer_tensors(cfg: dict):
    """A stand-in for sources.layer_tensors(path, layer, device): the layer's tensors, fake, on `device`."""
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(hf_config(cfg), attn_implementation="eager", dtype=torch.float32)
    layers = skeleton.model.layers if hasattr(skeleton, "model") else skeleton.base_model.layers

    def layer_tensors(path, layer_idx, device="cpu"):
        return {name: torch.empty(t.shape, dtype=t.dtype, device=device)
                for name, t in layers[layer_idx].state_dict().items()}

    return layer_tensors
