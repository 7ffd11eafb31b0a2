"""Closed-form Jacobian of one block for the last token attending over a fixed context.

The last token, at its real position p, attends to the earlier positions' keys and values
(`Context`, computed once from their own residual states and held constant) and to its own.
With x = N_a(h) the attention input, head h of group g reads

    s_t = c(scaling · q_h · k_t),   w = softmax(s),   o_h = Σ_t w_t v_t,

so the derivative through q, the new key k_p and the new value v_p is

    ∂o_h/∂x = G_h K_h Dq_h + G_h[:, p] (q_hᵀ Dk_g) + w_p Dv_g,
    G_h = V_hᵀ (diag(w) − w wᵀ) diag(c'(·)) · scaling        (hd × T),

with Dq, Dk the Jacobians of the projections (q/k norms where the architecture has them,
then RoPE at position p, a linear map) and Dv = W_v. The attention step is then
I + DP_a · W_o · ∂o/∂x · DN_a and the MLP step is the single-token closed form's, taken at
the in-context pre-MLP state. Sliding windows are already applied by `Block.context`.
Per sample this adds one (d × H·hd)(H·hd × d) GEMM and H small (hd × hd)(hd × d) ones to
the single-token closed form. Samples with contexts of different lengths are batched by
padding the keys and masking them out of the softmax (weight 0: no term survives).
"""
from __future__ import annotations

import torch

from resdyn.models.block import Block, Context, _left_norm, _linear, _right_norm, _rope


def _rotate_half_rows(m: torch.Tensor) -> torch.Tensor:
    """rotate_half along the head_dim axis (-2) of m (..., hd, d): P @ m for RoPE's permutation P."""
    half = m.shape[-2] // 2
    return torch.cat((-m[..., half:, :], m[..., :half, :]), dim=-2)


