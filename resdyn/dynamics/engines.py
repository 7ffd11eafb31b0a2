"""A layer's Jacobian statistics by engine: a Jacobian job's choice of engine and protocol, and the
engines outside `Block` (Gemma 4's closed form and the generic one).

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.2, for the architectures without a closed form.

Same streamed statistics as `resdyn.dynamics.jacobians` (JacobianAccumulator), plus the inputs these
layers read besides h: Gemma 4's per-layer input of each sample's token(s) and, in its
KV-shared layers, the reused layer's input states of the same sample (snapshot 2ℓ' of the
activations for lone tokens; that layer's prefix states in context).

`precision` is jacobians.precision, as for `Block`: "single" (float32; σ_min below its
resolution censored), "double" (float64 throughout) or "auto" (float32, and the samples whose
σ_min float32 cannot resolve again in float64, by the same engine on float64 weights).

`layer_stats_by_engine` is the one entry of a Jacobian job: it picks the engine for the model
type (`Block`'s closed form, Gemma 4's, or autodiff through the layer) and the protocol
(single token: each layer's weights alone; in context: one forward pass of the whole model
per sample for all the job's layers) and yields each layer's file arrays.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from resdyn.core.device import in_batches_that_fit
from resdyn.core.logs import Progress
from resdyn.data.activations import block_inputs
from resdyn.data.corpus import read_jsonl
from resdyn.data.tokens import encode_all
from resdyn.dynamics.jacobians import JacobianAccumulator, check_precision, single_token_layer_stats
from resdyn.dynamics.protocols import PROTOCOLS, protocol_layer_arrays
from resdyn.models.architectures import engine_of
from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs, per_layer_inputs_from_folder
from resdyn.models.generic import DecoderLayer
from resdyn.models.layer_files import single_token_block
from resdyn.models.sources import load_layer, load_prepared, load_tokenizer, prepared_config


def layer_stats_by_engine(path, layers: list[int], protocol: str, activations, corpus_path, *, run: str,
                          bos: str = "auto", n_samples: int | None = None, batch_size: int = 32,
                          precision: str = "single", device="cpu",
                          log: logging.Logger | None = None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(layer, layer-file arrays) for each of `layers` of run `run`'s prepared folder `path`, in order.

    activations (N, 2L, d), possibly memory-mapped; the first `n_samples` samples (None: all)
    are used. The corpus (`corpus_path`, JSON lines) is tokenized, with `bos` as
    resdyn.tokens.encode_all, only where the tokens are needed: in context (the earlier
    positions' states come from a forward pass of the whole model, loaded to `device`) and for
    Gemma 4 (its per-layer input of each sample's last token). Single token, each layer is
    yielded as soon as it is done, so a job of several layers holds one at a time.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"runs.{run}.protocol = {protocol!r}: use one of {PROTOCOLS}")
    check_precision(precision)
    log = log or logging.getLogger("resdyn")
    engine = engine_of(prepared_config(Path(path))["model_type"])  # block, gemma4 or generic
    model = token_ids = None
    if protocol != "single_token":  # the earlier tokens' states come from a forward pass of the full model
        model, tokenizer = load_prepared(path, device=device)
    elif engine == "gemma4":  # Gemma 4 reads each sample's last token (its per-layer input)
        tokenizer = load_tokenizer(path)
    if protocol != "single_token" or engine == "gemma4":
        token_ids = encode_all(tokenizer, read_jsonl(corpus_path), bos)[:n_samples]

    if protocol == "single_token":
        for layer in layers:
            where = f"run {run}, layer {layer}"
            if engine == "block":  # only the block's weights, read without importing transformers
                states = activations[:n_samples, 2 * layer]
                block = single_token_block(path, layer, device=device)
                progress = Progress(log, len(states), f"{where} (single_token) Jacobians")
                yield layer, single_token_layer_stats(block, states, batch_size, where, progress, precision)
            else:  # Gemma 4's closed form, or autodiff through the layer
                progress = Progress(log, len(activations[:n_samples]), f"{where} ({protocol}) Jacobians")
                yield layer, engine_layer_stats(path, layer, protocol, activations[:n_samples], token_ids,
                                                batch_size, where, progress, device=device, precision=precision)
        return
    # in context: samples outer, one forward pass per sample gives every layer's prefix states
    progress = Progress(log, len(token_ids), f"run {run}, layers {layers[0]}-{layers[-1]} (in_context) samples")
    if engine == "block":
        arrays, _ = protocol_layer_arrays(model, token_ids, run, progress, precision, layers, protocols=("in_context",))
        results = arrays["in_context"]
    else:  # autodiff through the layers
        results = engine_in_context_stats(model, layers, token_ids, f"run {run}", progress, precision)
    yield from zip(layers, results)


def _kv_source(config, layer: int) -> int | None:
    return kv_source_of(config, layer) if config.model_type == "gemma4_text" else None


def _dtypes(precision: str) -> tuple[torch.dtype, torch.dtype | None]:
    """(dtype of the Jacobians, dtype they are made again in for unresolved samples, or None)."""
    check_precision(precision)
    if precision == "double":
        return torch.float64, None
    return torch.float32, torch.float64 if precision == "auto" else None


def engine_layer_stats(path, layer: int, protocol: str, activations, token_ids: list[list[int]] | None,
                       batch_size: int, where: str, progress=None, model=None, device="cpu",
                       precision: str = "single") -> dict[str, np.ndarray]:
    """The layer file's arrays for a gemma4_text or generic-engine model in prepared folder `path`.

    activations (N, 2L, d), possibly memory-mapped, already cut to the samples wanted;
    token_ids: those samples' token ids (needed for Gemma 4, and for the in-context protocol).
    Single token: only this layer's weights (and the reused layer's) are loaded, and Gemma 4's
    per-layer inputs are read for these tokens only. In context: `model`, the loaded model, gives
    every position's states (`engine_in_context_stats` does several layers per forward pass).
    """
    if protocol == "single_token":
        return _single_token_stats(path, layer, activations, token_ids, batch_size, where, progress, device, precision)
    if protocol != "in_context":
        raise ValueError(f"unknown protocol {protocol!r}; use single_token or in_context")
    if model is None:
        raise ValueError("the in-context protocol needs the loaded model (earlier positions' states)")
    return engine_in_context_stats(model, [layer], token_ids, where, progress, precision)[0]


def engine_in_context_stats(model, layers: list[int], token_ids: list[list[int]], where: str, progress=None,
                            precision: str = "single") -> list[dict[str, np.ndarray]]:
    """The layer files' arrays of `layers`, in that order, in context: samples outer, so one
    forward pass per sample gives every layer's prefix states (and a KV-shared layer's source)."""
    engine = _engine(model.config)
    main_dtype, again_dtype = _dtypes(precision)

    def layer_pair(layer, dtype):
        j = _kv_source(model.config, layer)
        return DecoderLayer(model, layer, dtype, kv_source=None if j is None else DecoderLayer(model, j, dtype))

    blocks = [layer_pair(layer, main_dtype) for layer in layers]
    blocks64 = [None if again_dtype is None else layer_pair(layer, again_dtype) for layer in layers]
    accs = [JacobianAccumulator(d=model.config.hidden_size) for _ in layers]
    for i, ids in enumerate(token_ids):
        states = block_inputs(model, ids)  # (L, T, d): every block's input at every position
        for layer, block, block64, acc in zip(layers, blocks, blocks64, accs):
            e = per_layer_inputs(model, ids, layer) if engine == "gemma4" else None
            j = _kv_source(model.config, layer)
            kv = None if j is None else states[j]
            again = None if block64 is None else (
                lambda rows, b=block64, x=states[layer], e=e, kv=kv: b.in_context_jacobian(x, e, kv)[None])
            acc.add(block.in_context_jacobian(states[layer], e, kv)[None], [i], f"{where}, layer {layer}", again)
        if progress is not None:
            progress()
    return [acc.result() for acc in accs]


def _engine(config) -> str:
    engine = engine_of(config.model_type)
    if engine == "block":
        raise ValueError(f"{config.model_type} has a Block closed form; use resdyn.dynamics.jacobians")
    return engine


def _single_token_block(skeleton, source, layer: int, j: int | None, dtype):
    """The layer's single-token Jacobian function (h, e, kv) -> (B, d, d) in `dtype`."""
    if engine_of(skeleton.config.model_type) == "gemma4" and not skeleton.config.enable_moe_block:  # closed form
        return Gemma4Block(skeleton, layer, dtype, source=None if j is None else Gemma4Block(source, j, dtype)).single_token_jacobian
    # generic types, and Gemma 4 with MoE blocks (26B-A4B): autodiff through the layer
    return DecoderLayer(skeleton, layer, dtype, kv_source=None if j is None else DecoderLayer(source, j, dtype)).single_token_jacobians


