"""Loop models on the GPU: the Ouro and Huginn maps, their Benettin flows and the
attribution tables with the weights on the device (token ids, probes and Huginn's
initial state are drawn on the CPU), against the CPU. float64 on both sides: 1e-10;
float32 on the device against float64 on the CPU: 1e-4."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_loops import tiny_huginn, tiny_ouro

from resdyn.loops.loaders import load_loop_model
from resdyn.loops.loop_maps import loop_system, sequence_maps
from resdyn.loops.measurements import attribution_tables, spectrum_tables
from resdyn.lyapunov.benettin import benettin

pytestmark = pytest.mark.gpu
IDS = torch.tensor([5, 17, 3, 250, 42, 9, 77])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu_loops")
    return {"ouro": tiny_ouro(root / "ouro"), "huginn": tiny_huginn(root / "huginn")}


@pytest.mark.parametrize("arch", ["ouro", "huginn"])
def test_loop_orbit_on_the_device_matches_the_cpu(folders, device, arch):
    cpu, dev = (load_loop_model(folders[arch], arch, "float64", d) for d in ("cpu", device))
    pc, pd_ = cpu.prepare(IDS, seed=3), dev.prepare(IDS, seed=3)
    assert pd_.z0.device.type == torch.device(device).type
    torch.testing.assert_close(pd_.z0.cpu(), pc.z0, atol=0, rtol=0)  # drawn on the CPU, then moved
    zc, zd = pc.z0, pd_.z0
    with torch.no_grad():
        for _ in range(4):
            for (_, fc), (_, fd) in zip(sequence_maps(cpu, pc), sequence_maps(dev, pd_)):
                zc, zd = fc(zc), fd(zd)
    torch.testing.assert_close(zd.cpu(), zc, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("arch,state", [("ouro", "sequence"), ("huginn", "token")])
def test_benettin_on_the_device_matches_the_cpu(folders, device, arch, state):
    out = []
    for d in ("cpu", device):
        m = load_loop_model(folders[arch], arch, "float64", d)
        z0, maps = loop_system(m, m.prepare(IDS, seed=1), state, 6)
        out.append(benettin(maps, z0, 5, 6, seed=0, qr_every="map"))
    np.testing.assert_allclose(out[1].exponents, out[0].exponents, atol=1e-10, rtol=0)
    for name, c in out[0].contributions.items():
        np.testing.assert_allclose(out[1].contributions[name], c, atol=1e-10, rtol=0)


def test_float32_tables_on_the_device_agree_with_float64_on_the_cpu(folders, device):
    ref = load_loop_model(folders["huginn"], "huginn", "float64", "cpu")
    dev = load_loop_model(folders["huginn"], "huginn", "float32", device)
    ids = [IDS, IDS[:5]]
    kw = dict(k=1, heatmap_k=4, n_steps=8, seed=0, loop_state="sequence")
    a64, d64 = attribution_tables(ref, ids, "h", **kw)
    a32, d32 = attribution_tables(dev, ids, "h", **kw)  # its own sum check passes in float32
    np.testing.assert_allclose(d32["contribution"], d64["contribution"], atol=1e-4)
    s64, _ = spectrum_tables(ref, ids, "h", k=4, n_steps=8, seed=0, loop_state="token")
    s32, _ = spectrum_tables(dev, ids, "h", k=4, n_steps=8, seed=0, loop_state="token")
    np.testing.assert_allclose(s32["exponent"], s64["exponent"], atol=1e-4)
