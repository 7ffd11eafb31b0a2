"""One block's weights straight from a prepared folder, for the single-token protocol.

A single-token Jacobian job needs one block's weight matrices, its norms' epsilon and its
MLP activation, nothing else. Reading them from config.json and the safetensors files
skips importing transformers and building a model skeleton, which cost several CPU
seconds per job, more than the job's arithmetic on a small model. The result duck-types
what `Block` reads from a transformers model; attention scaling, RoPE and sliding windows
are left out (a lone token attends only to itself), so such a block refuses a context.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.sources import ModelSourceError, layer_tensors, prepared_config

# config `hidden_act` / `hidden_activation` -> the function transformers' ACT2FN gives
ACTIVATIONS = {
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "gelu_pytorch_tanh": partial(F.gelu, approximate="tanh"),
    "gelu_new": partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
}


# Errors reading a prepared folder are the model sources' errors.
LayerFileError = ModelSourceError


def _activation(cfg: dict):
    name = cfg.get("hidden_activation") or cfg.get("hidden_act")  # Gemma names it hidden_activation
    if name not in ACTIVATIONS:
        raise LayerFileError(f"MLP activation {name!r} is not known to the single-token loader; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _modules(tensors: dict[str, torch.Tensor], eps: float) -> SimpleNamespace:
    """Nested namespaces from dotted names: 'self_attn.q_proj.weight' -> layer.self_attn.q_proj.weight."""
    root = SimpleNamespace()
    for name, tensor in tensors.items():
        *path, leaf = name.split(".")
        node = root
        for part in path:
            if not hasattr(node, part):
                setattr(node, part, SimpleNamespace(bias=None, eps=eps))
            node = getattr(node, part)
        setattr(node, leaf, tensor)
    return root


def single_token_block(path, layer_idx: int, device: torch.device | str = "cpu", dtype=torch.float32) -> Block:
    """`Block` of layer `layer_idx` of a prepared folder, usable for single-token Jacobians only."""
    path = Path(path)
    cfg = prepared_config(path)
    cfg = cfg.get("text_config", cfg)
    arch = architecture_of(cfg["model_type"])
    n_layers = int(cfg["num_hidden_layers"])
    if not 0 <= layer_idx < n_layers:
        raise LayerFileError(f"layer {layer_idx} out of range: {path} has {n_layers} layers")
    layer = _modules(layer_tensors(path, layer_idx, device), float(cfg["rms_norm_eps"]))
    layer.self_attn.scaling = None  # no query-key product for a lone token
    layer.self_attn.sliding_window = None
    layer.mlp.act_fn = _activation(cfg)
    cfg.setdefault("num_key_value_heads", cfg["num_attention_heads"])
    model = SimpleNamespace(config=SimpleNamespace(**cfg), model=SimpleNamespace(layers={layer_idx: layer}))
    return Block(model, layer_idx, arch, dtype)
