"""The iterated state of a loop model and its step maps.

Implements the iterated map z_(t+1) = f(z_t) of anonymous authors (2026), "Lyapunov Spectral
Analysis of Loop Transformer Dynamics", Section 2.

Two readings of "the state" (config ``loops.loop_state``):

- ``sequence``: the whole residual stream Z (n, d) is the state, f(Z) the loop step
  (the loop paper writes f(X) on the sequence X). Every position is perturbed; the tangent
  space has n * d dimensions.
- ``token``: the last token's state z (d,) is the state. Its context (the earlier
  positions) runs along its own unperturbed orbit, loop by loop, and enters the last
  token's attention as fixed keys/values of that loop. Causality makes this exact: no
  earlier position reads the last one, so the sequence map is block lower-triangular
  and the token map is its last diagonal block; its exponents are a subset of the
  sequence map's (the union of the blocks' spectra).

Both maps are lists of named sublayer maps (B, m, d) -> (B, m, d) that
``resdyn.lyapunov.benettin`` pushes tangents through.
"""
from __future__ import annotations

from typing import Callable

import torch

from resdyn.loops.blocks import KVContext
from resdyn.loops.sublayers import PreparedPrompt

LOOP_STATES = ("sequence", "token")


def sequence_maps(model, prompt: PreparedPrompt) -> list[tuple[str, Callable]]:
    pos = torch.arange(prompt.n, device=prompt.z0.device)
    return [(s.name, (lambda fn: (lambda x: fn(x, pos, None, prompt.fixed)))(s.fn)) for s in model.sublayers()]


def context_orbit(model, prompt: PreparedPrompt, n_loops: int) -> list[list[KVContext | None]]:
    """ctx[t][j]: keys/values of the context positions (0 .. n-2) at sublayer j in loop t
    of the unperturbed orbit (None for sublayers without attention)."""
    subs = model.sublayers()
    c = prompt.n - 1
    pos = torch.arange(c, device=prompt.z0.device)
    x = prompt.z0[:, :c]
    out = []
    with torch.no_grad():
        for _ in range(n_loops):
            loop = []
            for s in subs:
                rec = [] if s.attention else None
                x = s.fn(x, pos, None, prompt.fixed, rec) if c else x
                if s.attention:
                    k, v = rec[0] if c else (None, None)
                    loop.append(KVContext(k, v, pos) if c else _empty_context(prompt, model))
                else:
                    loop.append(None)
            out.append(loop)
    return out


def _empty_context(prompt, model):
    hd = model.head_dim
    z = torch.zeros(1, model.n_kv, 0, hd, dtype=prompt.z0.dtype, device=prompt.z0.device)
    return KVContext(z, z, torch.zeros(0, dtype=torch.long, device=prompt.z0.device))


def token_maps(model, prompt: PreparedPrompt, n_loops: int) -> Callable[[int], list[tuple[str, Callable]]]:
    """s -> the maps of loop s acting on the last token's state (B, 1, d)."""
    ctx = context_orbit(model, prompt, n_loops)
    last = torch.tensor([prompt.n - 1], device=prompt.z0.device)
    subs = model.sublayers()

    def maps(s: int):
        return [(sub.name, (lambda fn, c: (lambda x: fn(x, last, c, prompt.fixed)))(sub.fn, ctx[s][j]))
                for j, sub in enumerate(subs)]

    return maps


def loop_system(model, prompt: PreparedPrompt, loop_state: str, n_loops: int):
    """(initial state (1, *S), maps) of the iterated map in the given reading."""
    if loop_state == "sequence":
        return prompt.z0.clone(), sequence_maps(model, prompt)
    if loop_state == "token":
        return prompt.z0[:, -1:].clone(), token_maps(model, prompt, n_loops)
    raise ValueError(f"loops.loop_state must be one of {LOOP_STATES}, got {loop_state!r}")


def sublayer_states(model, prompt: PreparedPrompt, n_loops: int) -> torch.Tensor:
    """The last token's residual state after every sublayer of every loop of the
    unperturbed orbit: (n_loops, n_sublayers, d)."""
    pos = torch.arange(prompt.n, device=prompt.z0.device)
    x = prompt.z0
    rows = []
    with torch.no_grad():
        for _ in range(n_loops):
            loop = []
            for s in model.sublayers():
                x = s.fn(x, pos, None, prompt.fixed)
                loop.append(x[0, -1].clone())
            rows.append(torch.stack(loop))
    return torch.stack(rows)
