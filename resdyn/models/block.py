"""A decoder block as a pure torch function of the last token's residual state.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.2 (exact per-layer Jacobians), in closed form.

`Block` copies one Hugging Face decoder layer's weights and re-implements its
forward for the last position only, with the earlier positions' keys and values
held fixed (`Context`). It is exact in any dtype (the transformers layers
upcast norms to float32, which spoils float64 finite-difference checks) and it
composes with `torch.func` (jacrev, jacfwd, vmap, jvp).

Protocols:
- single_token: the token alone at position 0 (the paper's). With one key the
  attention weight is 1, so attention reduces to W_o W_v norm(h); RoPE cancels.
- in_context: the last token at position p attends to the p earlier tokens,
  whose keys/values come from their own residual states and stay constant.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from resdyn.models.architectures import Architecture


@dataclass
class Context:
    """Keys/values of the earlier positions (n_kv, p, head_dim) and RoPE of the last one."""

    keys: torch.Tensor
    values: torch.Tensor
    cos: torch.Tensor  # (head_dim,)
    sin: torch.Tensor


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + _rotate_half(x) * sin


def rotary_tables(model, layer_idx: int, n_positions: int, dtype=torch.float32):
    """cos, sin of shape (n_positions, head_dim) as the model computes them for this layer."""
    rotary = model.model.rotary_emb
    device = model.model.layers[layer_idx].self_attn.o_proj.weight.device
    probe = torch.zeros(1, dtype=torch.float32, device=device)
    positions = torch.arange(n_positions, device=device)[None]
    if "layer_type" in inspect.signature(rotary.forward).parameters:
        layer_type = model.config.layer_types[layer_idx]
        cos, sin = rotary(probe, positions, layer_type)
    else:
        cos, sin = rotary(probe, positions)
    return cos[0].to(dtype), sin[0].to(dtype)


def _weight(linear, dtype):
    w = linear.weight.detach().to(dtype)
    b = None if linear.bias is None else linear.bias.detach().to(dtype)
    return w, b


def _linear(x, wb):
    w, b = wb
    y = x @ w.T
    return y if b is None else y + b


class _Norm:
    def __init__(self, module, scale_kind: str, dtype):
        eps = getattr(module, "variance_epsilon", None)
        self.eps = float(module.eps if eps is None else eps)
        w = module.weight.detach().to(dtype)
        self.scale = 1.0 + w if scale_kind == "one_plus_weight" else w

    def __call__(self, x):
        return self.scale * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def jacobian_parts(self, x):
        """n(x) = s ⊙ x / r with r = √(mean x² + eps) has Jacobian diag(s/r) (I − x xᵀ / (d r²)).

        Returns (s/r, x / (√d r)) so that Dn = diag(a) (I − b bᵀ); x: (B, d).
        """
        r = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.scale / r, x / (r * x.shape[-1] ** 0.5)


def _right_norm(mat, norm, x):
    """mat @ Dn(x), batched: mat (B, m, d), x (B, d)."""
    if norm is None:
        return mat
    a, b = norm.jacobian_parts(x)
    scaled = mat * a[:, None, :]
    return scaled - (scaled @ b[:, :, None]) * b[:, None, :]


def _left_norm(norm, x, mat):
    """Dn(x) @ mat, batched: x (B, d), mat (B, d, m)."""
    if norm is None:
        return mat
    a, b = norm.jacobian_parts(x)
    return a[:, :, None] * (mat - b[:, :, None] * (b[:, None, :] @ mat))


class Block:
    """One decoder block, evaluated at the last position."""

    def __init__(self, model, layer_idx: int, arch: Architecture, dtype=torch.float32):
        layer = model.model.layers[layer_idx]
        attn = layer.self_attn
        cfg = model.config
        self.arch, self.dtype, self.layer_idx = arch, dtype, layer_idx
        self.model = model
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        # None for blocks read by layer_files.single_token_block: no query-key product there
        self.scaling = None if attn.scaling is None else float(attn.scaling)
        self.softcap = getattr(cfg, "attn_logit_softcapping", None)
        # Gemma/OLMo/Qwen store a per-layer window on the attention module; Mistral applies config's to all.
        self.window = attn.sliding_window if hasattr(attn, "sliding_window") else getattr(cfg, "sliding_window", None)
        self.q, self.k, self.v, self.o = (
            _weight(getattr(attn, name), dtype) for name in ("q_proj", "k_proj", "v_proj", "o_proj")
        )
        norm = lambda m: _Norm(m, arch.norm_scale, dtype)  # noqa: E731
        self.q_norm = norm(attn.q_norm) if arch.qk_norm else None
        self.k_norm = norm(attn.k_norm) if arch.qk_norm else None
        self.attn_norm = norm(layer.input_layernorm) if arch.norm_placement != "post" else None
        self.post_attn_norm = (
            norm(layer.post_attention_layernorm) if arch.norm_placement in ("sandwich", "post") else None
        )
        mlp_pre = {"pre": "post_attention_layernorm", "sandwich": "pre_feedforward_layernorm"}
        self.mlp_norm = norm(getattr(layer, mlp_pre[arch.norm_placement])) if arch.norm_placement in mlp_pre else None
        self.post_mlp_norm = (
            norm(layer.post_feedforward_layernorm) if arch.norm_placement in ("sandwich", "post") else None
        )
        self.gate, self.up, self.down = (_weight(getattr(layer.mlp, n), dtype) for n in ("gate_proj", "up_proj", "down_proj"))
        self.act = layer.mlp.act_fn

    # -- pieces -------------------------------------------------------------
    def _heads(self, x, n):
        return x.reshape(*x.shape[:-1], n, self.head_dim)

    def _qk(self, x, wb, norm, n):
        y = _linear(x, wb)
        if self.arch.qk_norm == "full":
            return self._heads(norm(y), n)
        y = self._heads(y, n)
        return norm(y) if self.arch.qk_norm == "per_head" else y

    def _attn_input(self, h):
        return h if self.attn_norm is None else self.attn_norm(h)

    def keys_values(self, x, cos, sin):
        """Keys (RoPE applied) and values of attention inputs x (..., T, d) -> (..., n_kv, T, hd)."""
        k = _rope(self._qk(x, self.k, self.k_norm, self.n_kv), cos[..., None, :], sin[..., None, :])
        v = self._heads(_linear(x, self.v), self.n_kv)
        return k.transpose(-3, -2), v.transpose(-3, -2)

    def context(self, prefix: torch.Tensor) -> Context:
        """Context of a last token at position p = len(prefix), from the prefix's residual states (p, d)."""
        if self.scaling is None:
            raise ValueError("this block holds single-token weights only (no attention scaling or RoPE); "
                             "build it from sources.load_layer for the in-context protocol")
        p = prefix.shape[0]
        cos, sin = rotary_tables(self.model, self.layer_idx, p + 1, self.dtype)
        keys, values = self.keys_values(self._attn_input(prefix.to(self.dtype)), cos[:p], sin[:p])
        if self.window is not None:  # sliding layers see only the last `window` positions (itself included)
            keys, values = keys[:, max(0, p + 1 - self.window):], values[:, max(0, p + 1 - self.window):]
        return Context(keys.detach(), values.detach(), cos[p], sin[p])

    def _attention(self, x, ctx: Context | None):
        if ctx is None:  # a single token attends only to itself with weight 1
            v = _linear(x, self.v)
            v = self._heads(v, self.n_kv).repeat_interleave(self.n_heads // self.n_kv, dim=-2)
            return _linear(v.flatten(-2), self.o)
        q = _rope(self._qk(x, self.q, self.q_norm, self.n_heads), ctx.cos, ctx.sin)  # (H, hd)
        k_new, v_new = self.keys_values(x[None], ctx.cos[None], ctx.sin[None])  # (n_kv, 1, hd)
        keys = torch.cat([ctx.keys, k_new], dim=1).repeat_interleave(self.n_heads // self.n_kv, dim=0)
        values = torch.cat([ctx.values, v_new], dim=1).repeat_interleave(self.n_heads // self.n_kv, dim=0)
        scores = torch.einsum("hd,htd->ht", q, keys) * self.scaling
        if self.softcap:
            scores = torch.tanh(scores / self.softcap) * self.softcap
        out = torch.einsum("ht,htd->hd", torch.softmax(scores, dim=-1), values)
        return _linear(out.flatten(), self.o)

    # -- the block ----------------------------------------------------------
    def pre_mlp(self, h: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """Residual state after the attention step (the pre-MLP snapshot)."""
        a = self._attention(self._attn_input(h), ctx)
        if self.post_attn_norm is not None:
            a = self.post_attn_norm(a)
        return h + a

    def mlp_step(self, h1: torch.Tensor) -> torch.Tensor:
        x = h1 if self.mlp_norm is None else self.mlp_norm(h1)
        m = _linear(self.act(_linear(x, self.gate)) * _linear(x, self.up), self.down)
        if self.post_mlp_norm is not None:
            m = self.post_mlp_norm(m)
        return h1 + m

    def __call__(self, h: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """Block output at the last position. h: (d,), or (..., d) when ctx is None."""
        return self.mlp_step(self.pre_mlp(h, ctx))

    # -- closed-form single-token Jacobian ------------------------------------
    def _value_output(self) -> torch.Tensor:
        """W_o · repeat_heads · W_v (d × d): single-token attention is this linear map of norm(h)."""
        if not hasattr(self, "_wov"):
            wv = self._heads(self.v[0].T, self.n_kv).repeat_interleave(self.n_heads // self.n_kv, dim=-2)
            self._wov = self.o[0] @ wv.flatten(-2).T
        return self._wov

    def single_token_jacobian(self, h: torch.Tensor) -> torch.Tensor:
        """Exact Jacobians (B, d, d) of the block for tokens alone at position 0; h: (B, d).

        J = (I + DPm · W_down [diag(act'(g) ⊙ u) W_gate + diag(act(g)) W_up] · DNm) (I + DPa · W_ov · DNa),
        with N/P the pre/post norms where the architecture has them. Per sample that is
        2·d·f·d FLOPs for the MLP GEMM plus 2·d³ for the product with the attention step,
        about five times fewer than reverse-mode autodiff, nearly all of them in GEMMs.
        """
        h = h.to(self.dtype)
        eye = torch.eye(h.shape[-1], dtype=self.dtype, device=h.device)
        x_attn = self._attn_input(h)
        attn = _right_norm(self._value_output().expand(h.shape[0], -1, -1), self.attn_norm, h)
        a = self._attention(x_attn, None)
        j_attn = eye + _left_norm(self.post_attn_norm, a, attn)
        h1 = h + (a if self.post_attn_norm is None else self.post_attn_norm(a))
        x = h1 if self.mlp_norm is None else self.mlp_norm(h1)
        g, u = _linear(x, self.gate), _linear(x, self.up)
        act, act_grad = torch.func.jvp(self.act, (g,), (torch.ones_like(g),))
        # W_down [diag(act'(g)⊙u) W_gate + diag(act(g)) W_up]: the two paths are summed in the
        # (f × d) factor first (two passes over it), so the only large GEMM is one (d × f)(f × d)
        # per sample; the norm's Jacobian is applied after it, on d × d instead of f × d.
        inner = torch.addcmul(act[:, :, None] * self.up[0], (act_grad * u)[:, :, None], self.gate[0])
        mlp = _right_norm(self.down[0] @ inner, self.mlp_norm, h1)
        m = _linear(act * u, self.down)
        mlp = _left_norm(self.post_mlp_norm, m, mlp)
        return j_attn + mlp @ j_attn
