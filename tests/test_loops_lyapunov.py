"""Lyapunov exponents of the tiny loop models against explicit Jacobians (float64):
Benettin's spectrum against the singular values of the product of step Jacobians, and
the per-sublayer attribution against its exact-sum identity and explicit sublayer Jacobians."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from resdyn.loops.loaders import load_loop_model
from resdyn.loops.loop_maps import loop_system
from resdyn.loops.measurements import AttributionMismatch, attribution_tables
from resdyn.lyapunov.benettin import benettin
from tiny_loops import tiny_huginn, tiny_ouro

IDS = torch.tensor([5, 17, 3, 250, 42, 9])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("loops")
    return {"ouro": load_loop_model(tiny_ouro(root / "ouro"), "ouro", "float64"),
            "huginn": load_loop_model(tiny_huginn(root / "huginn"), "huginn", "float64")}


def _step_maps(maps, s):
    return maps(s) if callable(maps) else maps


def explicit_step_jacobians(z0, maps, n_steps):
    """Dense Jacobians of each step along the orbit (torch.autograd.functional.jacobian)."""
    shape, z, jacs = z0.shape, z0, []
    for s in range(n_steps):
        fs = [f for _, f in _step_maps(maps, s)]

        def step(flat):
            x = flat.reshape(shape)
            for f in fs:
                x = f(x)
            return x.reshape(-1)

        flat = z.reshape(-1)
        jacs.append(torch.autograd.functional.jacobian(step, flat))
        with torch.no_grad():
            z = step(flat).reshape(shape)
    return jacs


@pytest.mark.parametrize("arch,state", [("ouro", "token"), ("ouro", "sequence"), ("huginn", "token"),
                                        ("huginn", "sequence")])
def test_benettin_equals_log_singular_values_of_the_jacobian_product(models, arch, state):
    model, n_steps, k = models[arch], 3, 4
    z0, maps = loop_system(model, model.prepare(IDS, seed=2), state, n_steps)
    product = torch.eye(z0.numel(), dtype=torch.float64)
    for j in explicit_step_jacobians(z0, maps, n_steps):
        product = j @ product
    _, s, vh = torch.linalg.svd(product)
    # probes on the top right singular vectors: Q R of the product's image is U S, so the
    # accumulated log |diag R| are exactly log sigma_i, whatever the intermediate QRs do
    probes = vh[:k].T[None]
    res = benettin(maps, z0, k, n_steps, seed=0, probes=probes)
    expected = torch.log(s[:k]).numpy() / n_steps
    assert np.abs(res.exponents[0] - expected).max() < 1e-8, (res.exponents[0], expected)
    assert s[0] > 1.5 * s[k], "a degenerate top of the spectrum would not test the ordering"


@pytest.mark.parametrize("arch", ["ouro", "huginn"])
def test_sublayer_contributions_sum_to_the_per_step_exponent(models, arch):
    model = models[arch]
    z0, maps = loop_system(model, model.prepare(IDS, seed=1), "sequence", 5)
    per_map = benettin(maps, z0, 3, 5, seed=0, qr_every="map")
    once = benettin(maps, z0, 3, 5, seed=0, qr_every="step")
    assert np.abs(per_map.step_growth - once.step_growth).max() < 1e-10
    total = sum(per_map.contributions.values())
    assert np.abs(total - once.exponents).max() < 1e-10
    assert list(per_map.contributions) == [s.name for s in model.sublayers()]
    spread = np.ptp([c[0, 0] for c in per_map.contributions.values()])
    assert spread > 0.1, "sublayers with equal contributions would not test the bookkeeping"


@pytest.mark.parametrize("arch", ["ouro", "huginn"])
def test_each_sublayer_contribution_is_its_own_log_growth(models, arch):
    """One step, one probe: sublayer s contributes log ||J_s w_{s-1}|| with w the unit
    tangent leaving the previous sublayer (explicit dense sublayer Jacobians)."""
    model = models[arch]
    z0, maps = loop_system(model, model.prepare(IDS, seed=1), "token", 1)
    res = benettin(maps, z0, 1, 1, seed=7, qr_every="map")
    from resdyn.lyapunov.qr_flow import random_probes

    w = random_probes(z0.numel(), 1, 7)[0, :, 0]
    z = z0
    for name, f in maps(0):
        j = torch.autograd.functional.jacobian(lambda v: f(v.reshape(z0.shape)).reshape(-1), z.reshape(-1))
        w = j @ w
        assert abs(res.contributions[name][0, 0] - torch.log(w.norm()).item()) < 1e-10, name
        w = w / w.norm()
        with torch.no_grad():
            z = f(z)


def test_attribution_table_checks_the_sum_and_splits_the_heatmap(models):
    attr, dirs = attribution_tables(models["huginn"], [IDS, IDS[:4]], "tiny_huginn", k=1, heatmap_k=3, n_steps=4,
                                    seed=0, loop_state="sequence")
    assert set(attr["index"]) == {1} and set(dirs["index"]) == {1, 2, 3}
    sums = dirs.groupby(["sample", "index"]).agg(total=("contribution", "sum"), exponent=("exponent", "first"))
    assert np.abs(sums["total"] - sums["exponent"]).max() < 1e-10
    assert list(attr[attr["sample"] == 0]["sublayer"]) == ["adapter", "core0", "core1"]


def test_attribution_mismatch_is_raised(models, monkeypatch):
    """A flow whose per-sublayer and once-per-step runs disagree (here: different probe
    seeds, as a stand-in for a bookkeeping bug) fails, naming the prompt."""
    import resdyn.loops.measurements as m

    real = m.benettin

    def skewed(maps, z0, k, n, seed, **kw):
        return real(maps, z0, k, n, seed + (kw.get("qr_every") == "step"), **kw)

    monkeypatch.setattr(m, "benettin", skewed)
    with pytest.raises(AttributionMismatch, match="prompt 0"):
        attribution_tables(models["ouro"], [IDS], "tiny_ouro", k=2, heatmap_k=0, n_steps=2, seed=0,
                           loop_state="token")
