"""Benettin's algorithm: top-k Lyapunov exponents of a composition of maps.

Implements Appendix A (Benettin algorithm) and Section 3.2 (attribution) of anonymous authors
(2026), "Lyapunov Spectral Analysis of Loop Transformer Dynamics".

A *step* applies a list of named maps f_1, ..., f_m to the state. k orthonormal probes
are pushed through each map by forward-mode AD (JVP) and re-orthonormalised by QR,
either once per step (the standard estimator) or after every map (attribution). The
log |diag R| factors accumulate to S; the exponents are S / (n_steps * dt).

With QR after every map, the factor of map f_s is the log growth that f_s alone applies
to the current frame. Since the R factor of a product of maps is the product of the
per-map R factors (and diag of a product of triangular matrices is the product of their
diagonals), the per-map sums add up to the once-per-step sums: the attribution is
exact, not an approximation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from resdyn.lyapunov.qr_flow import batched_jvp, check_finite, qr_log_growth, random_probes

Map = Callable[[torch.Tensor], torch.Tensor]
NamedMaps = Sequence[tuple[str, Map]]


@dataclass
class BenettinResult:
    exponents: np.ndarray  # (E, k) lambda_1 >= ... per unit of step (or of time with dt)
    running: np.ndarray  # (n_steps, E, k) running averages S_t / t after the warm-up (0 rows without history)
    step_growth: np.ndarray  # (n_steps, E, k) log |diag R| of each step (summed over its maps)
    contributions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (E, k)
    state_change: np.ndarray | None = None  # (n_steps, E) ||z_{t+1} - z_t||
    final_state: torch.Tensor | None = None
    n_nonfinite: int = 0


def benettin(
    maps: NamedMaps | Callable[[int], NamedMaps],
    z0: torch.Tensor,
    k: int,
    n_steps: int,
    seed: int,
    *,
    qr_every: str = "step",
    warmup: int = 0,
    dt: float = 1.0,
    probes: torch.Tensor | None = None,
    where: str = "",
    progress: Callable[[int], None] | None = None,
    history: bool = True,
) -> BenettinResult:
    """Top-``k`` Lyapunov exponents of the maps along the orbit of ``z0``.

    maps: a fixed list of (name, f) applied at every step (an iterated map), or a
        function ``s -> list`` for s = 0 .. warmup + n_steps - 1 (a non-autonomous
        sequence, e.g. the layers of a stack).
        Each f maps a batch (B, *S) to (B, *S) row by row.
    z0: (E, *S), an ensemble of E initial states treated independently.
    qr_every: "step" (QR once per step) or "map" (QR after each map: attribution).
    warmup: initial steps whose growth is discarded (frame alignment).
    probes: optional initial frame (E, n, k); default: seeded random orthonormal.
    where: prefix naming the orbit in error messages.
    history: keep the per-step running averages, growths and state changes (memory
        n_steps x E x k); without it long validation orbits run in constant memory.
    """
    if qr_every not in ("step", "map"):
        raise ValueError(f"qr_every must be 'step' or 'map', got {qr_every!r}")
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    e = z0.shape[0]
    n = int(np.prod(z0.shape[1:]))
    q = random_probes(n, k, seed, e, z0.dtype, z0.device) if probes is None else probes.to(z0.dtype)
    z = z0
    total = torch.zeros(e, k, dtype=torch.float64, device=z0.device)
    contrib: dict[str, torch.Tensor] = {}
    rows = n_steps if history else 0
    running = np.zeros((rows, e, k))
    step_growth = np.zeros((rows, e, k))
    change = np.zeros((rows, e))
    for s in range(warmup + n_steps):
        t = s - warmup  # measured step index; negative during the warm-up
        step_maps = maps(s) if callable(maps) else maps
        z_start = z
        g_step = torch.zeros(e, k, dtype=torch.float64, device=z0.device)
        w = q
        for name, f in step_maps:
            z, w = batched_jvp(f, z, w)
            check_finite(z, f"{where}step {t} map {name} (state)")
            check_finite(w, f"{where}step {t} map {name} (tangent)")
            if qr_every == "map":
                w, g = qr_log_growth(w)
                check_finite(g, f"{where}step {t} map {name} (log growth)")
                g_step += g
                if t >= 0:
                    contrib[name] = contrib.get(name, torch.zeros_like(g)) + g
        if qr_every == "step":
            w, g_step = qr_log_growth(w)
            check_finite(g_step, f"{where}step {t} (log growth)")
        q = w
        if t < 0:
            continue
        total += g_step
        if progress is not None:
            progress(t)
        if not history:
            continue
        step_growth[t] = g_step.cpu().numpy()
        running[t] = (total / ((t + 1) * dt)).cpu().numpy()
        change[t] = (z - z_start).reshape(e, -1).norm(dim=1).double().cpu().numpy()
    scale = 1.0 / (n_steps * dt)
    return BenettinResult(
        exponents=(total * scale).cpu().numpy(),
        running=running,
        step_growth=step_growth,
        contributions={name: (c * scale).cpu().numpy() for name, c in contrib.items()},
        state_change=change,
        final_state=z,
        n_nonfinite=0,
    )
