"""A transformers decoder as maps on the residual stream of one sample, for every architecture.

The depth maps of Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse:
Finite-Time Lyapunov Analysis of Transformer Forward Passes", Section 2.1; the sublayer
split is the attribution granularity of anonymous authors (2026), "Lyapunov Spectral
Analysis of Loop Transformer Dynamics", Section 3.2.

`LayerMap` is one object per (model, layer): how the layer is called (its attention module,
cache argument, rotary/mask kind, sliding window, what it reads besides h) and its residual
steps. `SamplePass` runs one sample's unperturbed forward pass through the LayerMaps and gives
each layer as maps on token states (the in-context protocol) or on whole sequences.

In-context protocol: the residual state of a chosen token position evolves through the
layers while every other position keeps the keys and values it has in the unperturbed pass.
Layer l then acts on a token state x as a map R^d -> R^d whose Jacobian is the Jacobian
stage's in-context layer Jacobian. For the last token this is the full forward pass
(causality: no later position reads it), so a tangent on its state pushed layer by layer is
the JVP of the whole model with respect to that token's residual state (with Gemma 4's
convention below).

The decoder layers of transformers are reused as they are (their attention modules, norms,
MLPs, routers, rotary tables), called with the library's standard call (hidden states,
position embeddings, position ids, attention mask, cache); the context enters through a
duck-typed cache whose ``update`` prepends the stored context keys/values, and an explicit
additive mask (causal, plus the layer's sliding window). Models must use eager attention and
eager experts (forward-mode AD does not go through the fused SDPA or grouped-GEMM kernels).

Residual steps (the ``kind`` of each step in the attribution table), by `SPLITS`:
- ``pre`` (Llama, Mistral, Qwen 2/3, Phi-3, Qwen3-MoE): attn x + A(N(x)); mlp x + M(N'(x))
  (Qwen3-MoE's M is its routed-expert block: the top-k set is piecewise constant in x, so
  the tangent is the derivative with that routing held, as in the Jacobian stage);
- ``sandwich`` (Gemma 2/3): attn x + P(A(N(x))); mlp x + P'(M(N'(x)));
- ``post`` (OLMo 2/3): attn x + P(A(x)); mlp x + P'(M(x));
- ``gemma4``: attn and mlp as sandwich (the MoE branch of 26B-A4B inside mlp), then ple
  x + P_e(W_proj(act(W_G x) * e)) with e the token's per-layer input (a function of the token
  id only, held constant), then scalar x -> s x (`layer_scalar`; its contribution to every
  exponent is log|s|);
- ``neox`` (GPT-NeoX / Pythia): with the parallel residual (every Pythia) attention and MLP
  both read the same h, h' = h + A(N(h)) + M(N'(h)): one step, kind ``attn+mlp`` (the two
  cannot be attributed separately: neither alone is a step of the flow); without it, attn
  and mlp as ``pre``;
- ``pre`` also for Mixtral, OLMoE (routing held, as Qwen3-MoE), SmolLM3, Starcoder2; ``post``
  for EXAONE 4; ``granite``: pre with each branch scaled, x + r A(N(x)), x + r M(N'(x)) (r the
  config's `residual_multiplier`); ``glm4``: sandwich under GLM-4's norm names; ``parallel``
  (Cohere): h' = h + A(N(h)) + M(N(h)) from one norm, one step ``attn+mlp`` as GPT-NeoX's;
- any other type: the whole layer call is one step, kind ``layer``.
The final norm is one more map (kind ``final_norm``). Every split is checked at each
`SamplePass` against the model's own hidden states, so a wrong split or mask fails early,
naming the model type.

Gemma 4 KV-shared layers: a shared layer l reads the keys/values that an earlier layer l'
(the last unshared layer of the same sliding/full type) computed at every position, its own
position included. The maps hold those keys/values fixed at their values in the unperturbed
pass, as the Jacobian stage does (resdyn.models.generic): the tangent through depth is the
product of the per-layer Jacobians J_l = dh_{l+1}/dh_l, and the path h_l' -> K/V of l' ->
layer l is not followed. It equals the JVP of the whole model with the shared keys/values
detached (tests/test_decoder_map.py checks both statements).
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch

from resdyn.models.generic import _LISTED as LISTED_TYPES
from resdyn.models.generic import _window as sliding_window

Map = Callable[[torch.Tensor], torch.Tensor]

# model_type -> residual split (see the module docstring); any other type: the whole layer call
SPLITS: dict[str, str] = {
    "llama": "pre", "mistral": "pre", "qwen2": "pre", "qwen3": "pre", "phi3": "pre", "qwen3_moe": "pre",
    "gemma2": "sandwich", "gemma3_text": "sandwich",
    "olmo2": "post", "olmo3": "post",
    "gemma4_text": "gemma4",
    "gpt_neox": "neox",
    # families the generic engine admits, whose splits the pass checks like the others
    "mixtral": "pre", "olmoe": "pre", "smollm3": "pre", "starcoder2": "pre", "exaone4": "post",
    "granite": "granite", "glm4": "glm4", "cohere": "parallel",
}
_FINAL_NORMS = ("norm", "final_layer_norm", "ln_f", "final_norm")
_ATTENTIONS = ("self_attn", "attention", "attn")


class DecoderMapError(ValueError):
    """A model the maps cannot serve; the message names its type and the reason."""


class _FirstState(Exception):
    """Raised by the hook that reads layer 0's input, ending the forward there."""


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


