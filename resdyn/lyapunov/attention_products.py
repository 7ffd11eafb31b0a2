"""Lyapunov spectra of products of row-stochastic (attention) matrices.

Implements Gibbs (2025), "Lyapunov Exponents for Attention Composition: A Dynamical Systems
Perspective on Deep Transformers", Sections 3-6.

For A_t row-stochastic, A_t 1 = 1, so the all-ones direction never grows or shrinks:
Lambda_1 = 0. The other exponents measure rank collapse: the product tends to 1 pi^T.
With the residual form (I + A)/2 every eigenvalue lambda moves to (1 + lambda)/2,
closer to 1, and contraction slows.

Rank-collapse depth. If the product keeps one unit singular value and the other n - 1
shrink like gamma^L, the nuclear rank sum(sigma)/sigma_1 = 1 + (n - 1) gamma^L (the paper's
"effective rank") drops below r at

    L = log((r - 1) / (n - 1)) / log gamma,

with gamma = |lambda_2| of the single matrices (here their geometric mean) or
gamma = exp(Lambda_2). The measured depth is the first L at which the nuclear rank
sum(sigma_i(P_L)) / sigma_1(P_L) of the actual product falls below r (-1 if it never
does within the steps drawn).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from resdyn.lyapunov.benettin import benettin


def random_attention(n: int, d_head: int, temperature: float, gen: torch.Generator) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d_head) / T) with Q, K ~ N(0, 1)^{n x d_head}, float64."""
    q = torch.randn(n, d_head, generator=gen, dtype=torch.float64)
    k = torch.randn(n, d_head, generator=gen, dtype=torch.float64)
    return torch.softmax(q @ k.T / math.sqrt(d_head) / temperature, dim=-1)


def with_temperature(a: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T) from A = softmax(logits): rows of A^(1/T), renormalised.

    Exact for the unmasked entries; masked (zero) entries stay zero.
    """
    a = a.to(torch.float64)
    if temperature == 1.0:
        return a
    logs = torch.where(a > 0, torch.log(a.clamp_min(1e-300)), torch.tensor(-math.inf, dtype=a.dtype))
    return torch.softmax(logs / temperature, dim=-1)


def residual_form(a: torch.Tensor) -> torch.Tensor:
    return 0.5 * (torch.eye(a.shape[-1], dtype=a.dtype) + a)


def second_eigenvalue_modulus(a: torch.Tensor) -> float:
    """|lambda_2|: the second largest eigenvalue modulus (the largest is 1)."""
    mods = torch.sort(torch.linalg.eigvals(a).abs(), descending=True).values
    return float(mods[1]) if mods.numel() > 1 else 0.0


def nuclear_rank(p: torch.Tensor) -> float:
    """Σσ_i / σ_1 = ‖P‖_* / ‖P‖_2: 1 for a rank-1 matrix, n for a multiple of a unitary one.

    Gibbs (2025), "Lyapunov Exponents for Attention Composition", calls this the effective rank in its
    collapse-depth prediction (threshold r = 2); it is not the exp-entropy effective rank of the
    cumulative products (resdyn.core.linalg.effective_rank), hence its own name here.
    """
    s = torch.linalg.svdvals(p)
    return float(s.sum() / s[0])


def collapse_depth_formula(gamma: float, n: int, r: float) -> float:
    """L = log((r - 1)/(n - 1)) / log(gamma) (gamma in (0, 1))."""
    if not 0.0 < gamma < 1.0:
        return -1.0
    return math.log((r - 1.0) / (n - 1.0)) / math.log(gamma)


def measured_collapse_depth(mats: Sequence[torch.Tensor], r: float) -> int:
    """First L with nuclear rank (Σσ/σ_1) of A_1 ... A_L below r; -1 if never."""
    p = None
    for depth, a in enumerate(mats, start=1):
        p = a.clone() if p is None else p @ a
        if nuclear_rank(p) < r:
            return depth
    return -1


@dataclass
class ProductSpectrum:
    exponents: np.ndarray  # (k,) from the Benettin flow
    gamma: float  # geometric mean of |lambda_2(A_t)|
    depth_formula: float  # with gamma
    depth_formula_lyap: float  # with exp(Lambda_2)
    depth_measured: int


def product_spectrum(
    mats: Sequence[torch.Tensor], k: int, seed: int, warmup: int = 0, rank_threshold: float = 2.0
) -> ProductSpectrum:
    """Top-k exponents of the product of ``mats`` (the first ``warmup`` only align the frame).

    The flow applies A_t to the frame at step t: the exponents of A_T ... A_1, which
    for i.i.d. draws have the same law as A_1 ... A_T.
    """
    n = mats[0].shape[0]
    k = min(k, n)
    steps = len(mats) - warmup
    if steps < 1:
        raise ValueError("need more matrices than warm-up steps")

    z0 = torch.zeros(1, n, dtype=torch.float64)
    res = benettin(lambda s: [("A", lambda z, a=mats[s]: z @ a.T)], z0, k, steps, seed, warmup=warmup)
    used = list(mats[warmup:])
    log_l2 = [math.log(max(second_eigenvalue_modulus(a), 1e-300)) for a in used]
    gamma = math.exp(float(np.mean(log_l2)))
    lam = res.exponents[0]
    lam2 = float(lam[1]) if k > 1 else float("nan")
    return ProductSpectrum(
        exponents=lam,
        gamma=gamma,
        depth_formula=collapse_depth_formula(gamma, n, rank_threshold),
        depth_formula_lyap=collapse_depth_formula(math.exp(lam2), n, rank_threshold) if k > 1 else -1.0,
        depth_measured=measured_collapse_depth(used, rank_threshold),
    )


def random_products(
    n: int, d_head: int, temperature: float, n_steps: int, warmup: int, seed: int, residual: bool
) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(int(seed))
    mats = [random_attention(n, d_head, temperature, gen) for _ in range(n_steps + warmup)]
    return [residual_form(a) for a in mats] if residual else mats


def pool_products(
    pool: Sequence[torch.Tensor], temperature: float, n_steps: int, warmup: int, seed: int, residual: bool
) -> list[torch.Tensor]:
    """i.i.d. draws (seeded) from a pool of real attention matrices."""
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randint(len(pool), (n_steps + warmup,), generator=gen)
    mats = [with_temperature(pool[int(i)], temperature) for i in idx]
    return [residual_form(a) for a in mats] if residual else mats


def depth_product_exponents(mats: Sequence[torch.Tensor], k: int) -> np.ndarray:
    """(1/L) log sigma_i(A_1 ... A_L) for a short product in order (no flow needed)."""
    p = mats[0].clone()
    for a in mats[1:]:
        p = p @ a
    s = torch.linalg.svdvals(p)[:k].clamp_min(1e-300)
    return (torch.log(s) / len(mats)).numpy()

