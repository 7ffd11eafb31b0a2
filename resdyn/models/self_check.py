"""Self-check of the generic Jacobian engine on one model, run at preparation.

The generic engine (`resdyn.models.generic.DecoderLayer`) calls a transformers decoder layer
with the library's standard arguments and differentiates it; for a type no test has seen,
nothing guarantees that this reproduces what the model computes. Before any weight is saved,
on the first layer (and the first layer of each other entry of `config.layer_types`) this checks:

1. in context: the layer map on the model's own input states (`output_hidden_states`) of a
   12-token prompt gives the model's next hidden states at every position, and so does the
   engine's last-token path (the prefix's keys/values recorded through the cache argument);
2. alone: on one-token prompts it gives the model's hidden states of those prompts;
3. causality: the model's hidden states on the prompt's first half equal those on the whole
   prompt (the in-context protocol holds earlier positions fixed; a layer that ignores its
   attention mask lets them see later tokens);
4. the pre-MLP snapshot (the hook `architectures.pre_mlp_module` names) is the residual state
   the MLP step adds to: with the layer's MLP output zeroed, the layer returns it; or, in a
   parallel block, it is h itself and attention and MLP add up independently from h;
5. in float64, autodiff Jacobians (both protocols, three states) equal central finite
   differences along three random directions to 1e-6 relative (in context, differences of the
   whole sequence's forward pass, not of the path the engine differentiates). Up to
   d = 1024 the engine's whole Jacobians are compared; wider layers compare uᵀ J v from reverse
   mode (the products the engine's jacrev batches) for three random u, which costs a few
   passes instead of d.

Checks 1-4 run the model in its own dtype (float32 at preparation) and allow 1e-4 relative.
It refuses, naming the model type, the layer and what failed. Closed-form types (`Block`,
Gemma 4) are not checked here: their engines re-implement the layer and the test suite checks
them against transformers' layers and finite differences on every type.
"""
from __future__ import annotations

import time

import torch

from resdyn.models.architectures import (
    ATTENTION_NAMES, MLP_NAMES, UnsupportedArchitecture, child_named, engine_of, pre_mlp_module, supported_summary)
from resdyn.models.generic import DecoderLayer, check_standard_layer, decoder_stack

PROMPT_LENGTH = 12
FORWARD_RTOL = 1e-4  # the model's own dtype (float32): its layer against the eager copy
JACOBIAN_RTOL = 1e-6  # float64: autodiff against central differences
N_STATES = 3
N_DIRECTIONS = 3
STEP = 1e-4  # finite-difference step, relative to each state's RMS
FULL_JACOBIAN_MAX_D = 1024  # wider layers: uᵀ J v by reverse mode, not whole Jacobians (seconds, not minutes)


class SelfCheckFailed(UnsupportedArchitecture):
    pass


def _fail(model_type: str, layer: int, what: str) -> SelfCheckFailed:
    return SelfCheckFailed(f"model_type {model_type!r} fails the decoder self-check on layer {layer}: {what}; "
                           f"the generic Jacobian engine cannot be trusted on it. {supported_summary()}")


def checked_layers(config) -> list[int]:
    """Layer 0 and the first layer of every other layer type."""
    types = getattr(config, "layer_types", None) or ["layer"] * config.num_hidden_layers
    firsts = {}
    for i, t in enumerate(types[: config.num_hidden_layers]):
        firsts.setdefault(t, i)
    return sorted(firsts.values())


