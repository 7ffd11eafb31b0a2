"""A transformers decoder as maps on the residual stream of one sample.

The depth maps of Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse:
Finite-Time Lyapunov Analysis of Transformer Forward Passes", Section 2.1.

The protocol is the in-context one: the residual state of a chosen token position
evolves through the layers while every other position keeps the keys and values it has
in the unperturbed forward pass of the sample. Layer l then acts on a token state x as

    x -> x + Attn_l(x | K_l, V_l of the context) -> ... + MLP_l(...)

which is a map R^d -> R^d whose Jacobian is the spine's in-context layer Jacobian. For
the last token this is exactly the full forward pass (causality: no later position
reads it), so a tangent on its state pushed layer by layer equals the JVP of the whole
model with respect to that token's residual state.

The decoder layers of transformers are reused as they are (their attention modules,
norms, MLPs and rotary tables); the context enters through a duck-typed cache whose
``update`` prepends the stored context keys/values, and an explicit additive mask
(causal, plus the sliding window where a layer has one). Each layer is split into its
two residual sublayers (attention, MLP; Gemma's sandwich norms sit inside them), which
is the granularity of the per-sublayer attribution; the final norm is one more map.
Models must be loaded with ``attn_implementation="eager"`` (forward-mode AD does not go
through the fused SDPA kernels).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch

Map = Callable[[torch.Tensor], torch.Tensor]


def check_map_type(model_type: str, where: str) -> None:
    """The maps split a layer into its residual sublayers for the closed-form (`Block`) types
    only: Gemma 4 (per-layer-input branch, layer_scalar, KV-shared layers) and the generic
    types (GPT-NeoX's parallel attention + MLP, ...) have no split here."""
    from resdyn.models.architectures import ARCHITECTURES

    if model_type not in ARCHITECTURES:
        raise NotImplementedError(
            f"{where}: the Lyapunov maps (through depth, loops, generation) support the closed-form types "
            f"{sorted(ARCHITECTURES)}; {model_type!r} has no residual split there. Leave the run out of "
            f"lyapunov.runs and token_trajectories.runs"
        )


def decoder_core(model):
    """The decoder (embed_tokens, layers, norm, rotary_emb) inside a causal-LM model."""
    core = getattr(model, "model", model)
    core = getattr(core, "language_model", core)
    for attr in ("embed_tokens", "layers", "norm", "rotary_emb"):
        if not hasattr(core, attr):
            raise TypeError(f"{type(model).__name__}: decoder has no `{attr}`; unsupported architecture")
    return core


class _ContextKV:
    """Cache stand-in: returns the stored context keys/values followed by the new ones."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        self.keys, self.values = keys, values

    def update(self, key_states, value_states, layer_idx=None, *args, **kwargs):
        b = key_states.shape[0]
        k = torch.cat([self.keys.expand(b, -1, -1, -1).to(key_states.dtype), key_states], dim=-2)
        v = torch.cat([self.values.expand(b, -1, -1, -1).to(value_states.dtype), value_states], dim=-2)
        return k, v


class _Recorder:
    """Cache stand-in for a full-sequence pass: keeps the layer's keys and values."""

    def __init__(self):
        self.keys = self.values = None

    def update(self, key_states, value_states, layer_idx=None, *args, **kwargs):
        self.keys, self.values = key_states.detach(), value_states.detach()
        return key_states, value_states


def _residual_sublayers(layer) -> list[tuple[str, Callable]]:
    """The layer as two residual maps, each ``(kind, fn(x, attend))``.

    ``attend(h)`` runs the layer's attention on the normed input h with the right
    context; the norms are the layer's own modules.
    """
    if hasattr(layer, "layer_scalar"):  # would pass for Gemma 3's sandwich below, and be wrong
        raise NotImplementedError(f"{type(layer).__name__}: Gemma 4's per-layer-input branch, layer_scalar and "
                                  "KV-shared layers have no residual split in the Lyapunov maps")
    if hasattr(layer, "pre_feedforward_layernorm") and hasattr(layer, "post_feedforward_layernorm"):
        # Gemma 2/3 sandwich: x + post_norm(Attn(in_norm(x))), x + post_ff(MLP(pre_ff(x)))
        def attn(x, attend):
            return x + layer.post_attention_layernorm(attend(layer.input_layernorm(x)))

        def mlp(x, attend):
            return x + layer.post_feedforward_layernorm(layer.mlp(layer.pre_feedforward_layernorm(x)))

    elif hasattr(layer, "input_layernorm") and hasattr(layer, "post_attention_layernorm"):
        # Llama/Mistral/Qwen pre-norm: x + Attn(in_norm(x)), x + MLP(post_attn_norm(x))
        def attn(x, attend):
            return x + attend(layer.input_layernorm(x))

        def mlp(x, attend):
            return x + layer.mlp(layer.post_attention_layernorm(x))

    elif hasattr(layer, "post_attention_layernorm") and hasattr(layer, "post_feedforward_layernorm"):
        # OLMo 2/3 post-norm: x + post_norm(Attn(x)), x + post_ff(MLP(x))
        def attn(x, attend):
            return x + layer.post_attention_layernorm(attend(x))

        def mlp(x, attend):
            return x + layer.post_feedforward_layernorm(layer.mlp(x))

    else:
        raise NotImplementedError(f"no residual split known for {type(layer).__name__}")
    return [("attn", attn), ("mlp", mlp)]


@dataclass
class _LayerInfo:
    kind: str  # rotary/layer type, e.g. full_attention, sliding_attention
    window: int | None


class DecoderStack:
    """One sample's unperturbed forward pass, and the maps of its layers.

    ``hidden[l]`` (1, n, d) is the residual stream entering layer l (``hidden[L]``
    leaves the last layer, before the final norm); ``kv[l]`` the keys/values of layer l;
    ``attn_weights[l]`` (1, heads, n, n) the attention matrices when requested.
    """

    def __init__(self, model, input_ids: torch.Tensor, keep_attention: bool = False):
        check_map_type(model.config.model_type, type(model).__name__)
        self.core = decoder_core(model)
        self.layers = list(self.core.layers)
        self.config = self.core.config
        impl = getattr(self.config, "_attn_implementation", "eager")
        if impl != "eager":
            raise ValueError(f"load the model with attn_implementation='eager' (got {impl!r}): JVPs need it")
        # every tensor this class makes lives where the weights are (CPU, or a cluster GPU)
        self.device = self.core.embed_tokens.weight.device
        ids = torch.as_tensor(input_ids).reshape(1, -1).to(self.device)
        self.n = ids.shape[1]
        self.n_layers = len(self.layers)
        layer_types = getattr(self.config, "layer_types", None)
        self.info = []
        for i, layer in enumerate(self.layers):
            kind = layer_types[i] if layer_types else "full_attention"
            window = getattr(layer.self_attn, "sliding_window", None)
            if window is None and kind == "sliding_attention":
                window = getattr(self.config, "sliding_window", None)
            self.info.append(_LayerInfo(kind, window))
        with torch.no_grad():
            emb = self.core.embed_tokens(ids)
            self.d = emb.shape[-1]
            self.dtype = emb.dtype
            pos = torch.arange(self.n, device=self.device).reshape(1, -1)
            self._rope_table = {kind: self._rope(emb, pos, kind) for kind in {i.kind for i in self.info}}
            self.hidden = [emb]
            self.kv = []
            self.attn_weights = []
            h = emb
            for i in range(self.n_layers):
                rec = _Recorder()
                store = [] if keep_attention else None
                h = self._sequence_layer(i, h, rec, store)
                self.kv.append((rec.keys, rec.values))
                if keep_attention:
                    self.attn_weights.append(store[0])
                self.hidden.append(h)

    # -- rotary tables and masks ------------------------------------------------
    def _rope(self, x, position_ids, kind):
        rot = self.core.rotary_emb
        if "layer_type" in inspect.signature(rot.forward).parameters:
            return rot(x, position_ids, kind)
        return rot(x, position_ids)

    def _allowed(self, q_pos: torch.Tensor, k_pos: torch.Tensor, window: int | None) -> torch.Tensor:
        ok = k_pos[None, :] <= q_pos[:, None]
        if window is not None:
            ok &= k_pos[None, :] > q_pos[:, None] - window
        return ok

    def _additive(self, ok: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        return torch.where(ok, zero, torch.full((), torch.finfo(self.dtype).min, dtype=self.dtype, device=self.device))

    # -- full-sequence layer ----------------------------------------------------
    def _sequence_attend(self, i, cache=None, store=None):
        info = self.info[i]
        pos = torch.arange(self.n, device=self.device)
        mask = self._additive(self._allowed(pos, pos, info.window))[None, None]
        rope = self._rope_table[info.kind]
        attn = self.layers[i].self_attn

        def attend(h):
            out, w = attn(hidden_states=h, position_embeddings=rope, attention_mask=mask, past_key_values=cache)
            if store is not None:
                store.append(w.detach())
            return out

        return attend

    def _sequence_layer(self, i, h, cache=None, store=None):
        attend = self._sequence_attend(i, cache, store)
        for _, fn in _residual_sublayers(self.layers[i]):
            h = fn(h, attend)
        return h

    def sequence_maps(self, i: int, granularity: str = "layer") -> list[tuple[str, Map]]:
        """Layer i acting on whole sequences (B, n, d): every position perturbed."""
        attend = self._sequence_attend(i)
        return self._wrap(i, granularity, lambda fn: (lambda x: fn(x, attend)))

    # -- token-state layer (in context) -----------------------------------------
    def token_maps(self, i: int, positions, granularity: str = "layer") -> list[tuple[str, Map]]:
        """Layer i acting on token states (B, 1, d) in the context of this sample.

        ``positions`` (E,) are the token positions of the ensemble; a batch of B rows
        holds B / E rows per position, point-major (as ``qr_flow.batched_jvp`` lays
        them out). Position t attends to the context keys at positions < t (within the
        layer's window) and to its own key.
        """
        positions = torch.as_tensor(positions).reshape(-1).to(self.device)
        info = self.info[i]
        keys, values = self.kv[i]
        cos_all, sin_all = self._rope_table[info.kind]
        attn = self.layers[i].self_attn
        cache = _ContextKV(keys, values)
        ctx = torch.arange(self.n, device=self.device)

        def attend_for(b):
            pos = positions.repeat_interleave(b // len(positions))
            ok_ctx = self._allowed(pos, ctx, info.window) & (ctx[None, :] < pos[:, None])
            ok = torch.cat([ok_ctx, torch.ones(b, 1, dtype=torch.bool, device=self.device)], dim=1)
            mask = self._additive(ok)[:, None, None, :]
            rope = (cos_all[0, pos][:, None], sin_all[0, pos][:, None])

            def attend(h):
                out, _ = attn(hidden_states=h, position_embeddings=rope, attention_mask=mask, past_key_values=cache)
                return out

            return attend

        def token(fn):
            def f(x):
                if x.shape[0] % len(positions):
                    raise ValueError("batch rows must be a multiple of the number of positions")
                return fn(x, attend_for(x.shape[0]))

            return f

        return self._wrap(i, granularity, token)

    def token_states(self, i: int, positions) -> torch.Tensor:
        """Residual states entering layer i at ``positions``: (E, 1, d)."""
        positions = torch.as_tensor(positions).reshape(-1).to(self.device)
        return self.hidden[i][0, positions][:, None, :].clone()

    # -- helpers ---------------------------------------------------------------
    def _wrap(self, i, granularity, make):
        subs = _residual_sublayers(self.layers[i])
        if granularity == "sublayer":
            return [(f"L{i:02d}.{kind}", make(fn)) for kind, fn in subs]
        if granularity != "layer":
            raise ValueError(f"granularity must be 'layer' or 'sublayer', got {granularity!r}")
        fns = [make(fn) for _, fn in subs]

        def whole(x):
            for fn in fns:
                x = fn(x)
            return x

        return [(f"L{i:02d}", whole)]

    def final_norm_map(self) -> tuple[str, Map]:
        return ("final_norm", lambda x: self.core.norm(x))

    def token_stack_maps(self, positions, granularity="layer", final_norm=True) -> list[tuple[str, Map]]:
        """The whole stack (plus the final norm) as one step of an iterated token map."""
        maps = [m for i in range(self.n_layers) for m in self.token_maps(i, positions, granularity)]
        return maps + ([self.final_norm_map()] if final_norm else [])

    def sequence_stack_maps(self, granularity="layer", final_norm=True) -> list[tuple[str, Map]]:
        maps = [m for i in range(self.n_layers) for m in self.sequence_maps(i, granularity)]
        return maps + ([self.final_norm_map()] if final_norm else [])
