"""Gemma 4 (text) decoder layer for a token alone at position 0, and its closed-form Jacobian.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.2, for Gemma 4.

The layer (transformers' Gemma4TextDecoderLayer), with N/P RMSNorms scaled by w (not 1 + w):
  h1 = h + P_a(A(N_a(h)))                               attention step
  h2 = h1 + P_m(W_down (act(W_gate y) ⊙ W_up y)),  y = N_m(h1)   MLP step
  h3 = h2 + P_e(W_proj (act(W_G h2) ⊙ e))               per-layer-input (PLE) branch
  h' = s · h3                                           `layer_scalar` scales all of it, residual included
e (the token's per-layer input) depends only on the token id, so it is constant in h.

Attention of a lone token: one key, weight 1 whatever the query (scaling, q/k norms, RoPE and
the sliding window drop out), so A(x) = W_o · repeat_kv(vnorm(W_v x)), vnorm an unscaled
RMSNorm per head, W_v = W_k on global layers with `attention_k_eq_v`.

KV-shared layers (the last `num_kv_shared_layers`): their keys/values are those of an earlier
layer ℓ' (the last unshared layer of the same sliding/global type), computed from h_ℓ', which
∂h_{ℓ+1}/∂h_ℓ holds fixed. A lone token's attention output is then W_o · repeat_kv(v_ℓ'): a
constant shift, so the attention step's Jacobian is exactly I and J = s (I + J_PLE)(I + J_MLP)
at h1 = h + P_a(W_o v_ℓ'); the shift needs the sample's own state at ℓ' (snapshot 2ℓ').
In context (resdyn.models.generic) a shared layer's keys and values at every position,
its own included, come from layer ℓ', so h enters its attention through the query alone.
"""
from __future__ import annotations

import torch

from resdyn.models.block import _left_norm, _linear, _Norm, _right_norm, _weight


def kv_source_of(config, layer_idx: int) -> int | None:
    """The earlier layer whose keys/values layer `layer_idx` reuses (None if it computes its own)."""
    modes = config.kv_sharing_modes
    if modes[layer_idx] != "reuse":
        return None
    kind = config.layer_types[layer_idx]
    return max(i for i, m in enumerate(modes) if m == "store" and config.layer_types[i] == kind)


@torch.no_grad()
def per_layer_inputs(model, token_ids, layer_idx: int) -> torch.Tensor | None:
    """e_token of each token id (n,) at layer `layer_idx`, (n, p), as the model computes it; None without PLE."""
    stack = model.model
    if not model.config.hidden_size_per_layer_input:
        return None
    ids = torch.as_tensor(token_ids, device=stack.embed_tokens.weight.device).reshape(1, -1)
    embeds = stack.embed_tokens(ids)
    return stack.project_per_layer_inputs(embeds, stack.get_per_layer_inputs(ids, embeds))[0, :, layer_idx]


