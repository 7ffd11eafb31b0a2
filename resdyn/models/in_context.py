"""Closed-form Jacobian of one block for the last token attending over a fixed context.

The in-context counterpart of Fernando & Guitchounts (2026), "Dynamics of the Transformer
Residual Stream", Appendix A.2.

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
Per sample this adds 2·d·(H·hd + n_kv·hd)·d FLOPs, nearly all in two GEMMs against W_q and
W_v, to the single-token closed form's 2·d·f·d + 2·d³ (about 1.4× at SmolLM2's shape).
Samples with contexts of different lengths are batched by padding the keys and masking them
out of the softmax (weight 0: no term survives).
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


def _rope_columns(m: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """m @ R along the last axis (hd): m diag(cos) + m diag(sin) P, and m P = [m₂, −m₁]."""
    half = m.shape[-1] // 2
    ms = m * sin
    return m * cos + torch.cat((ms[..., half:], -ms[..., :half]), dim=-1)


def _normed(block: Block, x, wb, norm, n: int):
    """q or k heads (B, n, hd) before RoPE, and the norm's Jacobian parts (a, b) shaped (B, groups,
    width), Dn = diag(a)(I − b bᵀ) per group (each head, or all heads at once); None without q/k norm."""
    y = _linear(x, wb)
    if block.arch.qk_norm == "full":
        a, b = norm.jacobian_parts(y)
        return block._heads(norm(y), n), (a[:, None], b[:, None])
    yh = block._heads(y, n)
    if block.arch.qk_norm == "per_head":
        return norm(yh), norm.jacobian_parts(yh)
    return yh, None


def _key_jacobian(block: Block, x, cos, sin):
    """The new key (B, n_kv, hd) of attention inputs x (B, d) and its Jacobian (B, n_kv, hd, d)."""
    n, hd = block.n_kv, block.head_dim
    z, parts = _normed(block, x, block.k, block.k_norm, n)
    w = block.k[0]
    if parts is None:
        jac = w.reshape(n, hd, -1).expand(x.shape[0], -1, -1, -1)
    else:
        a, b = parts  # (B, groups, width)
        wg = w.reshape(a.shape[1], a.shape[2], -1)
        jac = (a[..., None] * (wg - b[..., None] * (b[:, :, None, :] @ wg))).reshape(x.shape[0], n, hd, -1)
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
    """Pre-MLP states (B, d) and Jacobians (B, d, d) of the attention step h -> h + P_a(attn(N_a(h))).

    W_o ∂o/∂x is assembled as GEMMs whose right factor is a weight matrix shared by all samples:
    Σ_h W_o,h G_h K_h R diag(a_h) · W_q,h (RoPE and the q norm's diagonal folded into the small
    hd × hd left factor), Σ_g (Σ_h∈g w_p,h W_o,h) · W_v,g, and rank-H terms for the new key and
    the q norm's rank-one parts. No d × d intermediate is built per head.
    """
    if block.scaling is None:
        raise ValueError("this block holds single-token weights only (no attention scaling or RoPE); "
                         "build it from sources.load_layer for the in-context protocol")
    if len(contexts) != h.shape[0]:
        raise ValueError(f"{len(contexts)} contexts for {h.shape[0]} states")
    keys, values, mask, cos, sin = (t.to(block.dtype) if t.is_floating_point() else t
                                    for t in padded_contexts(contexts))
    n_batch, d = h.shape
    H, n_kv, hd = block.n_heads, block.n_kv, block.head_dim
    rep = H // n_kv
    x = block._attn_input(h)
    z, q_parts = _normed(block, x, block.q, block.q_norm, H)
    q = _rope(z, cos[:, None], sin[:, None])  # (B, H, hd)
    k_new, dk = _key_jacobian(block, x, cos, sin)  # (B, n_kv, hd), (B, n_kv, hd, d)
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
    wo = block.o[0].reshape(d, H, hd)
    # through q: W_o,h · G_h K_h R diag(a) · (I − b bᵀ) W_q
    small = _rope_columns(g @ all_keys, cos[:, None, None], sin[:, None, None])  # (B, H, hd, hd)
    if q_parts is not None:
        small = small * q_parts[0].reshape(n_batch, H, 1, hd)
    left = torch.einsum("dhi,bhij->bdhj", wo, small).reshape(n_batch, d, H * hd)
    attn = left @ block.q[0]
    if q_parts is not None:  # the norm's rank-one part, per group (each head, or all heads)
        b = q_parts[1]
        groups = b.shape[1]
        wq = block.q[0].reshape(groups, -1, d)
        coef = torch.einsum("bdgj,bgj->bdg", left.reshape(n_batch, d, groups, -1), b)
        attn.baddbmm_(coef, torch.einsum("bgj,gjd->bgd", b, wq), alpha=-1)
    # through the new key: Σ_h (W_o,h G_h[:, p]) (q_hᵀ Dk_g)
    q_dk = (q.reshape(n_batch, n_kv, rep, hd) @ dk).reshape(n_batch, H, d)
    attn.baddbmm_(torch.einsum("dhi,bhi->bdh", wo, g[..., -1]), q_dk)
    # through the new value: Σ_g (Σ_h∈g w_p,h W_o,h) W_v,g
    wo_v = torch.einsum("dgri,bgr->bdgi", wo.reshape(d, n_kv, rep, hd), w[..., -1].reshape(n_batch, n_kv, rep))
    attn.view(n_batch * d, d).addmm_(wo_v.reshape(n_batch * d, n_kv * hd), block.v[0])
    attn = _right_norm(attn, block.attn_norm, h)
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