def _argument(fn, *names):
    """The first of ``names`` that fn's signature takes (GPT-NeoX calls its cache `layer_past`)."""
    params = inspect.signature(fn).parameters
    return next((n for n in names if n in params), names[-1])


class _Call:
    """How layer i is called in one protocol: mask, rotary table, position ids, cache, side inputs."""

    def __init__(self, lm: "LayerMap", mask, rope, position_ids, cache, per_layer_input=None, shared_kv=None):
        self.lm, self.mask, self.rope, self.position_ids, self.cache = lm, mask, rope, position_ids, cache
        self.per_layer_input = per_layer_input
        self.shared_kv = shared_kv  # Gemma 4: {layer_type: (K, V)} this layer reads or writes

    def _side(self):
        """Gemma 4: the keys/values a shared layer reads (a storing layer writes into a throwaway dict)."""
        return {"shared_kv_states": {} if self.shared_kv is None else self.shared_kv} if self.lm.gemma4 else {}

    def attend(self, h):
        out = self.lm.attention(hidden_states=h, position_embeddings=self.rope, attention_mask=self.mask,
                                position_ids=self.position_ids, **{self.lm.attn_cache: self.cache}, **self._side())
        return out[0] if isinstance(out, tuple) else out

    def layer(self, x):
        side = self._side()
        if self.lm.gemma4:
            side["per_layer_input"] = self.per_layer_input
        out = self.lm.layer(x, attention_mask=self.mask, position_ids=self.position_ids,
                            position_embeddings=self.rope, **{self.lm.layer_cache: self.cache}, **side)
        return out[0] if isinstance(out, tuple) else out


