"""Products of row-stochastic matrices: Lambda_1 = 0, residual form, collapse depth."""
import math

import numpy as np
import pytest
import torch

from resdyn.lyapunov import attention_products as ap


def test_lambda1_is_zero_to_machine_precision():
    for temp in (0.5, 2.0):
        for residual in (False, True):
            mats = ap.random_products(20, 20, temp, 60, 40, seed=0, residual=residual)
            spec = ap.product_spectrum(mats, 4, seed=0, warmup=40)
            assert abs(spec.exponents[0]) < 1e-13
            assert np.all(spec.exponents[1:] < -0.05)


def test_residual_form_shifts_eigenvalues_and_slows_contraction():
    gen = torch.Generator().manual_seed(1)
    a = ap.random_attention(12, 12, 1.0, gen)
    eig = torch.linalg.eigvals(a)
    eig_res = torch.linalg.eigvals(ap.residual_form(a))
    key = lambda z: (round(z.real.item(), 8), round(z.imag.item(), 8))  # noqa: E731
    assert sorted(map(key, (1 + eig) / 2)) == sorted(map(key, eig_res))
    plain = ap.product_spectrum(ap.random_products(20, 20, 1.0, 60, 30, 2, False), 3, 0, warmup=30)
    resid = ap.product_spectrum(ap.random_products(20, 20, 1.0, 60, 30, 2, True), 3, 0, warmup=30)
    assert abs(resid.exponents[1]) < abs(plain.exponents[1])


def test_constant_matrix_exponents_are_log_eigenvalues():
    # A = g I + (1 - g) 1 pi^T: eigenvalues 1 and g (n - 1 times)
    n, g = 6, 0.4
    pi = torch.softmax(torch.randn(n, generator=torch.Generator().manual_seed(3), dtype=torch.float64), 0)
    a = g * torch.eye(n, dtype=torch.float64) + (1 - g) * torch.ones(n, 1, dtype=torch.float64) @ pi[None]
    spec = ap.product_spectrum([a] * 200, n, seed=1, warmup=100)
    assert spec.exponents[0] == pytest.approx(0.0, abs=1e-13)
    assert np.allclose(spec.exponents[1:], math.log(g), atol=1e-10)
    assert spec.gamma == pytest.approx(g, abs=1e-10)


def test_collapse_depth_formula_is_exact_for_a_symmetric_contraction():
    # uniform pi: P_L = g^L I + (1 - g^L) J/n, singular values 1 and g^L: erank = 1 + (n - 1) g^L
    n, g, r = 50, 0.3, 2.0
    a = g * torch.eye(n, dtype=torch.float64) + (1 - g) * torch.full((n, n), 1.0 / n, dtype=torch.float64)
    predicted = ap.collapse_depth_formula(g, n, r)
    assert predicted == pytest.approx(math.log((r - 1) / (n - 1)) / math.log(g))
    assert ap.measured_collapse_depth([a] * 20, r) == math.ceil(predicted)


def test_temperature_on_attention_weights_is_softmax_of_scaled_logits():
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(7, 7, generator=gen, dtype=torch.float64)
    logits = logits.masked_fill(torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), -math.inf)  # causal
    a = torch.softmax(logits, -1)
    for temp in (0.5, 2.0, 5.0):
        assert torch.allclose(ap.with_temperature(a, temp), torch.softmax(logits / temp, -1), atol=1e-12)
    # causal (lower-triangular) products keep Lambda_1 = 0: token 0 attends to itself only
    pool = [torch.softmax(torch.randn(7, 7, generator=gen, dtype=torch.float64).masked_fill(
        torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), -math.inf), -1) for _ in range(5)]
    spec = ap.product_spectrum(ap.pool_products(pool, 1.0, 80, 40, 0, False), 3, 0, warmup=40)
    assert abs(spec.exponents[0]) < 1e-13


def test_higher_temperature_collapses_faster():
    # flatter attention (larger T) is closer to rank one: |lambda_2| and Lambda_2 fall with T
    specs = [ap.product_spectrum(ap.random_products(30, 30, t, 40, 20, 0, False), 2, 0, warmup=20)
             for t in (0.5, 1.0, 5.0)]
    assert specs[0].gamma > specs[1].gamma > specs[2].gamma
    assert specs[0].exponents[1] > specs[1].exponents[1] > specs[2].exponents[1]
