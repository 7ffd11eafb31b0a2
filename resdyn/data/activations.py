"""Last-token residual states before attention and before the MLP of every block.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.1 (last-token activations) and A.4 (the 2L sub-layer snapshots).

Output layout (the public contract): float32 (N, 2L, d); index 2ℓ is the input
of block ℓ (pre-attention), 2ℓ+1 the residual after its attention step
(pre-MLP). Samples are batched in order of length with left padding, so the
last position of every row is that sample's last real token.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from resdyn.data.health import LossTally
from resdyn.models.architectures import pre_mlp_module


def _hidden_from(args, kwargs) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


@contextmanager
def residual_hooks(model, store: Callable[[int, torch.Tensor], None]):
    """Call store(snapshot_index, hidden_states) at every pre-attention and pre-MLP point."""
    handles = []
    for i, layer in enumerate(model.model.layers):
        pre_mlp_name = pre_mlp_module(model.config.model_type, layer)  # read from the layer for unlisted types
        pre_attn = lambda mod, args, kwargs, s=2 * i: store(s, _hidden_from(args, kwargs))  # noqa: E731
        pre_mlp = lambda mod, args, kwargs, s=2 * i + 1: store(s, _hidden_from(args, kwargs))  # noqa: E731
        handles.append(layer.register_forward_pre_hook(pre_attn, with_kwargs=True))
        handles.append(getattr(layer, pre_mlp_name).register_forward_pre_hook(pre_mlp, with_kwargs=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Sample indices grouped by similar length (less padding), each group in index order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [sorted(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


def left_padded(ids: list[list[int]], pad_id: int):
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, width - len(x) :] = torch.tensor(x)
        mask[row, width - len(x) :] = 1
    return input_ids, mask


@torch.no_grad()
def extract_last_token(model, token_ids: list[list[int]], batch_size: int = 16, progress=None) -> np.ndarray:
    """(N, 2L, d) float32 last-token residual snapshots."""
    return extract_with_loss(model, token_ids, batch_size, loss_samples=0, progress=progress)[0]


@torch.no_grad()
def extract_with_loss(model, token_ids: list[list[int]], batch_size: int = 16, loss_samples: int = 0,
                      progress=None) -> tuple[np.ndarray, LossTally]:
    """(N, 2L, d) float32 last-token residual snapshots, and the model's next-token loss on the
    first `loss_samples` samples, from the same forward passes (the model-health check)."""
    n_layers, d = model.config.num_hidden_layers, model.config.hidden_size
    out = np.zeros((len(token_ids), 2 * n_layers, d), dtype=np.float32)
    tally = LossTally()
    pad_id = 0
    for batch in length_batches([len(x) for x in token_ids], batch_size):
        captured: dict[int, torch.Tensor] = {}
        with residual_hooks(model, lambda s, h: captured.__setitem__(s, h[:, -1].float().clone())):
            input_ids, mask = (t.to(model.device) for t in left_padded([token_ids[i] for i in batch], pad_id))
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            final = model.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=False)
        rows = [row for row, i in enumerate(batch) if i < loss_samples]
        if rows:
            tally.add(model, final.last_hidden_state[rows], input_ids[rows], mask[rows])
        for s in range(2 * n_layers):
            out[batch, s] = captured[s].cpu().numpy()
        if progress is not None:
            progress(len(batch))
    if not np.isfinite(out).all():
        sample, snapshot, _ = np.argwhere(~np.isfinite(out))[0]
        raise FloatingPointError(f"non-finite activation at sample {sample}, snapshot {snapshot}")
    return out, tally


@torch.no_grad()
def prefix_states(model, token_ids: list[int], layer_idx: int) -> torch.Tensor:
    """Residual states (T, d) at the input of block `layer_idx` for all positions of one sample."""

    class _Stop(Exception):
        pass

    captured = {}

    def grab(mod, args, kwargs):
        captured["h"] = _hidden_from(args, kwargs)[0].float().clone()
        raise _Stop

    handle = model.model.layers[layer_idx].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        model.model(input_ids=torch.tensor([token_ids], device=model.device), use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["h"]


@torch.no_grad()
def block_inputs(model, token_ids: list[int]) -> torch.Tensor:
    """Residual states (L, T, d) at the input of every block, all positions, from one forward pass."""
    n_layers = model.config.num_hidden_layers
    states: dict[int, torch.Tensor] = {}

    def keep(snapshot: int, hidden: torch.Tensor) -> None:
        if snapshot % 2 == 0:  # pre-attention snapshots are the block inputs
            # float32 at least (bf16 models), float64 kept (exact float64 checks)
            states[snapshot // 2] = hidden[0].to(torch.promote_types(hidden.dtype, torch.float32)).clone()

    with residual_hooks(model, keep):
        model.model(input_ids=torch.tensor([token_ids], device=model.device), use_cache=False)
    return torch.stack([states[layer] for layer in range(n_layers)])
