"""What the GPU rules call, on the device, against the same call on the CPU.

The jobs do not build `Block(model.to(device))`: a single-token job reads one layer's tensors
from the prepared folder's safetensors straight to the device (`layer_tensors(device=...)`),
Gemma 4 and the generic types go through `resdyn.dynamics.engines`, extraction through
`extract_with_loss`, the protocol comparison through `protocol_layer_arrays`. Each is run here
as the job runs it, on the device and on the CPU.

Tolerances follow from where float32 enters (ε32 = 1.19e-7, ε64 = 2.2e-16):
- float64 end to end (Block's and the generic engine's own norms; a lone token's RoPE is the
  identity): CPU and GPU differ only in the order of float64 sums, ≲ 100 ε64 relative: 1e-10.
- float32 Jacobians (the jobs' `single` path, auto before its recompute): entries are sums of
  up to f = 48 float32 products, summed in another order by cuBLAS: a few ε32·√f ≈ 1e-6
  relative per entry; singular values and means inherit it: rtol 1e-5 (≈ 80 ε32).
- inputs made by transformers in float32 (the forward pass's residual states, Gemma 4's
  per-layer inputs: RMSNorm, softmax and RoPE tables in float32 whatever the model dtype):
  each state carries ~ε32 relative rounding that differs between CPU and GPU kernels, and
  3 layers of a tiny model amplify it by their Jacobians' norms (≲ 10): 1e-5 relative on
  the states, 1e-4 on what is computed from them (σ_min and κ of near-singular samples
  amplify further, so they are compared where float64 resolved them).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_model

from resdyn.data.activations import extract_last_token, extract_with_loss
from resdyn.dynamics.engines import engine_layer_stats
from resdyn.dynamics.jacobians import single_token_layer_stats
from resdyn.dynamics.protocols import protocol_layer_arrays
from resdyn.dynamics.stat_names import STAT_NAMES
from resdyn.models.layer_files import single_token_block
from resdyn.models.sources import layer_tensors

pytestmark = pytest.mark.gpu
TOKENS = [[5, 17, 42, 99, 7], [250, 31, 64], [12, 8, 77, 19], [3, 140, 200, 9, 11, 66]]


def _folder(model_type, tmp_path):
    model = tiny_model(model_type)
    model.save_pretrained(tmp_path / model_type)
    return model, tmp_path / model_type


def _states(n=8, d=32, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)).numpy()


def _compare(dev, cpu, rtol, atol=0.0, names=None):
    assert sorted(dev) == sorted(cpu)
    for name in names or cpu:
        assert dev[name].dtype == cpu[name].dtype, name
        np.testing.assert_allclose(dev[name], cpu[name], rtol=rtol, atol=atol, err_msg=name)


def test_layer_tensors_arrive_on_the_device(device, tmp_path):
    _, folder = _folder("llama", tmp_path)
    tensors = layer_tensors(folder, 1, device)
    assert tensors and all(t.device.type == device.type for t in tensors.values())
    block = single_token_block(folder, 1, device=device)
    assert block.down[0].device.type == device.type and block.q[0].device.type == device.type


@pytest.mark.parametrize("model_type", ["llama", "olmo3", "gemma3_text"])
def test_single_token_job_in_float32_matches_the_cpu(device, tmp_path, model_type):
    """jacobian_layer, precision single: float32 on both sides (rtol 1e-5, see the module)."""
    _, folder = _folder(model_type, tmp_path)
    states = _states()
    cpu = single_token_layer_stats(single_token_block(folder, 1), states, 3, "cpu", precision="single")
    dev = single_token_layer_stats(single_token_block(folder, 1, device=device), states, 3, "dev", precision="single")
    _compare(dev, cpu, rtol=1e-5, atol=1e-6)


def test_forced_float64_recompute_on_the_device_matches_the_cpu(device, tmp_path, monkeypatch):
    """jacobian_layer, precision auto, with every float32 sample unresolved (ERROR_FACTOR raised so far that
    σ_min < bound32 always, while bound64 = 1e6·ε64·‖J‖/0.01 ≈ 2e-8‖J‖ resolves them): each sample's
    statistics and the mean come from the float64 recompute, float64 end to end: 1e-10."""
    import resdyn.dynamics.jacobians as jacobians

    monkeypatch.setattr(jacobians, "ERROR_FACTOR", 1e6)
    _, folder = _folder("llama", tmp_path)
    states = _states()
    cpu = single_token_layer_stats(single_token_block(folder, 2), states, 3, "cpu", precision="auto")
    dev = single_token_layer_stats(single_token_block(folder, 2, device=device), states, 3, "dev", precision="auto")
    for out in (cpu, dev):
        assert out["kappa_unresolved"].all() and not out["kappa_censored"].any()
        assert float(out["jacobian_eps"]) == np.finfo(np.float64).eps
    _compare(dev, cpu, rtol=1e-10, atol=1e-12, names=[*STAT_NAMES, "mean_J_f64", "col_norm_mean"])


def test_gemma4_engine_on_the_device_matches_the_cpu(device, tmp_path):
    """jacobian_layer on Gemma 4 (closed form, per-layer inputs read from the folder to the device), in
    float64: the per-layer inputs are made in float32 (RMSNorm of a projection; 1e-5 relative between
    kernels), so the statistics agree to 1e-4; an own-KV layer (1) and a KV-shared one (4)."""
    model, folder = _folder("gemma4_text", tmp_path)
    ids = [[t] for t in (5, 17, 42, 99, 7, 250)]
    acts = extract_last_token(model, ids)
    for layer in (1, 4):
        cpu = engine_layer_stats(folder, layer, "single_token", acts, ids, 4, "cpu", precision="double")
        dev = engine_layer_stats(folder, layer, "single_token", acts, ids, 4, "dev", device=device,
                                 precision="double")
        _compare(dev, cpu, rtol=1e-4, atol=1e-6, names=["sigma_max", "fro", "pr", "mean_J_f64", "col_norm_mean"])


def test_generic_engine_on_the_device_matches_the_cpu(device, tmp_path):
    """jacobian_layer by autodiff through a transformers layer (phi3: the generic engine), float64
    throughout (exact RMSNorm, float64 softmax, RoPE the identity at position 0): 1e-10."""
    model, folder = _folder("phi3", tmp_path)
    acts = extract_last_token(model, [[t] for t in (5, 17, 42, 99)])
    cpu = engine_layer_stats(folder, 1, "single_token", acts, None, 2, "cpu", precision="double")
    dev = engine_layer_stats(folder, 1, "single_token", acts, None, 2, "dev", device=device, precision="double")
    _compare(dev, cpu, rtol=1e-10, atol=1e-12, names=[*STAT_NAMES, "mean_J_f64", "col_norm_mean"])


def test_extract_with_loss_on_the_device_matches_the_cpu(device):
    """extract_activations: float32 forward passes on both sides (1e-5 relative on the states, see the
    module); the loss is a mean over tokens of float32 log-softmaxes: 1e-5."""
    model = tiny_model("llama")
    acts_cpu, loss_cpu = extract_with_loss(model, TOKENS, 2, loss_samples=3)
    acts_dev, loss_dev = extract_with_loss(tiny_model("llama").to(device), TOKENS, 2, loss_samples=3)
    assert acts_dev.dtype == np.float32
    np.testing.assert_allclose(acts_dev, acts_cpu, rtol=1e-5, atol=1e-5)
    assert loss_dev.n_tokens == loss_cpu.n_tokens
    assert loss_dev.nll == pytest.approx(loss_cpu.nll, rel=1e-5)


def test_protocol_arrays_on_the_device_match_the_cpu(device):
    """protocol_tables: both protocols from the device's forward-pass states, in float64. The prefix
    states come from a float32 forward pass (1e-5 relative between kernels), so 1e-4 relative."""
    model = tiny_model("llama")
    cpu, rel_cpu = protocol_layer_arrays(model, TOKENS, "cpu", precision="double")
    dev, rel_dev = protocol_layer_arrays(tiny_model("llama").to(device), TOKENS, "dev", precision="double")
    np.testing.assert_allclose(rel_dev, rel_cpu, rtol=1e-4, atol=1e-6)
    for protocol in cpu:
        for a, b in zip(cpu[protocol], dev[protocol]):
            _compare(b, a, rtol=1e-4, atol=1e-6, names=["sigma_max", "fro", "pr", "mean_J_f64", "col_norm_mean"])
