"""A layer's Jacobian statistics by the engines outside `Block`: Gemma 4's closed form and the generic one.

Same streamed statistics as `resdyn.jacobians` (JacobianAccumulator), plus the inputs these
layers read besides h: Gemma 4's per-layer input of each sample's token(s) and, in its
KV-shared layers, the reused layer's input states of the same sample (snapshot 2ℓ' of the
activations for lone tokens; that layer's prefix states in context).
"""
from __future__ import annotations

import numpy as np
import torch

from resdyn.activations import prefix_states
from resdyn.jacobians import JacobianAccumulator
from resdyn.models.architectures import engine_of
from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs, per_layer_inputs_from_folder
from resdyn.models.generic import DecoderLayer
from resdyn.models.sources import load_layer


def _kv_source(config, layer: int) -> int | None:
    return kv_source_of(config, layer) if config.model_type == "gemma4_text" else None


def engine_layer_stats(path, layer: int, protocol: str, activations, token_ids: list[list[int]] | None,
                       batch_size: int, where: str, progress=None, model=None, device="cpu") -> dict[str, np.ndarray]:
    """The layer file's arrays for a gemma4_text or generic-engine model in prepared folder `path`.

    activations (N, 2L, d), possibly memory-mapped, already cut to the samples wanted;
    token_ids: those samples' token ids (needed for Gemma 4, and for the in-context protocol).
    Single token: only this layer's weights (and the reused layer's) are loaded, and Gemma 4's
    per-layer inputs are read for these tokens only. In context: `model`, the loaded model, gives
    every position's states.
    """
    if protocol == "single_token":
        return _single_token_stats(path, layer, activations, token_ids, batch_size, where, progress, device)
    if protocol != "in_context":
        raise ValueError(f"unknown protocol {protocol!r}; use single_token or in_context")
    if model is None:
        raise ValueError("the in-context protocol needs the loaded model (earlier positions' states)")
    engine = _engine(model.config)
    j = _kv_source(model.config, layer)
    acc = JacobianAccumulator(d=activations.shape[-1])
    source = None if j is None else DecoderLayer(model, j)
    block = DecoderLayer(model, layer, kv_source=source)
    for i, ids in enumerate(token_ids):
        e = per_layer_inputs(model, ids, layer) if engine == "gemma4" else None
        kv = None if j is None else prefix_states(model, ids, j)
        acc.add(block.in_context_jacobian(prefix_states(model, ids, layer), e, kv)[None], [i], where)
        if progress is not None:
            progress()
    return acc.result()


def _engine(config) -> str:
    engine = engine_of(config.model_type)
    if engine == "block":
        raise ValueError(f"{config.model_type} has a Block closed form; use resdyn.jacobians")
    return engine


def _single_token_stats(path, layer, activations, token_ids, batch_size, where, progress, device):
    skeleton = load_layer(path, layer, device)
    engine = _engine(skeleton.config)
    j = _kv_source(skeleton.config, layer)
    source = None if j is None else load_layer(path, j, device)
    e_all = None
    if engine == "gemma4":
        e_all = per_layer_inputs_from_folder(path, [ids[-1] for ids in token_ids], layer, device)
    if engine == "gemma4" and not skeleton.config.enable_moe_block:  # the closed form
        block = Gemma4Block(skeleton, layer, source=None if j is None else Gemma4Block(source, j))
        jacobians = block.single_token_jacobian
    else:  # generic types, and Gemma 4 with MoE blocks (26B-A4B): autodiff through the layer
        block = DecoderLayer(skeleton, layer, kv_source=None if j is None else DecoderLayer(source, j))
        jacobians = block.single_token_jacobians
    acc = JacobianAccumulator(d=activations.shape[-1])
    for start in range(0, len(activations), batch_size):
        ids = np.arange(start, min(start + batch_size, len(activations)))
        h = torch.from_numpy(np.ascontiguousarray(activations[ids, 2 * layer])).to(device)
        kv = None if j is None else torch.from_numpy(np.ascontiguousarray(activations[ids, 2 * j])).to(device)
        e = None if e_all is None else e_all[torch.as_tensor(ids, device=e_all.device)]
        acc.add(jacobians(h, e, kv), ids, where)
        if progress is not None:
            progress(len(ids))
    return acc.result()