def _rope_rows(m: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """R @ m for RoPE's linear map R = diag(cos) + diag(sin) P; m (B, n, hd, d), cos/sin (B, 1, hd)."""
    return m * cos[..., None] + _rotate_half_rows(m) * sin[..., None]


def _projection(block: Block, x, wb, norm, n: int, cos, sin):
    """Rotated q or k heads (B, n, hd) of attention inputs x (B, d) and their Jacobian (B, n, hd, d)."""
    hd = block.head_dim
    w = wb[0]
    y = _linear(x, wb)
    if block.arch.qk_norm == "full":  # one norm over all heads: Dn(y) W with Dn = diag(a)(I − b bᵀ)
        a, b = norm.jacobian_parts(y)
        jac = a[:, :, None] * (w - b[:, :, None] * (b @ w)[:, None, :])
        z, jac = block._heads(norm(y), n), jac.reshape(-1, n, hd, w.shape[-1])
    elif block.arch.qk_norm == "per_head":
        yh = block._heads(y, n)
        a, b = norm.jacobian_parts(yh)
        wh = w.reshape(n, hd, -1)
        jac = a[..., None] * (wh - b[..., None] * (b[:, :, None, :] @ wh))
        z = norm(yh)
    else:
        z, jac = block._heads(y, n), w.reshape(n, hd, -1).expand(x.shape[0], -1, -1, -1)
    cos, sin = cos[:, None], sin[:, None]
    return _rope(z, cos, sin), _rope_rows(jac, cos, sin)


def padded_contexts(contexts: list[Context]):
    """Stack contexts of different lengths: keys, values (B, n_kv, P, hd) zero-padded at the end,
    mask (B, P) True on real positions, cos, sin (B, hd)."""
    width = max(c.keys.shape[1] for c in contexts)
    n_kv, _, hd = contexts[0].keys.shape
    ref = contexts[0].keys
    keys = ref.new_zeros(len(contexts), n_kv, width, hd)
    values = torch.zeros_like(keys)
    mask = torch.zeros(len(contexts), width, dtype=torch.bool, device=ref.device)
    for i, c in enumerate(contexts):
        p = c.keys.shape[1]
        keys[i, :, :p], values[i, :, :p], mask[i, :p] = c.keys, c.values, True
    cos = torch.stack([c.cos for c in contexts])
    sin = torch.stack([c.sin for c in contexts])
    return keys, values, mask, cos, sin


def attention_step(block: Block, h: torch.Tensor, contexts: list[Context]):
    """Pre-MLP states (B, d) and Jacobians (B, d, d) of the attention step h -> h + P_a(attn(N_a(h)))."""
    if block.scaling is None:
        raise ValueError("this block holds single-token weights only (no attention scaling or RoPE); "
                         "build it from sources.load_layer for the in-context protocol")
    if len(contexts) != h.shape[0]:
        raise ValueError(f"{len(contexts)} contexts for {h.shape[0]} states")
    keys, values, mask, cos, sin = (t.to(block.dtype) if t.is_floating_point() else t for t in padded_contexts(contexts))
    n_batch, d = h.shape
    H, n_kv, hd = block.n_heads, block.n_kv, block.head_dim
    rep = H // n_kv
    x = block._attn_input(h)
    q, dq = _projection(block, x, block.q, block.q_norm, H, cos, sin)  # (B, H, hd), (B, H, hd, d)
    k_new, dk = _projection(block, x, block.k, block.k_norm, n_kv, cos, sin)  # (B, n_kv, hd), ...
    v_new = block._heads(_linear(x, block.v), n_kv)
    all_keys = torch.cat([keys, k_new[:, :, None]], dim=2).repeat_interleave(rep, dim=1)  # (B, H, T, hd)
    all_values = torch.cat([values, v_new[:, :, None]], dim=2).repeat_interleave(rep, dim=1)
    full_mask = torch.cat([mask, mask.new_ones(n_batch, 1)], dim=1)[:, None, :]  # the token sees itself
    scores = torch.einsum("bhd,bhtd->bht", q, all_keys) * block.scaling
    if block.softcap:
        t = torch.tanh(scores / block.softcap)
        scores, cap_grad = t * block.softcap, 1 - t * t
    else:
        cap_grad = None
    w = torch.softmax(scores.masked_fill(~full_mask, float("-inf")), dim=-1)  # (B, H, T)
    out = torch.einsum("bht,bhtd->bhd", w, all_values)
    # G = Vᵀ (diag(w) − w wᵀ) diag(c') · scaling: how each score moves o_h (zero on padded keys, w = 0)
    g = (all_values * w[..., None]).mT - out[..., :, None] * w[..., None, :]
    g = g * (block.scaling if cap_grad is None else cap_grad[..., None, :] * block.scaling)
    d_out = (g @ all_keys) @ dq  # through q: (B, H, hd, d)
    q_dk = (q.reshape(n_batch, n_kv, rep, hd) @ dk).reshape(n_batch, H, d)  # q_hᵀ Dk_g
    d_out = d_out + g[..., -1:] * q_dk[:, :, None, :]  # through the new key
    wv = block.v[0].reshape(n_kv, 1, hd, d).expand(n_kv, rep, hd, d).reshape(H, hd, d)
    d_out = d_out + w[..., -1, None, None] * wv  # through the new value
    attn = _right_norm(block.o[0] @ d_out.reshape(n_batch, H * hd, d), block.attn_norm, h)
    a = _linear(out.reshape(n_batch, H * hd), block.o)
    eye = torch.eye(d, dtype=block.dtype, device=h.device)
    h1 = h + (a if block.post_attn_norm is None else block.post_attn_norm(a))
    return h1, eye + _left_norm(block.post_attn_norm, a, attn)


def mlp_step_jacobian(block: Block, h1: torch.Tensor) -> torch.Tensor:
    """Jacobians (B, d, d) of the MLP's residual update at pre-MLP states h1 (B, d), as in
    `Block.single_token_jacobian`: DP_m · W_down [diag(act'(g) ⊙ u) W_gate + diag(act(g)) W_up] · DN_m."""
    x = h1 if block.mlp_norm is None else block.mlp_norm(h1)
    g, u = _linear(x, block.gate), _linear(x, block.up)
    act, act_grad = torch.func.jvp(block.act, (g,), (torch.ones_like(g),))
    inner = torch.addcmul(act[:, :, None] * block.up[0], (act_grad * u)[:, :, None], block.gate[0])
    mlp = _right_norm(block.down[0] @ inner, block.mlp_norm, h1)
    return _left_norm(block.post_mlp_norm, _linear(act * u, block.down), mlp)


def in_context_jacobians(block: Block, states: torch.Tensor, contexts: list[Context]) -> torch.Tensor:
    """Exact Jacobians (B, d, d) of the block at last-token states (B, d), each over its own context.

    J = (I + M(h1)) A with A the attention step's Jacobian and M the MLP update's at h1.
    """
    h = states.to(block.dtype)
    h1, j_attn = attention_step(block, h, contexts)
    return j_attn + mlp_step_jacobian(block, h1) @ j_attn
