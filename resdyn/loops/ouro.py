"""Ouro (ByteDance, `OuroForCausalLM`, hub remote code) as a loop map.

Implements the Ouro loop map of anonymous authors (2026), "Lyapunov Spectral Analysis of Loop
Transformer Dynamics", Section 2.1.

The model applies its 24 decoder layers ``total_ut_steps`` times, each pass followed by
the final RMSNorm, and weighs the passes' outputs by a learned early-exit gate. The loop
step studied here is f = norm o B_24 o ... o B_1 with the gate bypassed (as the loop paper does): the
iterated map on the residual stream, starting from the token embeddings. Each layer is a
sandwich-norm block

    x <- x + n_attn_out(Attn(n_attn_in(x)))       (input_layernorm, input_layernorm_2)
    x <- x + n_mlp_out(MLP(n_mlp_in(x)))          (post_attention_layernorm, post_attention_layernorm_2)

with SwiGLU MLP, multi-head attention with rotary embeddings (rotate-half convention,
theta = rope_theta) and an optional sliding window (layer_types / sliding_window).
Sublayers for the attribution: the 24 layers and the final norm (25).
Weight names are those of the published safetensors (model.layers.{i}.self_attn.q_proj.weight, ...).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from resdyn.loops.blocks import attend, inverse_frequencies, rms_norm, rope_half
from resdyn.loops.sublayers import PreparedPrompt, Sublayer
from resdyn.loops.weights import LoopModelError, need, read_config, read_tensors, take


class OuroLoop:
    arch = "ouro"

    def __init__(self, cfg: dict, tensors: dict, folder="(in memory)", device="cpu"):
        self.cfg = cfg
        self.d = int(need(cfg, "hidden_size", folder))
        self.n_layers = int(need(cfg, "num_hidden_layers", folder))
        self.n_heads = int(need(cfg, "num_attention_heads", folder))
        self.n_kv = int(cfg.get("num_key_value_heads") or self.n_heads)
        self.head_dim = int(cfg.get("head_dim") or self.d // self.n_heads)
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        act = cfg.get("hidden_act", "silu")
        if act != "silu":
            raise LoopModelError(f"{folder}: hidden_act {act!r}; the Ouro map implements silu (SwiGLU)")
        scaling = cfg.get("rope_scaling")
        if scaling and scaling.get("rope_type", scaling.get("type", "default")) != "default":
            raise LoopModelError(f"{folder}: rope_scaling {scaling!r} is not implemented (default RoPE only)")
        types = cfg.get("layer_types") or ["full_attention"] * self.n_layers
        # as the reference: a layer typed sliding_attention uses sliding_window
        self.windows = [cfg.get("sliding_window") if t == "sliding_attention" else None for t in types]
        dtype = tensors["model.embed_tokens.weight"].dtype if "model.embed_tokens.weight" in tensors else torch.float32
        self.dtype = dtype
        self.device = torch.device(device)
        self.inv_freq = inverse_frequencies(self.head_dim, float(cfg.get("rope_theta", 10000.0))).to(self.device)
        t = lambda name, shape=None: take(tensors, name, folder, shape)  # noqa: E731
        d, hd, inter = self.d, self.head_dim, int(need(cfg, "intermediate_size", folder))
        self.embed = t("model.embed_tokens.weight")
        self.norm = t("model.norm.weight", (d,))
        self.layers = []
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            self.layers.append(dict(
                q=t(p + "self_attn.q_proj.weight", (self.n_heads * hd, d)),
                k=t(p + "self_attn.k_proj.weight", (self.n_kv * hd, d)),
                v=t(p + "self_attn.v_proj.weight", (self.n_kv * hd, d)),
                o=t(p + "self_attn.o_proj.weight", (d, self.n_heads * hd)),
                gate=t(p + "mlp.gate_proj.weight", (inter, d)),
                up=t(p + "mlp.up_proj.weight", (inter, d)),
                down=t(p + "mlp.down_proj.weight", (d, inter)),
                ln_in=t(p + "input_layernorm.weight", (d,)),
                ln_in2=t(p + "input_layernorm_2.weight", (d,)),
                ln_post=t(p + "post_attention_layernorm.weight", (d,)),
                ln_post2=t(p + "post_attention_layernorm_2.weight", (d,)),
            ))

    @classmethod
    def from_folder(cls, folder, dtype=torch.float32, device="cpu") -> "OuroLoop":
        cfg = read_config(folder)
        # the LM head and the exit gate take no part in the loop step
        return cls(cfg, read_tensors(folder, dtype, device, ("lm_head.", "model.early_exit_gate.")), folder, device)

    # -- the map -------------------------------------------------------------
    def _layer(self, i: int):
        w, window = self.layers[i], self.windows[i]
        h, hkv, hd, eps = self.n_heads, self.n_kv, self.head_dim, self.eps

        def fn(x, pos, ctx, fixed, record=None):
            b, m, _ = x.shape
            a = rms_norm(x, w["ln_in"], eps)
            q = (a @ w["q"].T).view(b, m, h, hd).transpose(1, 2)
            k = (a @ w["k"].T).view(b, m, hkv, hd).transpose(1, 2)
            v = (a @ w["v"].T).view(b, m, hkv, hd).transpose(1, 2)
            q, k = rope_half(q, pos, self.inv_freq), rope_half(k, pos, self.inv_freq)
            if record is not None:
                record.append((k.detach(), v.detach()))
            kk, vv, kpos = ctx.extend(k, v, pos) if ctx is not None else (k, v, pos)
            out = attend(q, kk, vv, pos, kpos, window) @ w["o"].T
            x = x + rms_norm(out, w["ln_in2"], eps)
            g = rms_norm(x, w["ln_post"], eps)
            mlp = (F.silu(g @ w["gate"].T) * (g @ w["up"].T)) @ w["down"].T
            return x + rms_norm(mlp, w["ln_post2"], eps)

        return fn

    def sublayers(self) -> list[Sublayer]:
        subs = [Sublayer(f"L{i:02d}", self._layer(i), True) for i in range(self.n_layers)]
        subs.append(Sublayer("final_norm", lambda x, pos, ctx, fixed, record=None: rms_norm(x, self.norm, self.eps),
                             False))
        return subs

    def prepare(self, ids: torch.Tensor, seed: int = 0) -> PreparedPrompt:
        """The loop starts from the token embeddings (no random state: ``seed`` unused)."""
        ids = torch.as_tensor(ids, device=self.device).reshape(1, -1)
        return PreparedPrompt(self.embed[ids].clone())
