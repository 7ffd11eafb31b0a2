"""Jacobians of any transformers decoder layer by autodiff through the layer module itself.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.2, by autodiff.

For every type without a closed form (the three checked in `architectures.GENERIC_PRE_MLP`,
and any other causal LM whose decoder layers take transformers' standard call; those pass
`resdyn.models.self_check` at preparation) and for Gemma 4's in-context protocol. `DecoderLayer` copies one layer and evaluates it with
`torch.func.functional_call`, so J = ∂h_out/∂h_in at the last token is `torch.func.jacrev`
of the layer itself, in both protocols:
- single token: each state alone at position 0 (the states of a batch do not interact, so
  one reverse pass over the batch-summed output gives every sample's J at once);
- in context: the last token after the sample's earlier positions, whose residual states
  (and so their keys/values) are constants.

What the layer reads besides h is held fixed: Gemma 4's per-layer input e_token and, in its
KV-shared layers, the keys/values of the earlier layer they reuse (computed from that layer's
own input states of the same sample). In a mixture-of-experts layer the set of experts each
token is routed to is piecewise constant in h, so J is the derivative with that routing held
fixed; the router's gate weights stay differentiable (J is the true derivative wherever the
top-k set does not change, i.e. almost everywhere).

Exactness: transformers computes RMSNorms and softmaxes in float32 whatever the input dtype.
For the types listed in `architectures`, the copy's RMSNorms are replaced by the same formula in
the input dtype (identical in float32), and in float64 softmax is kept in float64, so float64
checks reach 1e-10. Other types keep their own modules; in float64 every request inside the
layer to compute in float32 (`.float()`, `.to(torch.float32)`, `dtype=torch.float32`) is
answered in float64 instead (`_Float64Throughout`), which covers norms of any formula.
"""
from __future__ import annotations

import copy
import inspect
import types
from contextlib import contextmanager, nullcontext

import torch
from torch.overrides import TorchFunctionMode

from resdyn.models.architectures import (
    ARCHITECTURES, GENERIC_PRE_MLP, OWN_CLOSED_FORMS, UnsupportedArchitecture, supported_summary)

_softmax = torch.nn.functional.softmax


@contextmanager
def _softmax_in_input_dtype():
    """Keep float64 softmaxes in float64 (transformers asks for float32 in attention and routers).
    Nested uses are safe: each restores the softmax it found."""
    def softmax(x, dim=None, _stacklevel=3, dtype=None):
        if dtype is not None and x.dtype == torch.float64:
            dtype = torch.float64
        return _softmax(x, dim=dim, dtype=dtype)

    found = torch.nn.functional.softmax
    torch.nn.functional.softmax = softmax
    try:
        yield
    finally:
        torch.nn.functional.softmax = found


class _Float64Throughout(TorchFunctionMode):
    """Float64 tensors stay float64 where transformers asks for float32 (norm upcasts, softmax
    dtype=): without it a float64 layer is only float32-accurate and finite differences fail."""

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and first.dtype == torch.float64:
            if func is torch.Tensor.float:
                return first
            if func in (torch.Tensor.to, torch.Tensor.type):
                args = tuple(torch.float64 if a is torch.float32 else a for a in args)
            if kwargs.get("dtype") is torch.float32:
                kwargs = {**kwargs, "dtype": torch.float64}
        return func(*args, **kwargs)


# Types whose copies keep the RMSNorm replacement and the layer's own window attribute, as measured
# before any other type was admitted (their float64 checks already reach 1e-10).
_LISTED = {*ARCHITECTURES, *OWN_CLOSED_FORMS, *GENERIC_PRE_MLP}


