"""The estimators against dynamical systems with published Lyapunov exponents."""
import math

import numpy as np
import pytest
import torch

from resdyn.lyapunov import systems as S
from resdyn.lyapunov.benettin import benettin
from resdyn.lyapunov.ftle import ftle, profile_summaries
from resdyn.lyapunov.qr_flow import NonFiniteError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ensemble(gen, e, scale, offset):
    return torch.rand(e, len(offset), generator=gen, dtype=torch.float64) * scale + torch.tensor(offset)


def test_henon_published_exponents():
    # Sprott (2003): 0.41922, -1.62319; sum = ln b exactly (constant Jacobian determinant -b).
    # Finite-time exponents of Hénon fluctuate (diffusion sigma ~ 0.37 per sqrt(step), measured):
    # 20,000 orbits x 2,000 steps give a standard error ~ 6e-5, i.e. four of Sprott's five digits.
    f = S.henon()
    z0 = S.iterate(f, _ensemble(torch.Generator().manual_seed(0), 20000, 0.1, [0.0, 0.0]), 300)
    res = benettin([("henon", f)], z0, 2, 2000, seed=0, warmup=30, history=False)
    lam = res.exponents.mean(0)
    se = res.exponents.std(0) / math.sqrt(res.exponents.shape[0])
    assert se[0] < 1e-4
    assert abs(lam[0] - S.HENON_EXPONENTS[0]) < 3e-4  # 0.4192
    assert abs(lam[1] - S.HENON_EXPONENTS[1]) < 3e-4  # -1.6232
    assert np.allclose(res.exponents.sum(1), math.log(0.3), atol=1e-12)


def test_lorenz_published_exponents():
    # Sprott (2003): 0.9056, 0, -14.5723; sum = -(sigma + 1 + beta) = -13.6667 exactly (flow divergence)
    dt = 0.02
    f = S.rk4(S.lorenz_field(), dt)
    z0 = _ensemble(torch.Generator().manual_seed(1), 1000, 10.0, [-5.0, -5.0, 20.0])
    z0 = S.iterate(f, z0, 300)
    res = benettin([("lorenz", f)], z0, 3, 750, seed=0, warmup=150, dt=dt)
    lam = res.exponents.mean(0)
    se = res.exponents.std(0) / math.sqrt(res.exponents.shape[0])
    # 15 time units x 1000 orbits: s.e. ~ 3e-3, so two decimals (0.91, 0.00, -14.57)
    assert abs(lam[0] - S.LORENZ_EXPONENTS[0]) < max(0.01, 3.5 * se[0])
    assert abs(lam[1]) < 0.01
    assert abs(lam[2] - S.LORENZ_EXPONENTS[2]) < 0.01
    assert abs(lam.sum() + (10.0 + 1.0 + 8.0 / 3.0)) < 3e-3  # RK4 at dt = 0.02 (its det is not exp(div dt))


