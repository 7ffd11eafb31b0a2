"""Primitives shared by the tangent-flow estimators: probes, QR renormalisation,
batched Jacobian-vector products, and the non-finite guard."""
from __future__ import annotations

from typing import Callable

import torch


class NonFiniteError(FloatingPointError):
    """A NaN or Inf appeared in a primal state or a tangent; the message names the step."""


def check_finite(x: torch.Tensor, where: str) -> None:
    """Raise :class:`NonFiniteError` naming ``where`` if ``x`` holds a NaN or an Inf."""
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise NonFiniteError(f"{bad} non-finite value(s) at {where}")


def random_probes(n: int, k: int, seed: int, ensemble: int = 1, dtype=torch.float64) -> torch.Tensor:
    """``ensemble`` sets of ``k`` orthonormal vectors in R^n, shape (ensemble, n, k).

    Drawn in float64 from a Gaussian seeded by ``seed`` (same seed, same probes on any
    machine), orthonormalised by QR, then cast to ``dtype``.
    """
    if k > n:
        raise ValueError(f"k={k} probes exceed the state dimension n={n}")
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.randn(ensemble, n, k, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(g)
    return q.to(dtype)


def random_unit_vector(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    """One Gaussian direction in R^n, normalised; tangent seed ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    return (v / v.norm()).to(dtype)


def qr_log_growth(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-orthonormalise the columns of ``w`` (..., n, k).

    Returns ``(q, log|diag r|)``: the new orthonormal frame and the log growth of each
    successive volume factor, float64. Summed over steps these are the Benettin sums.
    """
    q, r = torch.linalg.qr(w)
    growth = torch.log(torch.abs(torch.diagonal(r, dim1=-2, dim2=-1))).to(torch.float64)
    return q, growth


def batched_jvp(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, v: torch.Tensor):
    """Push tangents through ``f`` by forward-mode AD.

    ``z``: states, shape (E, *S) (an ensemble of E points); ``v``: tangents, shape
    (E, n, k) with n = prod(S), k tangents per point. ``f`` maps a batch (B, *S) to
    (B, *S) row by row; it is called once on B = E*k rows ordered point-major (rows
    e*k .. e*k+k-1 belong to point e). Returns ``(f(z), J v)`` with shapes (E, *S) and
    (E, n, k).
    """
    e, n, k = v.shape
    shape = z.shape[1:]
    zz = z.unsqueeze(1).expand(e, k, *shape).reshape(e * k, *shape)
    vv = v.transpose(1, 2).reshape(e * k, *shape).to(z.dtype)
    out, tan = torch.func.jvp(f, (zz,), (vv,))
    z_next = out.reshape(e, k, *shape)[:, 0]
    w = tan.reshape(e, k, n).transpose(1, 2)
    return z_next, w