def _steps(split: str, layer) -> list[tuple[str, Callable]]:
    """The layer as residual steps ``(kind, fn(x, call))`` (see the module docstring)."""
    if split == "layer":
        return [("layer", lambda x, call: call.layer(x))]
    if split == "parallel":  # Cohere: h + A(N(h)) + M(N(h)), one step as GPT-NeoX's parallel residual
        return [("attn+mlp", lambda x, call: call.layer(x))]
    if split == "granite":  # pre-norm steps, each branch scaled by residual_multiplier
        r = layer.residual_multiplier
        return [("attn", lambda x, call: x + r * call.attend(layer.input_layernorm(x))),
                ("mlp", lambda x, call: x + r * layer.mlp(layer.post_attention_layernorm(x)))]
    if split == "glm4":  # sandwich norms under GLM-4's names
        return [("attn", lambda x, call: x + layer.post_self_attn_layernorm(call.attend(layer.input_layernorm(x)))),
                ("mlp", lambda x, call: x + layer.post_mlp_layernorm(layer.mlp(layer.post_attention_layernorm(x))))]
    if split == "neox":
        if layer.use_parallel_residual:
            return [("attn+mlp", lambda x, call: call.layer(x))]
        return [("attn", lambda x, call: x + call.attend(layer.input_layernorm(x))),
                ("mlp", lambda x, call: x + layer.mlp(layer.post_attention_layernorm(x)))]
    if split == "pre":
        return [("attn", lambda x, call: x + call.attend(layer.input_layernorm(x))),
                ("mlp", lambda x, call: x + layer.mlp(layer.post_attention_layernorm(x)))]
    if split == "post":
        return [("attn", lambda x, call: x + layer.post_attention_layernorm(call.attend(x))),
                ("mlp", lambda x, call: x + layer.post_feedforward_layernorm(layer.mlp(x)))]
    attn = ("attn", lambda x, call: x + layer.post_attention_layernorm(call.attend(layer.input_layernorm(x))))
    if split == "sandwich":
        return [attn, ("mlp", lambda x, call: x + layer.post_feedforward_layernorm(
            layer.mlp(layer.pre_feedforward_layernorm(x))))]
    if split != "gemma4":
        raise ValueError(f"unknown split {split!r}")

    def mlp(x, call):  # Gemma4TextDecoderLayer.forward's MLP part, MoE branch included
        m = layer.mlp(layer.pre_feedforward_layernorm(x))
        if layer.enable_moe_block:
            flat = x.reshape(-1, x.shape[-1])
            _, weights, index = layer.router(flat)
            routed = layer.experts(layer.pre_feedforward_layernorm_2(flat), index, weights).reshape(x.shape)
            m = layer.post_feedforward_layernorm_1(m) + layer.post_feedforward_layernorm_2(routed)
        return x + layer.post_feedforward_layernorm(m)

    def ple(x, call):
        gated = layer.act_fn(layer.per_layer_input_gate(x)) * call.per_layer_input
        return x + layer.post_per_layer_input_norm(layer.per_layer_projection(gated))

    steps = [attn, ("mlp", mlp)]
    if layer.hidden_size_per_layer_input:
        steps.append(("ple", ple))
    return steps + [("scalar", lambda x, call: x * layer.layer_scalar)]


class LayerMap:
    """Layer ``index`` of a decoder: its call convention and its residual steps."""

    def __init__(self, decoder: "Decoder", index: int):
        cfg = decoder.config
        self.index = index
        self.layer = decoder.layers[index]
        self.attention = next((getattr(self.layer, a) for a in _ATTENTIONS if hasattr(self.layer, a)), None)
        if self.attention is None:
            raise DecoderMapError(f"model_type {decoder.model_type!r}: layer {index} has none of the attention "
                                  f"modules {list(_ATTENTIONS)}; the decoder maps cannot call it")
        self.layer_cache = _argument(self.layer.forward, "past_key_values", "layer_past")
        self.attn_cache = _argument(self.attention.forward, "past_key_values", "layer_past")
        types = getattr(cfg, "layer_types", None)
        self.kind = types[index] if types else "full_attention"  # rotary table and mask kind
        if decoder.model_type in LISTED_TYPES:
            window = getattr(self.attention, "sliding_window", None)
            if window is None and (self.kind == "sliding_attention" or not types):
                # Mistral/Phi-3 apply config.sliding_window to every layer; Qwen 2 only with use_sliding_window
                if getattr(cfg, "use_sliding_window", True) is not False:
                    window = getattr(cfg, "sliding_window", None)
        else:  # as transformers' mask mapping reads it, like the Jacobian stage (EXAONE 4 stores a window
            window = sliding_window(cfg, self.attention, index, listed=False)  # on its full layers too)
        self.window = window
        self.gemma4 = decoder.model_type == "gemma4_text"
        self.kv_shared = bool(getattr(self.attention, "is_kv_shared_layer", False))
        split = SPLITS.get(decoder.model_type, "layer")
        self.steps = _steps(split, self.layer)