def per_layer_inputs_from_folder(path, token_ids, layer_idx: int, device="cpu") -> torch.Tensor | None:
    """`per_layer_inputs` from a prepared folder's tensors: only the rows of these tokens and the
    slices of this layer (E4B's per-layer table alone is 262144 × 42·256 floats, 11 GB)."""
    import json
    from pathlib import Path

    from safetensors import safe_open

    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    p, d, eps = cfg["hidden_size_per_layer_input"], cfg["hidden_size"], float(cfg["rms_norm_eps"])
    if not p:
        return None
    ids = [int(t) for t in token_ids]
    unique = sorted(set(ids))
    cols = slice(layer_idx * p, (layer_idx + 1) * p)
    found = {}
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(file, "pt", device=str(device)) as f:
            keys = set(f.keys())
            for name, rows in (("embed_tokens.weight", unique), ("embed_tokens_per_layer.weight", unique),
                               ("per_layer_model_projection.weight", None), ("per_layer_projection_norm.weight", None)):
                key = f"model.{name}"
                if key in keys:
                    t = f.get_slice(key)
                    if name == "embed_tokens.weight":
                        found[name] = torch.stack([t[r : r + 1][0] for r in rows])
                    elif name == "embed_tokens_per_layer.weight":
                        found[name] = torch.stack([t[r : r + 1, cols][0] for r in rows])
                    elif name == "per_layer_model_projection.weight":
                        found[name] = t[cols]
                    else:
                        found[name] = t[:]
    missing = {"embed_tokens.weight", "embed_tokens_per_layer.weight", "per_layer_model_projection.weight",
               "per_layer_projection_norm.weight"} - set(found)
    if missing:
        raise ValueError(f"{path}: no {sorted(missing)} among the safetensors (needed for Gemma 4's per-layer inputs)")
    row = torch.as_tensor([unique.index(t) for t in ids], device=found["embed_tokens.weight"].device)
    embeds = found["embed_tokens.weight"][row] * torch.tensor(d**0.5, dtype=torch.float32)  # as the model scales
    proj = embeds @ found["per_layer_model_projection.weight"].T * d**-0.5
    proj = proj * torch.pow(proj.pow(2).mean(-1, keepdim=True) + eps, -0.5) * found["per_layer_projection_norm.weight"]
    token = found["embed_tokens_per_layer.weight"][row] * torch.tensor(p**0.5, dtype=torch.float32)
    return (proj + token) * 2.0**-0.5