def _rel(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest relative error over rows (positions or states)."""
    got, want = got.double(), want.double()
    return ((got - want).norm(dim=-1) / want.norm(dim=-1).clamp_min(1e-30)).max().item()


def _hidden_states(model, ids: torch.Tensor):
    with torch.no_grad():
        return model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states


class _LayerIO:
    """Input, pre-MLP snapshot and output of one layer in the model's forward, with an optional
    submodule's output zeroed."""

    def __init__(self, model, layer_idx: int, pre_mlp: str):
        self.model, self.layer = model, decoder_stack(model).layers[layer_idx]
        self.pre_mlp = getattr(self.layer, pre_mlp)

    def __call__(self, ids, zero: str | None = None):
        seen = {}

        def first(args, kwargs):
            return (args[0] if args else kwargs["hidden_states"]).detach().clone()

        def zeroed(module, args, out):
            return (torch.zeros_like(out[0]), *out[1:]) if isinstance(out, tuple) else torch.zeros_like(out)

        def output(module, args, out):
            seen["out"] = (out[0] if isinstance(out, tuple) else out).detach().clone()

        handles = [self.layer.register_forward_pre_hook(lambda m, a, k: seen.__setitem__("in", first(a, k)),
                                                        with_kwargs=True),
                   self.pre_mlp.register_forward_pre_hook(lambda m, a, k: seen.__setitem__("pre_mlp", first(a, k)),
                                                          with_kwargs=True),
                   self.layer.register_forward_hook(output)]
        if zero is not None:
            handles.append(getattr(self.layer, zero).register_forward_hook(zeroed))
        try:
            with torch.no_grad():
                self.model(input_ids=ids, use_cache=False)
        finally:
            for h in handles:
                h.remove()
        return seen


def _check_pre_mlp_snapshot(model, layer_idx: int, ids, fail) -> float:
    """Check 4: the odd snapshot is the residual state the MLP step adds to."""
    layer = decoder_stack(model).layers[layer_idx]
    name = pre_mlp_module(model.config.model_type, layer)
    mlp, attn = child_named(layer, MLP_NAMES), child_named(layer, ATTENTION_NAMES)
    if mlp is None or attn is None:
        raise fail(f"no MLP ({'/'.join(MLP_NAMES)}) or attention ({'/'.join(ATTENTION_NAMES)}) submodule in "
                   f"{type(layer).__name__} (submodules: {', '.join(layer._modules)})")
    io = _LayerIO(model, layer_idx, name)
    full, no_mlp = io(ids), io(ids, zero=mlp)
    sequential = _rel(no_mlp["out"][0], full["pre_mlp"][0])
    if sequential <= FORWARD_RTOL:
        return sequential
    no_attn = io(ids, zero=attn)
    h = full["in"][0]
    is_h = _rel(full["pre_mlp"][0], h)
    parallel = _rel((no_mlp["out"] - h) + (no_attn["out"] - h), full["out"] - h)
    if is_h <= FORWARD_RTOL and parallel <= FORWARD_RTOL:
        return parallel
    raise fail(f"the pre-MLP snapshot (the input of `{name}`) is not the residual state the MLP step adds to: "
               f"with the MLP output zeroed the layer does not return it (relative error {sequential:.1e}), "
               f"and it is not a parallel block reading h (snapshot vs h {is_h:.1e}, attention + MLP "
               f"additivity {parallel:.1e})")


def _random_directions(d: int, generator, dtype, device) -> torch.Tensor:
    v = torch.randn(N_DIRECTIONS, d, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)
    return v / v.norm(dim=-1, keepdim=True)


def _reverse_rows(f, x, cotangents) -> torch.Tensor:
    """uᵀ J for each cotangent u (k, ...) by reverse mode (the vector-Jacobian products jacrev batches)."""
    _, pullback = torch.func.vjp(f, x)
    return torch.stack([pullback(u)[0] for u in cotangents])


def _jacobian_error(layer: DecoderLayer, states: torch.Tensor, generator) -> tuple[float, float]:
    """Check 5: largest relative error of autodiff against central differences along random
    directions v, single token (three states) and in context. Up to FULL_JACOBIAN_MAX_D the
    engine's own Jacobians are compared (|J v − FD v| / |FD v|); wider layers compare uᵀ J v from
    reverse mode with uᵀ FD v for random unit u (|·| / |FD v|), O(directions) passes instead of O(d)."""
    x = states.to(layer.dtype)
    d = x.shape[-1]
    dirs = _random_directions(d, generator, x.dtype, x.device)
    full = d <= FULL_JACOBIAN_MAX_D
    cots = None if full else _random_directions(d, generator, x.dtype, x.device)
    h = x[-N_STATES:]
    steps = STEP * h.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-3)  # (B, 1)
    if full:
        jacs = layer.single_token_jacobians(h)  # (B, d, d)
    else:
        rows = _reverse_rows(layer.single_token, h, [u.expand_as(h) for u in cots])  # (k, B, d): uᵀ J_b
    single = 0.0
    with torch.no_grad():
        for v in dirs:
            fd = (layer.single_token(h + steps * v) - layer.single_token(h - steps * v)) / (2 * steps)  # (B, d)
            if full:
                single = max(single, _rel(fd, jacs @ v))
            else:
                err = ((rows @ v).T - fd @ cots.T).abs() / fd.norm(dim=-1, keepdim=True)  # (B, k)
                single = max(single, err.max().item())
    context = layer._context(x[:-1])
    last = lambda v: layer.in_context(v, x[:-1], context=context)  # noqa: E731  the engine's path
    if full:
        jac = layer.in_context_jacobian(x)
    else:
        rows = _reverse_rows(last, x[-1], list(cots))  # (k, d)
    step = steps[-1]
    in_context = 0.0

    def whole(v):  # the last position of the whole sequence: not the engine's recorded-context path
        return layer.forward(torch.cat([x[:-1], v[None]])[None])[0, -1]

    with torch.no_grad():
        for v in dirs:
            fd = (whole(x[-1] + step * v) - whole(x[-1] - step * v)) / (2 * step)
            if full:
                in_context = max(in_context, _rel(fd[None], (jac @ v)[None]))
            else:
                in_context = max(in_context, ((rows @ v - cots @ fd).abs() / fd.norm()).max().item())
    return single, in_context