class Decoder:
    """The decoder inside a causal-LM model: embeddings, LayerMaps, final norm, rotary tables."""

    def __init__(self, model):
        cfg = model.config
        self.model_type = cfg.model_type
        core = getattr(model, "base_model", model)
        core = getattr(core, "language_model", core)
        self.core, self.config = core, getattr(core, "config", cfg)
        layers = getattr(core, "layers", None)
        norm = next((getattr(core, n) for n in _FINAL_NORMS if hasattr(core, n)), None)
        if layers is None or norm is None:
            raise DecoderMapError(f"model_type {self.model_type!r}: the decoder has no `layers` or final norm "
                                  f"({' / '.join(_FINAL_NORMS)}); the decoder maps cannot serve it")
        self.layers, self.norm = list(layers), norm
        self.embed = model.get_input_embeddings()
        self.rotary = getattr(core, "rotary_emb", None)
        impl = getattr(self.config, "_attn_implementation", "eager")
        if impl != "eager":
            raise DecoderMapError(f"model_type {self.model_type!r}: load the model with attn_implementation='eager' "
                                  f"(got {impl!r}): the maps push tangents by forward-mode AD")
        if getattr(cfg, "_experts_implementation", None) not in (None, "eager"):
            model.set_experts_implementation("eager")  # grouped-GEMM experts have no forward-mode AD
        self.maps = [LayerMap(self, i) for i in range(len(self.layers))]

    def rope(self, x, position_ids, kind):
        if self.rotary is None:
            return None
        if "layer_type" in inspect.signature(self.rotary.forward).parameters:
            return self.rotary(x, position_ids, kind)
        return self.rotary(x, position_ids)