def test_logistic_map_ln2_to_published_precision():
    # x -> 4x(1-x) is conjugate to the tent map (slope 2) by x = sin^2(pi theta / 2)
    # (Ulam & von Neumann 1947): lambda = ln 2 exactly. The log-derivative differs from
    # ln 2 by a coboundary, so an orbit's n-step estimate is off by O(1/n) only, and
    # starting from the invariant density (theta uniform) removes even that on average:
    # the ensemble mean is unbiased with a standard error ~ 1.3 / (n sqrt(M)) ~ 3e-6 here.
    f = S.logistic(4.0)
    theta = torch.rand(2000, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z0 = torch.sin(math.pi * theta / 2) ** 2
    res = benettin([("logistic", f)], z0, 1, 8000, seed=0, history=False)
    assert abs(res.exponents.mean() - S.LOGISTIC4_EXPONENT) < 1e-5


def test_cat_map_published_exponents_to_machine_precision():
    # Arnold's cat map (x, y) -> (2x + y, x + y) mod 1 (Arnold & Avez 1968): Anosov, with
    # exponents +-ln((3 + sqrt 5) / 2) exactly; mod 1 leaves the tangent map unchanged.
    z0 = torch.rand(8, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    res = benettin([("cat", S.cat_map())], z0, 2, 400, seed=1, warmup=40)
    assert np.allclose(res.exponents, S.CAT_MAP_EXPONENTS, rtol=0, atol=1e-12)


def test_constant_linear_map_exact():
    # upper-triangular A: eigenvalues 2, -1.5, 0.5 -> exponents ln 2, ln 1.5, ln 0.5
    a = torch.tensor([[2.0, 1.0, 3.0], [0.0, -1.5, 2.0], [0.0, 0.0, 0.5]], dtype=torch.float64)
    res = benettin([("A", S.linear(a))], torch.zeros(1, 3, dtype=torch.float64), 3, 400, seed=3, warmup=200)
    assert np.allclose(res.exponents[0], np.log([2.0, 1.5, 0.5]), atol=1e-10)


def test_gaussian_products_newman():
    # i.i.d. N(0,1) matrices in R^n: lambda_i = (ln 2 + psi((n - i + 1) / 2)) / 2 (Newman 1986)
    from scipy.special import digamma

    n, steps = 4, 3000
    gen = torch.Generator().manual_seed(4)
    mats = torch.randn(steps, n, n, generator=gen, dtype=torch.float64)
    res = benettin(lambda t: [("G", S.linear(mats[t]))], torch.zeros(1, n, dtype=torch.float64), n, steps, seed=0)
    expected = [(math.log(2) + digamma((n - i + 1) / 2)) / 2 for i in range(1, n + 1)]
    assert np.allclose(res.exponents[0], expected, atol=0.05)


def test_attribution_sums_exactly():
    # two maps per step, QR after each map vs once per step: same exponents, contributions add up
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(5, 5, generator=gen, dtype=torch.float64)
    maps = [("henon_like", lambda z: torch.tanh(z) @ a.T), ("shear", lambda z: z + 0.3 * torch.sin(z).roll(1, -1))]
    z0 = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    per_step = benettin(maps, z0, 4, 50, seed=1)
    per_map = benettin(maps, z0, 4, 50, seed=1, qr_every="map")
    total = sum(per_map.contributions.values())
    assert np.allclose(total, per_map.exponents, rtol=0, atol=1e-13)
    assert np.allclose(per_map.exponents, per_step.exponents, rtol=0, atol=1e-12)
    assert set(per_map.contributions) == {"henon_like", "shear"}
    assert np.allclose(per_map.running[-1], per_map.exponents)


def test_ftle_profile_of_diagonal_layers():
    # layer l scales by exp(c_l) along e1 and less elsewhere: profile = c_l for a tangent aligned with e1
    c = np.array([0.5, -0.2, 0.1, 0.3, -0.4, 0.2, 0.0])
    layers = [[(f"L{i}", lambda z, g=g: z * torch.tensor([math.exp(g), 0.1, 0.1], dtype=torch.float64))]
              for i, g in enumerate(c)]
    z0 = torch.zeros(1, 3, dtype=torch.float64)
    t = torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64)
    for cadence in (1, 3, 4, 100):
        res = ftle(layers, z0, [0], cadence=cadence, tangents=t)
        assert np.allclose(res.profile[0, 0], c, atol=1e-14)
        lam, slope, var = profile_summaries(c)
        assert res.lambda1[0, 0] == pytest.approx(c.mean(), abs=1e-14)
        assert res.slope[0, 0] == pytest.approx(np.polyfit(np.arange(c.size), c, 1)[0], abs=1e-12)
        assert res.layer_var[0, 0] == pytest.approx(c.var(), abs=1e-14)


def test_ftle_seeds_converge_to_top_exponent():
    # 200 layers of a fixed matrix: every tangent seed gives ~ln|lambda_max| (QR every 4 layers, no overflow)
    a = torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)) + 0.1
    lam_max = float(torch.linalg.eigvals(a).abs().max())
    layers = [[("A", S.linear(a))]] * 200
    res = ftle(layers, torch.zeros(1, 3, dtype=torch.float64), range(10), cadence=4)
    assert np.allclose(res.lambda1[0], math.log(lam_max), atol=0.03)
    assert np.allclose(res.profile[0, :, -20:], math.log(lam_max), atol=1e-6)


def test_divergence_names_the_step():
    f = lambda z: z * z * 1e30  # noqa: E731
    with pytest.raises(NonFiniteError, match=r"run x: step \d+ map blowup"):
        benettin([("blowup", f)], torch.full((1, 2), 10.0, dtype=torch.float64), 2, 10, seed=0, where="run x: ")
    with pytest.raises(NonFiniteError, match=r"run y: layer \d+"):
        ftle([[("blowup", f)]] * 6, torch.full((1, 2), 10.0, dtype=torch.float64), [0], cadence=100, where="run y: ")