def check_decoder(model, seed: int = 0) -> dict:
    """Run the self-check on a loaded causal LM of a generic-engine type; raises `SelfCheckFailed`
    (an `UnsupportedArchitecture`) naming the type and what failed. Returns what it measured:
    {"layers", "in_context", "alone", "causal", "pre_mlp", "jacobian_single_token",
    "jacobian_in_context", "seconds"} (largest relative errors); {} for closed-form types."""
    model_type = model.config.model_type
    if engine_of(model_type) != "generic":
        return {}
    start = time.perf_counter()
    check_standard_layer(model)
    model = model.eval()
    config = model.config
    n_layers = len(decoder_stack(model).layers)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    vocab = model.get_input_embeddings().num_embeddings
    ids = torch.randint(min(3, vocab - 1), vocab, (1, PROMPT_LENGTH), generator=generator).to(device)
    try:
        full = _hidden_states(model, ids)
        half = _hidden_states(model, ids[:, : PROMPT_LENGTH // 2])
        alone = _hidden_states(model, ids[0][:, None])  # each token a prompt of its own
    except Exception as e:
        raise SelfCheckFailed(f"model_type {model_type!r} fails the decoder self-check: the model's own forward pass "
                              f"with output_hidden_states raised {type(e).__name__}: {e}") from e
    report = {"layers": [], "in_context": 0.0, "alone": 0.0, "causal": 0.0, "pre_mlp": 0.0,
              "jacobian_single_token": 0.0, "jacobian_in_context": 0.0}

    def worst(key, value):
        report[key] = max(report[key], value)
        return value

    for i in checked_layers(config):
        if i + 1 >= n_layers and n_layers > 1:  # the last hidden state is after the final norm
            continue
        report["layers"].append(i)
        try:
            _check_layer(model, i, ids, full, half, alone, generator, worst)
        except UnsupportedArchitecture:
            raise
        except Exception as e:  # a layer that does not take the standard call fails somewhere inside
            raise _fail(model_type, i, f"calling it as the engine does raised {type(e).__name__}: {e}") from e
    report["seconds"] = time.perf_counter() - start
    return report


def _check_layer(model, i: int, ids, full, half, alone, generator, worst) -> None:
    """Checks 1-5 on layer i; full, half, alone: the model's hidden states on the prompt, its first
    half, and each token alone."""
    model_type = model.config.model_type
    n_layers = len(decoder_stack(model).layers)
    fail = lambda what: _fail(model_type, i, what)  # noqa: E731
    if n_layers == 1:  # hidden_states[1] is after the final norm: read the layer's own output
        io = _LayerIO(model, i, pre_mlp_module(model_type, decoder_stack(model).layers[i]))
        x_ctx, want_ctx = full[0][0], io(ids)["out"][0]
        x_alone, want_alone = alone[0][:, 0], io(ids[0][:, None])["out"][:, 0]
    else:
        x_ctx, want_ctx = full[i][0], full[i + 1][0]
        x_alone, want_alone = alone[i][:, 0], alone[i + 1][:, 0]
    layer = DecoderLayer(model, i, x_ctx.dtype)
    with torch.no_grad():
        err = worst("in_context", max(_rel(layer.forward(x_ctx[None])[0], want_ctx),  # every position
                                      _rel(layer.in_context(x_ctx[-1], x_ctx[:-1])[None], want_ctx[-1:])))
        if err > FORWARD_RTOL:
            raise fail(f"in context, the layer map does not reproduce the model's hidden states "
                       f"(relative error {err:.1e} > {FORWARD_RTOL:.0e})")
        err = worst("alone", _rel(layer.single_token(x_alone), want_alone))
        if err > FORWARD_RTOL:
            raise fail(f"on one-token prompts, the layer map does not reproduce the model's hidden states "
                       f"(relative error {err:.1e} > {FORWARD_RTOL:.0e})")
    if n_layers > 1:
        err = worst("causal", _rel(half[i + 1][0], full[i + 1][0, : PROMPT_LENGTH // 2]))
        if err > FORWARD_RTOL:
            raise fail(f"the model is not causal: the first {PROMPT_LENGTH // 2} positions' hidden states after "
                       f"this layer change when later tokens follow (relative error {err:.1e}); does the "
                       "layer apply its attention mask?")
    worst("pre_mlp", _check_pre_mlp_snapshot(model, i, ids, fail))
    single, context = _jacobian_error(DecoderLayer(model, i, torch.float64), x_ctx, generator)
    worst("jacobian_single_token", single)
    worst("jacobian_in_context", context)
    if max(single, context) > JACOBIAN_RTOL:
        raise fail(f"in float64, autodiff Jacobians differ from central finite differences (relative error "
                   f"{single:.1e} alone, {context:.1e} in context > {JACOBIAN_RTOL:.0e})")