def _exact_rms_norm(module):
    """forward of an RMSNorm module in its input dtype; the formula of its transformers class."""
    eps = float(getattr(module, "variance_epsilon", getattr(module, "eps", 1e-6)))
    one_plus = type(module).__name__.startswith(("Gemma2", "Gemma3"))  # Gemma 2/3 scale by (1 + w)

    def forward(self, x):
        y = x * torch.pow(x.pow(2).mean(-1, keepdim=True) + eps, -0.5)
        if getattr(self, "with_scale", True):
            y = y * (1.0 + self.weight if one_plus else self.weight)
        return y

    return types.MethodType(forward, module)


def decoder_stack(model):
    """The module holding `layers` and `rotary_emb` (GPT-NeoX names it `gpt_neox`)."""
    return model.model if "model" in model._modules or hasattr(model, "model") else model.base_model


# The standard call of a transformers decoder layer (5.x): what `DecoderLayer.forward` passes.
STANDARD_CALL = ("hidden_states", "attention_mask", "position_ids", "position_embeddings")


def check_standard_layer(model) -> None:
    """Refuse, naming the type, a causal LM whose decoder is not a `layers` list of layers taking
    the standard call (hidden states, attention mask, position ids/embeddings)."""
    model_type = model.config.model_type
    stack = decoder_stack(model)
    layers = getattr(stack, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        raise UnsupportedArchitecture(
            f"model_type {model_type!r}: its decoder has no `layers` list (transformers' standard decoder stack); "
            f"the generic Jacobian engine cannot call its layers. {supported_summary()}")
    params = inspect.signature(type(layers[0]).forward).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    missing = [name for name in STANDARD_CALL if name not in params and not takes_kwargs]
    if "hidden_states" not in params or missing:
        raise UnsupportedArchitecture(
            f"model_type {model_type!r}: decoder layer {type(layers[0]).__name__}.forward does not take the standard "
            f"call ({', '.join(STANDARD_CALL)}); missing: {', '.join(missing) or 'hidden_states'}. "
            + supported_summary())


def _window(config, attn, layer_idx: int, listed: bool):
    """The layer's sliding window as the model's masks apply it (None: full causal attention).

    Listed types: the attention module's own attribute. Others follow transformers' mask mapping:
    with `layer_types`, the config's window on "sliding_attention" layers only (EXAONE 4's
    attention stores the window on every layer); without, the config's window on every layer
    (Mistral, Mixtral, Starcoder2), unless `use_sliding_window` is false."""
    if listed:
        return getattr(attn, "sliding_window", None)
    window = getattr(config, "sliding_window", None)
    if window is None:
        return None
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        return window if layer_types[layer_idx] == "sliding_attention" else None
    return None if getattr(config, "use_sliding_window", True) is False else window


class _FixedContext:
    """A stand-in for transformers' KV cache: first records the prefix's keys and values per layer,
    then, frozen, puts them (constants, broadcast over any batch) before the new token's own,
    storing nothing, so that autodiff and vmap see a pure function of the new token's state."""

    def __init__(self):
        self.kv, self.frozen = {}, False

    @property
    def length(self) -> int:
        return next(iter(self.kv.values()))[0].shape[-2]

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        if not self.frozen:
            self.kv[layer_idx] = (key_states.detach(), value_states.detach())
            return key_states, value_states
        keys, values = self.kv[layer_idx]
        n = key_states.shape[0]
        return (torch.cat([keys.expand(n, *keys.shape[1:]), key_states], dim=-2),
                torch.cat([values.expand(n, *values.shape[1:]), value_states], dim=-2))


class DecoderLayer:
    """One transformers decoder layer as a pure function of its input states."""

    def __init__(self, model, layer_idx: int, dtype=torch.float32, kv_source: "DecoderLayer | None" = None):
        stack = decoder_stack(model)
        self.config = model.config
        self.layer_idx, self.dtype, self.kv_source = layer_idx, dtype, kv_source
        source = stack.layers[layer_idx]
        tensors = {k: v.detach() for k, v in (*source.named_parameters(), *source.named_buffers())}
        # the module is copied for its code and config only (functional_call supplies the tensors):
        # its parameters and buffers become meta tensors, so no second copy of the layer sits on the device
        memo = {id(t): torch.empty_like(t, device="meta", dtype=dtype if t.is_floating_point() else t.dtype)
                for t in (*source.parameters(), *source.buffers())}
        self.layer = copy.deepcopy(source, memo).eval()
        self.listed = self.config.model_type in _LISTED
        for module in self.layer.modules():
            if self.listed and type(module).__name__.endswith("RMSNorm"):
                module.forward = _exact_rms_norm(module)
            if hasattr(module, "config"):
                module.config._attn_implementation = "eager"  # the copy's own config
                module.config._experts_implementation = "eager"  # a loop over experts: any dtype, autodiff
        self.params = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}  # as Module.to
        self.rotary = getattr(stack, "rotary_emb", None)  # None: positions by position_ids alone
        self.rotary_takes_type = self.rotary is not None and "layer_type" in inspect.signature(
            self.rotary.forward).parameters
        types_ = getattr(self.config, "layer_types", None)
        self.layer_type = types_[layer_idx] if types_ else None
        attn = getattr(self.layer, "self_attn", None) or getattr(self.layer, "attention", None)
        self.window = _window(self.config, attn, layer_idx, self.listed)
        self.is_gemma4 = self.config.model_type == "gemma4_text"
        self.is_kv_shared = bool(getattr(attn, "is_kv_shared_layer", False))
        params = inspect.signature(type(self.layer).forward).parameters
        # the layer's KV-cache argument, through which the in-context protocol feeds the prefix's keys/values
        self.cache_arg = None if self.is_gemma4 else next(
            (name for name in ("past_key_values", "layer_past") if name in params), None)
        if self.is_kv_shared and kv_source is None:
            raise ValueError(f"layer {layer_idx} reuses an earlier layer's keys/values: pass that layer as kv_source")

    @property
    def device(self):
        return next(iter(self.params.values())).device

    def _rope(self, n_positions: int):
        if self.rotary is None:
            return None
        probe = torch.zeros(1, dtype=self.dtype, device=self.device)
        positions = torch.arange(n_positions, device=self.device)[None]
        with self._exact():  # rotary tables computed in float32 by transformers: float64 here too
            if self.layer_type is not None and (self.is_gemma4 or self.rotary_takes_type):
                return self.rotary(probe, positions, self.layer_type)
            return self.rotary(probe, positions)

    def _exact(self):
        return _Float64Throughout() if self.dtype == torch.float64 and not self.listed else nullcontext()

    def _mask(self, n: int):
        """Additive causal mask (1, 1, n, n), with this layer's sliding window; None for one position."""
        if n == 1:
            return None
        i = torch.arange(n, device=self.device)
        keep = i[None, :] <= i[:, None]
        if self.window is not None:
            keep &= i[:, None] - i[None, :] < self.window
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        return torch.where(keep, zero, torch.finfo(self.dtype).min)[None, None]

    def _shared_kv(self, kv_input, rope, mask, per_layer_input):
        """{layer_type: (keys, values)} of the reused layer, from its own input states (constants)."""
        src = self.kv_source
        shared = {}
        x = torch.func.functional_call(src.layer.input_layernorm, {"weight": src.params["input_layernorm.weight"]},
                                       (kv_input,))
        attn_params = {k[len("self_attn."):]: v for k, v in src.params.items() if k.startswith("self_attn.")}
        torch.func.functional_call(src.layer.self_attn, attn_params, (), dict(
            hidden_states=x, position_embeddings=rope, attention_mask=mask, shared_kv_states=shared))
        return shared

    def forward(self, x, per_layer_input=None, kv_input=None):
        """Layer output (B, T, d) for inputs x (B, T, d) at positions 0..T-1.

        per_layer_input (B, T, p): Gemma 4's e_token; kv_input (B, T, d): the input states of
        the layer whose keys/values a KV-shared layer reuses.
        """
        n = x.shape[1]
        rope, mask = self._rope(n), self._mask(n)
        kwargs = dict(hidden_states=x, attention_mask=mask, position_ids=torch.arange(n, device=self.device)[None],
                      position_embeddings=rope)
        if self.is_gemma4:
            kwargs["per_layer_input"] = per_layer_input
            kwargs["shared_kv_states"] = self._shared_kv(kv_input, rope, mask, per_layer_input) if self.is_kv_shared else {}
        return self._call(kwargs)

    def _call(self, kwargs):
        with _softmax_in_input_dtype(), self._exact():
            out = torch.func.functional_call(self.layer, self.params, (), kwargs)
        return out[0] if isinstance(out, tuple) else out

    def _context(self, prefix):
        """The earlier positions' keys and values (constants), recorded from one forward pass of the
        prefix (p, d) through the layer's own cache argument; None where the last token is computed
        with the whole sequence instead (Gemma 4, layers without a cache argument, no prefix)."""
        if self.cache_arg is None or prefix.shape[0] == 0:
            return None
        p = prefix.shape[0]
        recorder = _FixedContext()
        with torch.no_grad():
            self._call(dict(hidden_states=prefix.to(self.dtype)[None], attention_mask=self._mask(p),
                            position_ids=torch.arange(p, device=self.device)[None],
                            position_embeddings=self._rope(p), **{self.cache_arg: recorder}))
        recorder.frozen = True
        return recorder

    def _last_token(self, h, context):
        """Output (d,) of the token at position p = len(prefix), its state h (d,), attending to the
        recorded keys and values of the prefix and to its own."""
        n = context.length + 1
        rope = self._rope(n)
        rope = None if rope is None else tuple(t[:, -1:] for t in rope)
        mask = self._mask(n)[..., -1:, :]
        return self._call(dict(hidden_states=h.to(self.dtype)[None, None], attention_mask=mask,
                               position_ids=torch.tensor([[n - 1]], device=self.device), position_embeddings=rope,
                               **{self.cache_arg: context}))[0, -1]

    # -- the two protocols ----------------------------------------------------
    def single_token(self, h, per_layer_input=None, kv_input=None):
        """Outputs (B, d) of states h (B, d), each token alone at position 0."""
        opt = lambda t: None if t is None else t.to(self.dtype)[:, None]  # noqa: E731
        return self.forward(h.to(self.dtype)[:, None], opt(per_layer_input), opt(kv_input))[:, 0]

    def single_token_jacobians(self, h, per_layer_input=None, kv_input=None):
        """J (B, d, d) at each state alone at position 0, by one jacrev of the batch-summed output."""
        h = h.to(self.dtype)
        # 256 cotangents at a time: the backward holds 256 copies of the batch's intermediates (B × f each)
        f = torch.func.jacrev(lambda x: self.single_token(x, per_layer_input, kv_input).sum(0), chunk_size=256)
        jac = f(h)  # (d, B, d)
        return jac.permute(1, 0, 2)

    def in_context(self, h, prefix, per_layer_input=None, kv_input=None, context=None):
        """Output (d,) at the last position, whose state is h (d,), after prefix (p, d) (constants)."""
        context = self._context(prefix) if context is None else context
        if context is not None:
            return self._last_token(h, context)
        x = torch.cat([prefix.to(self.dtype), h.to(self.dtype)[None]])[None]
        opt = lambda t: None if t is None else t.to(self.dtype)[None]  # noqa: E731
        return self.forward(x, opt(per_layer_input), opt(kv_input))[0, -1]

    def in_context_jacobian(self, states, per_layer_input=None, kv_input=None):
        """J (d, d) at the last of states (T, d), the earlier positions' keys/values held fixed."""
        states = states.to(self.dtype)
        context = self._context(states[:-1])  # once: the backward then runs through one token, not T
        f = torch.func.jacrev(lambda h: self.in_context(h, states[:-1], per_layer_input, kv_input, context),
                              chunk_size=256)
        return f(states[-1])
