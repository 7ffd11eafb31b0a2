"""Per-sample Jacobians and their statistics on the GPU, against the CPU in float64.

Tolerances: float32 on the device against float64 on the CPU agrees to ~1e-6 relative per
entry at d = 32 (rounding of a few hundred-term sums); 1e-4 leaves room for the order of
summation in cuBLAS. float64 on both sides agrees to rounding: 1e-10, where `Block` alone
computes (its own norms); RoPE tables come from transformers in float32 (1e-5 there).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from known_spectra import with_singular_values
from tiny_models import tiny_model

from resdyn.data.activations import prefix_states
from resdyn.dynamics.jacobians import (
    autodiff_single_token_jacobians,
    in_context_jacobian,
    single_token_jacobians,
    single_token_layer_stats,
    singular_value_stats,
)
from resdyn.models.architectures import ARCHITECTURES, architecture_of
from resdyn.models.block import Block

pytestmark = pytest.mark.gpu
TYPES = sorted(ARCHITECTURES)
TOKENS = [5, 17, 42, 99, 7, 250, 31, 64, 12]


def _states(n=6, d=32, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _cpu_reference(model_type, layer=1):
    model = tiny_model(model_type)
    return model, Block(model, layer, architecture_of(model_type), dtype=torch.float64)


@pytest.mark.parametrize("model_type", TYPES)
def test_closed_form_on_the_device_matches_cpu_float64(device, model_type):
    model, ref = _cpu_reference(model_type)
    h = _states()
    expected = single_token_jacobians(ref, h.double())
    on_device = Block(model.to(device), 1, architecture_of(model_type), dtype=torch.float32)
    got = single_token_jacobians(on_device, h.to(device))
    assert got.device.type == device.type and got.dtype == torch.float32
    torch.testing.assert_close(got.cpu().double(), expected, atol=1e-4, rtol=1e-4)
    in64 = Block(model, 1, architecture_of(model_type), dtype=torch.float64)
    torch.testing.assert_close(single_token_jacobians(in64, h.to(device)).cpu(), expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("model_type", TYPES)
def test_autodiff_on_the_device_matches_the_closed_form(device, model_type):
    model, ref = _cpu_reference(model_type)
    h = _states()
    expected = single_token_jacobians(ref, h.double())
    on_device = Block(model.to(device), 1, architecture_of(model_type), dtype=torch.float64)
    got = autodiff_single_token_jacobians(on_device, h.to(device))
    torch.testing.assert_close(got.cpu(), expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kappa", [3.0, 1e3, 1e7])
def test_batched_svdvals_statistics_match_the_known_spectrum(device, kappa):
    """The device path (cuSOLVER's batched singular values) against the spectrum the
    matrices were built with, to 1e-9 as the CPU path (tests/test_jacobians.py)."""
    d = 96
    spectra = [np.geomspace(kappa, 1.0, d) * c for c in (0.5, 1.0, 2.0)]
    jac = torch.tensor(np.stack([with_singular_values(s, i) for i, s in enumerate(spectra)]))
    got = singular_value_stats(jac.to(device))
    cpu = singular_value_stats(jac)
    for i, s in enumerate(spectra):
        assert got["sigma_max"][i] == pytest.approx(s[0], rel=1e-9)
        assert got["sigma_min"][i] == pytest.approx(s[-1], rel=1e-9)
        assert got["kappa"][i] == pytest.approx(s[0] / s[-1], rel=1e-9)
        assert got["pr"][i] == pytest.approx((s**2).sum() ** 2 / (s**4).sum(), rel=1e-9)
        assert got["fro"][i] == pytest.approx(np.sqrt((s**2).sum()), rel=1e-9)
    for name in cpu:
        np.testing.assert_allclose(got[name], cpu[name], rtol=1e-9, err_msg=name)


def test_layer_statistics_stream_on_the_device_as_on_the_cpu(device):
    """single_token_layer_stats (what a Jacobian job runs) with the block on the device:
    the layer file's arrays agree with the CPU's; mean_J is stored float32."""
    model = tiny_model("llama")
    states = _states(n=10).numpy()
    cpu = single_token_layer_stats(Block(model, 2, architecture_of("llama")), states, 4, "cpu")
    dev = single_token_layer_stats(Block(model.to(device), 2, architecture_of("llama")), states, 4, "device")
    assert sorted(dev) == sorted(cpu)
    for name in cpu:
        assert dev[name].dtype == cpu[name].dtype, name
        np.testing.assert_allclose(dev[name], cpu[name], rtol=2e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "qwen3", "olmo3"])
def test_in_context_protocol_on_the_device_matches_cpu_float64(device, model_type):
    """prefix_states and Block.context on the device (rotary tables, sliding windows)."""
    model = tiny_model(model_type)
    arch = architecture_of(model_type)
    layer = 1
    prefix = prefix_states(model, TOKENS, layer).double()
    expected = in_context_jacobian(Block(model, layer, arch, dtype=torch.float64), prefix)
    model_dev = tiny_model(model_type).to(device)
    prefix_dev = prefix_states(model_dev, TOKENS, layer)
    assert prefix_dev.device.type == device.type
    torch.testing.assert_close(prefix_dev.cpu().double(), prefix, atol=1e-5, rtol=1e-5)
    got = in_context_jacobian(Block(model_dev, layer, arch, dtype=torch.float64), prefix_dev.double())
    # the prefix itself carries float32 rounding from the device's forward pass
    torch.testing.assert_close(got.cpu(), expected, atol=1e-4, rtol=1e-4)
    exact = in_context_jacobian(Block(model_dev, layer, arch, dtype=torch.float64), prefix.to(device))
    # same float64 prefix; the RoPE tables come from the model's rotary module in float32 (ε32
    # relative per entry, different kernels), entering q and k: 1e-5 (≈ 100 ε32)
    torch.testing.assert_close(exact.cpu(), expected, atol=1e-5, rtol=1e-5)