class SamplePass:
    """One sample's unperturbed forward pass, and the maps of its layers.

    ``hidden[l]`` (1, n, d) is the residual stream entering layer l (``hidden[L]`` leaves
    the last layer, before the final norm); ``kv[l]`` the keys/values layer l computed
    (None for a Gemma 4 KV-shared layer, whose ``shared_kv[l]`` are those it reads);
    ``attn_weights[l]`` (1, heads, n, n) the attention matrices when requested.
    """

    def __init__(self, model, input_ids: torch.Tensor, keep_attention: bool = False, check: bool = True):
        self.decoder = dec = Decoder(model)
        self.model_type = dec.model_type
        self.layers = dec.layers
        self.config = dec.config
        self.core = dec.core
        # every tensor this class makes lives where the weights are (CPU, or a cluster GPU)
        self.device = dec.embed.weight.device
        ids = torch.as_tensor(input_ids).reshape(1, -1).to(self.device)
        self.n = ids.shape[1]
        self.n_layers = len(self.layers)
        with torch.no_grad():
            emb = dec.embed(ids)
            self.d, self.dtype = emb.shape[-1], emb.dtype
            self.per_layer_inputs = None  # Gemma 4: (1, n, L, p), a function of the token ids only
            if getattr(self.config, "hidden_size_per_layer_input", None):
                self.per_layer_inputs = self.core.project_per_layer_inputs(emb, self.core.get_per_layer_inputs(ids, emb))
            emb = self._first_state(ids)
            pos = torch.arange(self.n, device=self.device).reshape(1, -1)
            self._rope_table = {lm.kind: dec.rope(emb, pos, lm.kind) for lm in dec.maps}
            self.hidden, self.kv, self.shared_kv, self.attn_weights = [emb], [], [], []
            shared: dict = {}  # Gemma 4: what the storing layers leave for the shared ones
            h = emb
            for i, lm in enumerate(dec.maps):
                rec = _Recorder()
                self.shared_kv.append(dict(shared) if lm.kv_shared else None)
                hook = lm.attention.register_forward_hook(
                    lambda m, a, out: self.attn_weights.append(out[1].detach())) if keep_attention else None
                try:
                    h = self._apply(lm.steps, h, self._sequence_call(i, rec, shared))
                finally:
                    if hook is not None:
                        hook.remove()
                self.kv.append(None if lm.kv_shared else (rec.keys, rec.values))
                self.hidden.append(h)
        if check:
            self._check(model, ids)

    def _first_state(self, ids):
        """The state entering layer 0 as the model's own forward makes it (Granite scales its
        embeddings by `embedding_multiplier` there, outside the embedding module): the forward
        stops at layer 0's input."""
        seen = {}

        def grab(module, args, kwargs):
            seen["h"] = args[0] if args else kwargs["hidden_states"]
            raise _FirstState

        hook = self.layers[0].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            self.core(input_ids=ids)
        except _FirstState:
            pass
        finally:
            hook.remove()
        return seen["h"]

    # -- masks -------------------------------------------------------------------
    def _allowed(self, q_pos: torch.Tensor, k_pos: torch.Tensor, window: int | None) -> torch.Tensor:
        ok = k_pos[None, :] <= q_pos[:, None]
        if window is not None:
            ok &= k_pos[None, :] > q_pos[:, None] - window
        return ok

    def _additive(self, ok: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        return torch.where(ok, zero, torch.full((), torch.finfo(self.dtype).min, dtype=self.dtype, device=self.device))

    @staticmethod
    def _apply(steps, x, call):
        for _, fn in steps:
            x = fn(x, call)
        return x

    def _ple(self, i, rows):
        return None if self.per_layer_inputs is None else self.per_layer_inputs[:, :, i].expand(rows, -1, -1)

    # -- full-sequence layer -----------------------------------------------------
    def _sequence_call(self, i, cache=None, shared=None, rows: int = 1) -> _Call:
        lm = self.decoder.maps[i]
        pos = torch.arange(self.n, device=self.device)
        mask = self._additive(self._allowed(pos, pos, lm.window))[None, None]
        if shared is None and lm.kv_shared:
            shared = self.shared_kv[i]  # held at the unperturbed pass's values
        return _Call(lm, mask, self._rope_table[lm.kind], pos[None], cache, self._ple(i, rows),
                     shared if lm.gemma4 else None)

    def sequence_maps(self, i: int, granularity: str = "layer") -> list[tuple[str, Map]]:
        """Layer i acting on whole sequences (B, n, d): every position perturbed."""
        return self._wrap(i, granularity, lambda fn: (lambda x: fn(x, self._sequence_call(i, rows=x.shape[0]))))

    # -- token-state layer (in context) -------------------------------------------
    def token_maps(self, i: int, positions, granularity: str = "layer") -> list[tuple[str, Map]]:
        """Layer i acting on token states (B, 1, d) in the context of this sample.

        ``positions`` (E,) are the token positions of the ensemble; a batch of B rows holds
        B / E rows per position, point-major (as ``qr_flow.batched_jvp`` lays them out).
        Position t attends to the context keys at positions < t (within the layer's window)
        and to its own key; a Gemma 4 KV-shared layer attends to layer l''s keys at
        positions <= t, all held fixed.
        """
        positions = torch.as_tensor(positions).reshape(-1).to(self.device)
        lm = self.decoder.maps[i]
        rope_all = self._rope_table[lm.kind]
        ctx = torch.arange(self.n, device=self.device)

        def call_for(b):
            pos = positions.repeat_interleave(b // len(positions))
            if lm.kv_shared:
                mask, cache, shared = self._additive(self._allowed(pos, ctx, lm.window))[:, None, None, :], None, \
                    self.shared_kv[i]
            else:
                ok_ctx = self._allowed(pos, ctx, lm.window) & (ctx[None, :] < pos[:, None])
                ok = torch.cat([ok_ctx, torch.ones(b, 1, dtype=torch.bool, device=self.device)], dim=1)
                mask, cache, shared = self._additive(ok)[:, None, None, :], _ContextKV(*self.kv[i]), {}
            rope = None if rope_all is None else (rope_all[0][0, pos][:, None], rope_all[1][0, pos][:, None])
            ple = None if self.per_layer_inputs is None else self.per_layer_inputs[0, pos, i][:, None]
            return _Call(lm, mask, rope, pos[:, None], cache, ple, shared if lm.gemma4 else None)

        def token(fn):
            def f(x):
                if x.shape[0] % len(positions):
                    raise ValueError("batch rows must be a multiple of the number of positions")
                return fn(x, call_for(x.shape[0]))

            return f

        return self._wrap(i, granularity, token)

    def token_states(self, i: int, positions) -> torch.Tensor:
        """Residual states entering layer i at ``positions``: (E, 1, d)."""
        positions = torch.as_tensor(positions).reshape(-1).to(self.device)
        return self.hidden[i][0, positions][:, None, :].clone()

    # -- helpers --------------------------------------------------------------------
    def step_kinds(self, i: int) -> list[str]:
        return [kind for kind, _ in self.decoder.maps[i].steps]

    def _wrap(self, i, granularity, make):
        steps = self.decoder.maps[i].steps
        if granularity == "sublayer":
            return [(f"L{i:02d}.{kind}", make(fn)) for kind, fn in steps]
        if granularity != "layer":
            raise ValueError(f"granularity must be 'layer' or 'sublayer', got {granularity!r}")
        fns = [make(fn) for _, fn in steps]

        def whole(x):
            for fn in fns:
                x = fn(x)
            return x

        return [(f"L{i:02d}", whole)]

    def final_norm_map(self) -> tuple[str, Map]:
        return ("final_norm", lambda x: self.decoder.norm(x))

    def token_stack_maps(self, positions, granularity="layer", final_norm=True) -> list[tuple[str, Map]]:
        """The whole stack (plus the final norm) as one step of an iterated token map."""
        maps = [m for i in range(self.n_layers) for m in self.token_maps(i, positions, granularity)]
        return maps + ([self.final_norm_map()] if final_norm else [])

    def sequence_stack_maps(self, granularity="layer", final_norm=True) -> list[tuple[str, Map]]:
        maps = [m for i in range(self.n_layers) for m in self.sequence_maps(i, granularity)]
        return maps + ([self.final_norm_map()] if final_norm else [])

    # -- self-check ---------------------------------------------------------------
    @torch.no_grad()
    def _check(self, model, ids, rtol: float = 1e-3):
        """The pass (split, masks, rotary) and the last token's in-context maps reproduce the
        model's own hidden states; raises naming the model type and the first layer that differs."""
        own = model(input_ids=ids, output_hidden_states=True).hidden_states
        last = torch.tensor([self.n - 1], device=self.device)

        def close(a, b):
            return bool((a - b).norm() <= rtol * b.norm() + 1e-6)  # one device-side comparison, one sync

        for i in range(self.n_layers + 1):
            ours = self.decoder.norm(self.hidden[i]) if i == self.n_layers else self.hidden[i]
            if not close(ours, own[i]):
                raise DecoderMapError(
                    f"model_type {self.model_type!r}: the decoder maps' pass differs from the model's own hidden "
                    f"states at layer {i} (relative {float((ours - own[i]).norm() / own[i].norm()):.1e}); its "
                    f"layers do not follow the standard call or the residual split {SPLITS.get(self.model_type, 'layer')!r}")
        for i in range(self.n_layers):
            (_, f), = self.token_maps(i, last)
            if not close(f(self.token_states(i, last)), self.token_states(i + 1, last)):
                raise DecoderMapError(f"model_type {self.model_type!r}: layer {i}'s in-context token map does not "
                                      "reproduce the model's state of the last token")
