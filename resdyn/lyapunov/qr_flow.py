"""Primitives shared by the tangent-flow estimators: probes, QR renormalisation,
batched Jacobian-vector products, and the non-finite guard.

Shared by Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse: Finite-Time
Lyapunov Analysis of Transformer Forward Passes", Eq. (1), and anonymous authors (2026),
"Lyapunov Spectral Analysis of Loop Transformer Dynamics", Appendix A.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.autograd.forward_ad as fwAD


class NonFiniteError(FloatingPointError):
    """A NaN or Inf appeared in a primal state or a tangent; the message names the step."""


def check_finite(x: torch.Tensor, where: str) -> None:
    """Raise :class:`NonFiniteError` naming ``where`` if ``x`` holds a NaN or an Inf."""
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise NonFiniteError(f"{bad} non-finite value(s) at {where}")


def random_probes(n: int, k: int, seed: int, ensemble: int = 1, dtype=torch.float64, device=None) -> torch.Tensor:
    """``ensemble`` sets of ``k`` orthonormal vectors in R^n, shape (ensemble, n, k).

    Drawn in float64 on the CPU from a Gaussian seeded by ``seed`` (same seed, same
    probes on any machine or device), orthonormalised by QR, then cast to ``dtype`` and
    moved to ``device``.
    """
    if k > n:
        raise ValueError(f"k={k} probes exceed the state dimension n={n}")
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.randn(ensemble, n, k, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(g)
    return q.to(dtype=dtype, device=device)


def random_unit_vector(n: int, seed: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """One Gaussian direction in R^n, normalised; tangent seed ``seed`` (drawn on the CPU)."""
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    return (v / v.norm()).to(dtype=dtype, device=device)


# Below this many columns, a vectorised modified Gram-Schmidt beats LAPACK's per-matrix
# Householder QR on large ensembles of small frames; both give the same R up to signs.
_MGS_MAX_K = 4


def qr_log_growth(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-orthonormalise the columns of ``w`` (..., n, k).

    Returns ``(q, log|diag r|)``: the new orthonormal frame and the log growth of each
    successive volume factor, float64. Summed over steps these are the Benettin sums.
    """
    k = w.shape[-1]
    if k <= _MGS_MAX_K:
        cols, logs = [], []
        for i in range(k):
            c = w[..., i]
            for p in cols:  # modified Gram-Schmidt: project out the finished columns
                c = c - (p * c).sum(-1, keepdim=True) * p
            nrm = c.norm(dim=-1, keepdim=True)
            cols.append(c / nrm)
            logs.append(torch.log(nrm[..., 0]))
        return torch.stack(cols, -1), torch.stack(logs, -1).to(torch.float64)
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
    zz = z.repeat_interleave(k, dim=0)
    vv = v.transpose(1, 2).reshape(e * k, *shape).to(z.dtype).contiguous()
    with torch.no_grad(), fwAD.dual_level():  # forward mode only: no backward graph
        out = f(fwAD.make_dual(zz, vv))
        out, tan = fwAD.unpack_dual(out)
    if tan is None:  # f does not depend on its input
        tan = torch.zeros_like(out)
    z_next = out.reshape(e, k, *shape)[:, 0]
    w = tan.reshape(e, k, n).transpose(1, 2)
    return z_next, w