def _single_token_stats(path, layer, activations, token_ids, batch_size, where, progress, device, precision):
    skeleton = load_layer(path, layer, device)
    engine = _engine(skeleton.config)
    j = _kv_source(skeleton.config, layer)
    source = None if j is None else load_layer(path, j, device)
    main_dtype, again_dtype = _dtypes(precision)
    jacobians = _single_token_block(skeleton, source, layer, j, main_dtype)
    jacobians64 = None if again_dtype is None else _single_token_block(skeleton, source, layer, j, again_dtype)
    e_all = None
    if engine == "gemma4":
        e_all = per_layer_inputs_from_folder(path, [ids[-1] for ids in token_ids], layer, device)
    acc = JacobianAccumulator(d=activations.shape[-1])
    rows_of = lambda t, rows: None if t is None else t[torch.as_tensor(rows, device=t.device)]  # noqa: E731

    def one_batch(ids):
        h = torch.from_numpy(np.ascontiguousarray(activations[ids, 2 * layer])).to(device)
        kv = None if j is None else torch.from_numpy(np.ascontiguousarray(activations[ids, 2 * j])).to(device)
        e = rows_of(e_all, ids)
        again = None if jacobians64 is None else (
            lambda rows: jacobians64(rows_of(h, rows), rows_of(e, rows), rows_of(kv, rows)))
        acc.add(jacobians(h, e, kv), ids, where, again)
        if progress is not None:
            progress(len(ids))

    in_batches_that_fit(len(activations), batch_size, one_batch, where)
    return acc.result()
