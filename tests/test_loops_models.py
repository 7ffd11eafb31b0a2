"""Ouro and Huginn loop maps against independent reference forwards (plain torch, written
here from the architectures' public descriptions, no resdyn code), on tiny random folders
saved with the published config fields and weight names."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from resdyn.loops.loaders import load_loop_model
from resdyn.loops.loop_maps import loop_system, sequence_maps
from resdyn.loops.weights import LoopModelError
from tiny_loops import HUGINN_CONFIG, OURO_CONFIG, huginn_weights, ouro_weights, save_folder, tiny_huginn, tiny_ouro

IDS = torch.tensor([5, 17, 3, 250, 42, 9, 77])
TOL = 1e-6


# ---- independent references ---------------------------------------------------------------
def ref_rms(x, w, eps):
    return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def ref_ouro_loops(cfg, w, ids, n_loops):
    """Ouro's OuroModel.forward with the exit gate ignored: per-loop outputs (after the final norm)."""
    d, h, hkv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    n, eps = len(ids), cfg["rms_norm_eps"]
    x = w["model.embed_tokens.weight"][ids][None]
    inv = 1.0 / cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    freqs = torch.outer(torch.arange(n, dtype=torch.float64), inv)
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()

    def rot(t):
        return t * cos + torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1) * sin

    outs = []
    for _ in range(n_loops):
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            g = lambda name: w[p + name]  # noqa: E731
            a = ref_rms(x, g("input_layernorm.weight"), eps)
            q = (a @ g("self_attn.q_proj.weight").T).reshape(1, n, h, hd).permute(0, 2, 1, 3)
            k = (a @ g("self_attn.k_proj.weight").T).reshape(1, n, hkv, hd).permute(0, 2, 1, 3)
            v = (a @ g("self_attn.v_proj.weight").T).reshape(1, n, hkv, hd).permute(0, 2, 1, 3)
            q, k = rot(q), rot(k)
            k = k[:, :, None].expand(1, hkv, h // hkv, n, hd).reshape(1, h, n, hd)
            v = v[:, :, None].expand(1, hkv, h // hkv, n, hd).reshape(1, h, n, hd)
            mask = torch.ones(n, n).tril().bool()
            if cfg["layer_types"][i] == "sliding_attention":
                mask &= ~torch.ones(n, n).tril(-cfg["sliding_window"]).bool()
            s = (q @ k.transpose(2, 3)) / math.sqrt(hd) + torch.zeros(n, n, dtype=torch.float64).masked_fill(~mask, -1e300)
            o = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(1, n, h * hd) @ g("self_attn.o_proj.weight").T
            x = x + ref_rms(o, g("input_layernorm_2.weight"), eps)
            m = ref_rms(x, g("post_attention_layernorm.weight"), eps)
            m = (F.silu(m @ g("mlp.gate_proj.weight").T) * (m @ g("mlp.up_proj.weight").T)) @ g("mlp.down_proj.weight").T
            x = x + ref_rms(m, g("post_attention_layernorm_2.weight"), eps)
        x = ref_rms(x, w["model.norm.weight"], eps)
        outs.append(x)
    return outs


def ref_huginn_block(w, p, x, cfg):
    d, h = cfg["n_embd"], cfg["n_heads"]
    hd, n, eps = d // h, x.shape[1], cfg["norm_eps"]
    qkv = ref_rms(x, w[p + "norm_1.weight"], eps) @ w[p + "attn.Wqkv.weight"].T
    q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
    q = q.reshape(1, n, h, hd) + w[p + "attn.qk_bias"][0]
    k = k.reshape(1, n, h, hd) + w[p + "attn.qk_bias"][1]
    inv = 1.0 / cfg["rope_base"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    rot = torch.polar(torch.ones(n, hd // 2, dtype=torch.float64), torch.outer(torch.arange(n, dtype=torch.float64), inv))

    def apply(t):  # complex multiplication of consecutive pairs
        c = torch.view_as_complex(t.reshape(1, n, h, hd // 2, 2).contiguous())
        return torch.view_as_real(c * rot[None, :, None]).reshape(1, n, h, hd)

    q, k = apply(q).transpose(1, 2), apply(k).transpose(1, 2)
    v = v.reshape(1, n, h, hd).transpose(1, 2)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(1, n, d)
    x = ref_rms(y @ w[p + "attn.proj.weight"].T + x, w[p + "norm_2.weight"], eps)
    a, b = (ref_rms(x, w[p + "norm_3.weight"], eps) @ w[p + "mlp.fc.weight"].T).chunk(2, -1)
    return ref_rms((F.silu(a) * b) @ w[p + "mlp.proj.weight"].T + x, w[p + "norm_4.weight"], eps)


def ref_huginn_latents(cfg, w, ids, z0, n_steps):
    """RavenForCausalLM: prelude, then n_steps of core(adapter([x, e])) from input state z0."""
    e = w["transformer.wte.weight"][ids][None] * cfg["init_values"]["embed_scale"]
    for i in range(cfg["n_layers_in_prelude"]):
        e = ref_huginn_block(w, f"transformer.prelude.{i}.", e, cfg)
    x, outs = z0, []
    for _ in range(n_steps):
        x = torch.cat([x, e], -1) @ w["transformer.adapter.weight"].T
        for i in range(cfg["n_layers_in_recurrent_block"]):
            x = ref_huginn_block(w, f"transformer.core_block.{i}.", x, cfg)
        outs.append(x)
    return outs


def iterate(maps, z, n):
    outs = []
    with torch.no_grad():
        for _ in range(n):
            for _, f in maps:
                z = f(z)
            outs.append(z)
    return outs


# ---- tests ---------------------------------------------------------------------------------
def test_ouro_loop_reproduces_the_reference_forward(tmp_path):
    folder = tiny_ouro(tmp_path / "ouro")
    model = load_loop_model(folder, "ouro", "float64")
    assert [s.name for s in model.sublayers()] == ["L00", "L01", "L02", "final_norm"]
    prompt = model.prepare(IDS)
    ours = iterate(sequence_maps(model, prompt), prompt.z0, 4)
    ref = ref_ouro_loops(OURO_CONFIG, ouro_weights(OURO_CONFIG), IDS, 4)
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert (a - b).abs().max() < TOL, f"loop {t}: {(a - b).abs().max():.2e}"
    # the sliding window matters on 7 tokens (a full-attention reference differs)
    full = dict(OURO_CONFIG, layer_types=["full_attention"] * 3)
    assert (ref_ouro_loops(full, ouro_weights(full), IDS, 1)[0] - ref[0]).abs().max() > 1e-3


def test_huginn_loop_reproduces_the_reference_forward(tmp_path):
    folder = tiny_huginn(tmp_path / "huginn")
    model = load_loop_model(folder, "huginn", "float64")
    assert [s.name for s in model.sublayers()] == ["adapter", "core0", "core1"]
    prompt = model.prepare(IDS, seed=3)
    ours = iterate(sequence_maps(model, prompt), prompt.z0, 5)
    ref = ref_huginn_latents(HUGINN_CONFIG, huginn_weights(HUGINN_CONFIG), IDS, prompt.z0, 5)
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert (a - b).abs().max() < TOL, f"step {t}: {(a - b).abs().max():.2e}"


@pytest.mark.parametrize("stored", [True, False])
def test_huginn_initial_state_is_the_references_truncated_normal(tmp_path, stored):
    """config.json's init_values where stored (the published file has them), else the
    reference's derived std = sqrt(2 / (5 n_embd)) and embed_scale = sqrt(n_embd)."""
    cfg = dict(HUGINN_CONFIG)
    if stored:
        std, scale = cfg["init_values"]["std"], cfg["init_values"]["embed_scale"]
    else:
        del cfg["init_values"]
        std, scale = math.sqrt(2 / (5 * cfg["n_embd"])), math.sqrt(cfg["n_embd"])
    model = load_loop_model(save_folder(tmp_path / "h", cfg, huginn_weights(cfg), tokenizer=False), "huginn", "float64")
    z = torch.cat([model.prepare(torch.arange(40), seed=s).z0.flatten() for s in range(5)]) / scale
    assert z.abs().max() <= 3 * std + 1e-12
    # standard deviation of N(0, std) truncated at +-3 std: std * sqrt(1 - 6 phi(3) / (2 Phi(3) - 1))
    phi3 = math.exp(-4.5) / math.sqrt(2 * math.pi)
    trunc_std = std * math.sqrt(1 - 6 * phi3 / math.erf(3 / math.sqrt(2)))
    assert abs(z.std().item() / trunc_std - 1) < 0.03  # 3,200 draws: sampling error ~1.3 %
    same = model.prepare(IDS, seed=3).z0
    assert torch.equal(same, model.prepare(IDS, seed=3).z0) and not torch.equal(same, model.prepare(IDS, seed=4).z0)


@pytest.mark.parametrize("arch", ["ouro", "huginn"])
def test_token_state_follows_the_sequence_orbit_of_the_last_position(tmp_path, arch):
    """By causality the last token's orbit in context equals the last row of the sequence orbit."""
    folder = (tiny_ouro if arch == "ouro" else tiny_huginn)(tmp_path / arch)
    model = load_loop_model(folder, arch, "float64")
    prompt = model.prepare(IDS, seed=1)
    seq = iterate(sequence_maps(model, prompt), prompt.z0, 4)
    z, maps = loop_system(model, prompt, "token", 4)
    with torch.no_grad():
        for t in range(4):
            for _, f in maps(t):
                z = f(z)
            assert (z[0, 0] - seq[t][0, -1]).abs().max() < 1e-12, t


def test_a_missing_weight_is_named(tmp_path):
    w = ouro_weights(OURO_CONFIG)
    del w["model.layers.1.input_layernorm_2.weight"]
    folder = save_folder(tmp_path / "bad", OURO_CONFIG, w, tokenizer=False)
    with pytest.raises(LoopModelError, match=r"model\.layers\.1\.input_layernorm_2\.weight"):
        load_loop_model(folder, "ouro")
    with pytest.raises(LoopModelError, match="loops.models.*arch"):
        load_loop_model(folder, "raven")
