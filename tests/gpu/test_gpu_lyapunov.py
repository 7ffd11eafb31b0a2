"""Lyapunov paths on the GPU: forward-mode JVPs through attention, and the placement of
the masks, positions and probes SamplePass makes (token ids arrive on the CPU).

Forward-mode AD does not go through the flash and memory-efficient SDPA kernels
(pytorch#128971, #117629); the workflow loads models with eager attention, and SDPA's
math backend is the one fused path that supports it. float64 on both sides: 1e-9 where no
transformers code runs (it computes norms and softmaxes in float32, and those comparisons take
float32's tolerance, stated at each).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_model

from resdyn.lyapunov import model_runs
from resdyn.models.decoder_map import SamplePass

pytestmark = pytest.mark.gpu


def _ids(n=9, seed=1):
    return torch.randint(3, 300, (n,), generator=torch.Generator().manual_seed(seed))


def _explicit_attention(q, k, v):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    return torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1) @ v


def test_sdpa_jvp_under_the_math_backend_matches_the_explicit_formula(device):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 7, 8, generator=g, dtype=torch.float64) for _ in range(3))
    tq, tk, tv = (torch.randn(2, 4, 7, 8, generator=g, dtype=torch.float64) for _ in range(3))
    _, expected = torch.func.jvp(_explicit_attention, (q, k, v), (tq, tk, tv))
    on = [t.to(device) for t in (q, k, v, tq, tk, tv)]
    with sdpa_kernel(SDPBackend.MATH):
        _, got = torch.func.jvp(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True),
                                tuple(on[:3]), tuple(on[3:]))
    torch.testing.assert_close(got.cpu(), expected, atol=1e-9, rtol=1e-9)


def test_model_jvp_on_the_device_matches_cpu_float64(device):
    """The whole model's JVP in the residual stream: eager on the device, and SDPA under
    the math backend on the device, both against eager on the CPU."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = tiny_model("gemma3_text").double()
    ids = _ids()
    emb = model.model.embed_tokens(ids[None]).detach()
    tangent = torch.randn(emb.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def jvp(m, e, t):
        out = lambda x: m.model(inputs_embeds=x).last_hidden_state  # noqa: E731
        return torch.func.jvp(out, (e,), (t,))[1]

    expected = jvp(model, emb, tangent)
    model_dev = tiny_model("gemma3_text").double().to(device)
    # Gemma 3's RMSNorm runs in float32 even in a float64 model: float32 enters every norm, and
    # reordering one float32 sum on the CPU alone moves this JVP by ~4e-6 (measured): 5e-5 ≈ 400 ε32
    torch.testing.assert_close(jvp(model_dev, emb.to(device), tangent.to(device)).cpu(), expected, atol=5e-5, rtol=5e-5)
    model_dev.config._attn_implementation = "sdpa"
    with sdpa_kernel(SDPBackend.MATH):
        got = jvp(model_dev, emb.to(device), tangent.to(device))
    # transformers' sdpa path differs from its eager one by ~1e-5 (largest entry 1e-5 of
    # O(1) tangents) already on the CPU in float64 (measured), so this asserts a correct
    # JVP, not agreement to rounding
    torch.testing.assert_close(got.cpu(), expected, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_decoder_stack_lives_on_the_device(device, model_type):
    model = tiny_model(model_type).double().to(device)
    stack = SamplePass(model, _ids())  # ids on the CPU
    assert stack.device.type == device.type
    for tensors in stack.kv:
        assert all(t.device.type == device.type for t in tensors)
    for table in stack._rope_table.values():
        assert all(t.device.type == device.type for t in table)
    pos = torch.tensor([1, 5, 8])  # positions on the CPU too
    x = stack.token_states(0, pos)
    for _, f in stack.token_maps(0, pos, "sublayer"):
        x = f(x)
    assert x.device.type == device.type
    # the sublayer maps and the layer's own forward round their float32 norms in different orders
    # (transformers' RMSNorm runs in float32): 4e-9 absolute on O(1) states measured with the CPU
    # standing in; atol 1e-7 ≈ ε32
    torch.testing.assert_close(x.cpu(), stack.token_states(1, pos).cpu(), atol=1e-7, rtol=1e-5)


TABLES = {
    "ftle": lambda m, s, ids: model_runs.ftle_tables(m, s, ids, "tiny", seeds=[0, 1], cadence=2, position="span",
                                                     span_tokens=3),
    "spectrum": lambda m, s, ids: model_runs.spectrum_tables(m, s, ids, "tiny", k=4, loop_steps=4, seed=0),
    "attribution": lambda m, s, ids: (model_runs.attribution_table(m, s, ids, "tiny", k=2, loop_steps=3, seed=0),),
    "attention": lambda m, s, ids: (model_runs.attention_table(
        m, s, "tiny", n=8, d_head=4, temperatures=[1.0], n_steps=10, warmup=2, k=2, repeats=1, rank_threshold=2.0,
        real_tokens=8, seed=0),),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_lyapunov_tables_on_the_device_match_cpu_float64(device, name):
    """What the Lyapunov rules write, with the model on the device (as models.sources.load_for_inference
    puts it on a GPU node) against the CPU, float64 on both sides."""
    samples, ids = [_ids(9, 1), _ids(7, 2)], [0, 1]
    cpu = TABLES[name](tiny_model("llama").double(), samples, ids)
    dev = TABLES[name](tiny_model("llama").double().to(device), samples, ids)
    for a, b in zip(cpu, dev):
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        num = list(a.select_dtypes("number").columns)
        pd.testing.assert_frame_equal(a.drop(columns=num), b.drop(columns=num))
        # Llama's RMSNorm and eager softmax run in float32 even in a float64 model; reordering one
        # float32 sum on the CPU alone moves the FTLE by ~1e-7 (measured): rtol 1e-6 ≈ 10 ε32
        np.testing.assert_allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-6, atol=1e-7)