class Gemma4Block:
    """One Gemma 4 text layer at a lone token (position 0); `source` is the layer it takes K/V from."""

    def __init__(self, model, layer_idx: int, dtype=torch.float32, source: "Gemma4Block | None" = None):
        cfg = model.config
        layer = model.model.layers[layer_idx]
        attn = layer.self_attn
        if cfg.enable_moe_block:
            raise ValueError("Gemma 4 with enable_moe_block has no closed form here; its layers are not supported")
        self.layer_idx, self.dtype = layer_idx, dtype
        self.shared = bool(attn.is_kv_shared_layer)
        if self.shared and source is None:
            raise ValueError(f"Gemma 4 layer {layer_idx} reuses layer {kv_source_of(cfg, layer_idx)}'s keys/values: "
                             "pass that layer's Gemma4Block as source")
        self.source = source
        norm = lambda m: _Norm(m, "weight", dtype)  # noqa: E731
        self.attn_norm, self.post_attn_norm = norm(layer.input_layernorm), norm(layer.post_attention_layernorm)
        self.mlp_norm, self.post_mlp_norm = norm(layer.pre_feedforward_layernorm), norm(layer.post_feedforward_layernorm)
        self.head_dim, self.groups = attn.head_dim, attn.num_key_value_groups
        self.o = _weight(attn.o_proj, dtype)
        if not self.shared:
            self.v = _weight(attn.v_proj if attn.v_proj is not None else attn.k_proj, dtype)  # k = v on global layers
            self.v_eps = float(attn.v_norm.eps)
        # W_o · repeat_kv: heads of one KV group share a value, so their W_o columns add up
        wo = self.o[0].reshape(self.o[0].shape[0], -1, self.groups, self.head_dim)
        self.wo_kv = wo.sum(2).flatten(1)  # (d, n_kv · head_dim)
        self.gate, self.up, self.down = (_weight(getattr(layer.mlp, n), dtype) for n in ("gate_proj", "up_proj", "down_proj"))
        self.act = layer.mlp.act_fn
        self.ple = bool(cfg.hidden_size_per_layer_input)
        if self.ple:
            self.ple_gate, self.ple_proj = _weight(layer.per_layer_input_gate, dtype), _weight(layer.per_layer_projection, dtype)
            self.ple_norm = norm(layer.post_per_layer_input_norm)
            self.ple_act = layer.act_fn
        self.scalar = layer.layer_scalar.detach().to(dtype)

    @property
    def device(self):
        return self.o[0].device

    # -- forward --------------------------------------------------------------
    def _value_heads(self, h):
        """Raw per-head values W_v N_a(h), (B, n_kv, head_dim)."""
        y = _linear(self.attn_norm(h), self.v)
        return y.reshape(*y.shape[:-1], -1, self.head_dim)

    def values(self, h):
        """vnorm(W_v N_a(h)) flattened, (B, n_kv · head_dim): what a lone token at this layer attends to."""
        y = self._value_heads(h)
        return (y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.v_eps)).flatten(-2)

    def _attention(self, h, kv_input):
        v = self.source.values(kv_input.to(self.dtype)) if self.shared else self.values(h)
        return v @ self.wo_kv.T

    def pre_mlp(self, h, kv_input=None):
        return h + self.post_attn_norm(self._attention(h, kv_input))

    def __call__(self, h, per_layer_input=None, kv_input=None):
        """Layer output (B, d) at states h (B, d); per_layer_input (B, p): e_token; kv_input (B, d): h_ℓ' of shared layers."""
        h = h.to(self.dtype)
        h1 = self.pre_mlp(h, kv_input)
        y = self.mlp_norm(h1)
        h2 = h1 + self.post_mlp_norm(_linear(self.act(_linear(y, self.gate)) * _linear(y, self.up), self.down))
        if self.ple:
            h2 = h2 + self.ple_norm(_linear(self.ple_act(_linear(h2, self.ple_gate)) * per_layer_input.to(self.dtype),
                                            self.ple_proj))
        return self.scalar * h2

    # -- closed-form Jacobian -----------------------------------------------------
    def single_token_jacobian(self, h, per_layer_input=None, kv_input=None):
        """Exact J (B, d, d) = s (I + J_PLE)(I + J_MLP)(I + J_attn), J_attn = 0 on KV-shared layers.

        J_attn = DP_a · W_o R · Dvnorm · W_v · DN_a; J_MLP as in `Block`; J_PLE =
        DP_e · W_proj diag(act'(W_G h2) ⊙ e) W_G, applied as a rank-p update (p = 256 ≪ d).
        """
        h = h.to(self.dtype)
        eye = torch.eye(h.shape[-1], dtype=self.dtype, device=h.device)
        a = self._attention(h, kv_input)
        if self.shared:
            j_attn = eye.expand(h.shape[0], -1, -1)
        else:
            y = self._value_heads(h)  # (B, n_kv, hd)
            r = torch.sqrt(y.pow(2).mean(-1, keepdim=True) + self.v_eps)
            wv = self.v[0].reshape(-1, self.head_dim, h.shape[-1])  # (n_kv, hd, d)
            # Dvnorm W_v per head: (W_v − y (yᵀ W_v) / (hd r²)) / r
            proj = torch.einsum("bkh,khd->bkd", y, wv)
            dv = (wv[None] - y[..., None] * proj[:, :, None, :] / (self.head_dim * r[..., None] ** 2)) / r[..., None]
            attn = _right_norm(self.wo_kv @ dv.flatten(1, 2), self.attn_norm, h)
            j_attn = eye + _left_norm(self.post_attn_norm, a, attn)
        h1 = h + self.post_attn_norm(a)
        x = self.mlp_norm(h1)
        g, u = _linear(x, self.gate), _linear(x, self.up)
        act, act_grad = torch.func.jvp(self.act, (g,), (torch.ones_like(g),))
        inner = torch.addcmul(act[:, :, None] * self.up[0], (act_grad * u)[:, :, None], self.gate[0])
        m = _linear(act * u, self.down)
        mlp = _left_norm(self.post_mlp_norm, m, _right_norm(self.down[0] @ inner, self.mlp_norm, h1))
        jac = j_attn + mlp @ j_attn
        if self.ple:
            h2 = h1 + self.post_mlp_norm(m)
            e = per_layer_input.to(self.dtype)
            z = _linear(h2, self.ple_gate)
            pa, pa_grad = torch.func.jvp(self.ple_act, (z,), (torch.ones_like(z),))
            o = _linear(pa * e, self.ple_proj)
            left = _left_norm(self.ple_norm, o, self.ple_proj[0] * (pa_grad * e)[:, None, :])  # (B, d, p)
            jac = jac + left @ (self.ple_gate[0] @ jac)
        return self.scalar * jac
