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
from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs
from resdyn.models.generic import DecoderLayer


def _kv_source(model, layer: int) -> int | None:
    return kv_source_of(model.config, layer) if model.config.model_type == "gemma4_text" else None


def engine_layer_stats(model, layer: int, protocol: str, activations, token_ids: list[list[int]] | None,
                       batch_size: int, where: str, progress=None) -> dict[str, np.ndarray]:
    """The layer file's arrays for a gemma4_text or generic-engine model (eval, float32).

    activations (N, 2L, d), possibly memory-mapped, already cut to the samples wanted;
    token_ids: those samples' token ids (needed for Gemma 4, and for the in-context protocol).
    """
    engine = engine_of(model.config.model_type)
    if engine == "block":
        raise ValueError(f"{model.config.model_type} has a Block closed form; use resdyn.jacobians")
    j = _kv_source(model, layer)
    device = next(model.parameters()).device
    acc = JacobianAccumulator(d=activations.shape[-1])
    if protocol == "single_token":
        if engine == "gemma4":
            block = Gemma4Block(model, layer, source=None if j is None else Gemma4Block(model, j))
            last = [ids[-1] for ids in token_ids]
            e_all = per_layer_inputs(model, last, layer)
        else:
            block = DecoderLayer(model, layer)
        for start in range(0, len(activations), batch_size):
            ids = np.arange(start, min(start + batch_size, len(activations)))
            h = torch.from_numpy(np.ascontiguousarray(activations[ids, 2 * layer])).to(device)
            if engine == "gemma4":
                kv = None if j is None else torch.from_numpy(np.ascontiguousarray(activations[ids, 2 * j])).to(device)
                e = None if e_all is None else e_all[torch.as_tensor(ids, device=device)]
                jac = block.single_token_jacobian(h, e, kv)
            else:
                jac = block.single_token_jacobians(h)
            acc.add(jac, ids, where)
            if progress is not None:
                progress(len(ids))
        return acc.result()
    if protocol != "in_context":
        raise ValueError(f"unknown protocol {protocol!r}; use single_token or in_context")
    source = None if j is None else DecoderLayer(model, j)
    block = DecoderLayer(model, layer, kv_source=source)
    for i, ids in enumerate(token_ids):
        e = per_layer_inputs(model, ids, layer) if engine == "gemma4" else None
        kv = None if j is None else prefix_states(model, ids, j)
        acc.add(block.in_context_jacobian(prefix_states(model, ids, layer), e, kv)[None], [i], where)
        if progress is not None:
            progress()
    return acc.result()
