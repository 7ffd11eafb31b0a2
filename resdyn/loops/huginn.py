"""Huginn-0125 (tomg-group-umd, `RavenForCausalLM`, hub remote code "raven") as a loop map.

Implements the Huginn loop map of anonymous authors (2026), "Lyapunov Spectral Analysis of Loop
Transformer Dynamics", Section 2.1.

The model embeds tokens (scaled by init_values.embed_scale = sqrt(n_embd)), runs a
prelude of n_layers_in_prelude sandwich blocks to e, then iterates a core of
n_layers_in_recurrent_block blocks on a latent state z, re-injecting e through a linear
``adapter`` on the concatenation [z, e] at every step, and finally a coda. The loop step
is

    z <- core_4 o ... o core_1 (adapter([z, e]))        (e fixed)

starting from a random state z0 ~ TruncNormal(0, std, +-3 std) * embed_scale, std =
init_values.std = sqrt(2 / (5 n_embd)) (the reference's ``initialize_state``), drawn
here from a seeded generator. Each sandwich block is

    x <- norm_2(x + Attn(norm_1(x)));   x <- norm_4(x + MLP(norm_3(x)))

with a fused Wqkv projection, an additive qk_bias on queries and keys, rotary embeddings
on interleaved pairs (theta = rope_base) and a fused gated SiLU MLP (fc -> [a, b],
silu(a) * b -> proj). Sublayers for the attribution: the adapter and the core blocks (5).
Weight names are those of the published safetensors (transformer.core_block.{i}.attn.Wqkv.weight, ...).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from resdyn.loops.blocks import attend, inverse_frequencies, rms_norm, rope_pairs
from resdyn.loops.sublayers import PreparedPrompt, Sublayer
from resdyn.loops.weights import need, read_config, read_tensors, take


class HuginnLoop:
    arch = "huginn"

    def __init__(self, cfg: dict, tensors: dict, folder="(in memory)", device="cpu"):
        self.cfg = cfg
        # RavenConfig stores n_embd / n_heads (hidden_size / num_attention_heads are its aliases)
        self.d = d = int(cfg["hidden_size"] if "n_embd" not in cfg and "hidden_size" in cfg else need(cfg, "n_embd", folder))
        heads = "num_attention_heads" if "n_heads" not in cfg and "num_attention_heads" in cfg else "n_heads"
        self.n_heads = int(need(cfg, heads, folder))
        self.n_kv = int(cfg.get("num_key_value_heads") or self.n_heads)
        self.head_dim = int(cfg.get("head_dim") or d // self.n_heads)
        self.eps = float(cfg.get("norm_eps", 1e-6))
        self.qk_bias = bool(cfg.get("qk_bias", True))
        self.bias = bool(cfg.get("bias", False))
        init = cfg.get("init_values") or {}
        self.std = float(init.get("std", math.sqrt(2 / (5 * d))))
        self.embed_scale = float(init.get("embed_scale", math.sqrt(d)))
        self.device = torch.device(device)
        self.inv_freq = inverse_frequencies(self.head_dim, float(cfg.get("rope_base", 50_000))).to(self.device)
        t = lambda name, shape=None: take(tensors, name, folder, shape)  # noqa: E731
        self.wte = t("transformer.wte.weight")
        self.dtype = self.wte.dtype
        n_pre = int(need(cfg, "n_layers_in_prelude", folder))
        n_core = int(need(cfg, "n_layers_in_recurrent_block", folder))
        inter = int(need(cfg, "intermediate_size", folder))
        hd, h, hkv = self.head_dim, self.n_heads, self.n_kv

        def block(p):
            w = dict(
                wqkv=t(p + "attn.Wqkv.weight", ((h + 2 * hkv) * hd, d)),
                proj=t(p + "attn.proj.weight", (d, d)),
                fc=t(p + "mlp.fc.weight", (2 * inter, d)),
                mlp_proj=t(p + "mlp.proj.weight", (d, inter)),
                **{f"norm_{j}": t(p + f"norm_{j}.weight", (d,)) for j in (1, 2, 3, 4)},
            )
            if self.qk_bias:
                w["qk_bias"] = t(p + "attn.qk_bias", (2, 1, h, hd))
            return w

        self.prelude = [block(f"transformer.prelude.{i}.") for i in range(n_pre)]
        self.core = [block(f"transformer.core_block.{i}.") for i in range(n_core)]
        self.adapter_w = t("transformer.adapter.weight", (d, 2 * d))
        self.adapter_b = t("transformer.adapter.bias", (d,)) if self.bias else None

    @classmethod
    def from_folder(cls, folder, dtype=torch.float32, device="cpu") -> "HuginnLoop":
        cfg = read_config(folder)
        # the coda, the final norm and the LM head act after the loop; freqs_cis is a stored rotary table
        skip = ("lm_head.", "transformer.coda.", "transformer.ln_f.", "freqs_cis")
        return cls(cfg, read_tensors(folder, dtype, device, skip), folder, device)

    # -- the blocks ----------------------------------------------------------
    def _block(self, w):
        h, hkv, hd, d, eps = self.n_heads, self.n_kv, self.head_dim, self.d, self.eps

        def fn(x, pos, ctx, fixed, record=None):
            b, m, _ = x.shape
            qkv = rms_norm(x, w["norm_1"], eps) @ w["wqkv"].T
            q, k, v = qkv.split([h * hd, hkv * hd, hkv * hd], dim=-1)
            q, k, v = q.view(b, m, h, hd), k.view(b, m, hkv, hd), v.view(b, m, hkv, hd)
            if "qk_bias" in w:
                q, k = q + w["qk_bias"][0], k + w["qk_bias"][1]
            q = rope_pairs(q.transpose(1, 2), pos, self.inv_freq)
            k = rope_pairs(k.transpose(1, 2), pos, self.inv_freq)
            v = v.transpose(1, 2)
            if record is not None:
                record.append((k.detach(), v.detach()))
            kk, vv, kpos = ctx.extend(k, v, pos) if ctx is not None else (k, v, pos)
            x = rms_norm(x + attend(q, kk, vv, pos, kpos) @ w["proj"].T, w["norm_2"], eps)
            a, g = (rms_norm(x, w["norm_3"], eps) @ w["fc"].T).chunk(2, dim=-1)
            return rms_norm(x + (F.silu(a) * g) @ w["mlp_proj"].T, w["norm_4"], eps)

        return fn

    def _adapter(self, x, pos, ctx, fixed, record=None):
        e = fixed["e"][:, pos].expand(x.shape[0], -1, -1).to(x.dtype)
        out = torch.cat([x, e], dim=-1) @ self.adapter_w.T
        return out + self.adapter_b if self.adapter_b is not None else out

    def sublayers(self) -> list[Sublayer]:
        subs = [Sublayer("adapter", self._adapter, False)]
        return subs + [Sublayer(f"core{i}", self._block(w), True) for i, w in enumerate(self.core)]

    def prepare(self, ids: torch.Tensor, seed: int = 0) -> PreparedPrompt:
        """Prelude output e (held fixed) and the seeded random initial state z0."""
        ids = torch.as_tensor(ids, device=self.device).reshape(1, -1)
        pos = torch.arange(ids.shape[1], device=self.device)
        e = self.wte[ids] * self.embed_scale
        with torch.no_grad():
            for w in self.prelude:
                e = self._block(w)(e, pos, None, {})
        gen = torch.Generator().manual_seed(int(seed))
        z0 = torch.empty(e.shape, dtype=torch.float64)
        torch.nn.init.trunc_normal_(z0, 0.0, self.std, -3 * self.std, 3 * self.std, generator=gen)
        z0 = (z0 * self.embed_scale).to(dtype=self.dtype, device=self.device)
        return PreparedPrompt(z0, {"e": e})
