"""Top-1 finite-time Lyapunov exponent of a depth map, with its layerwise profile.

Implements Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse: Finite-Time
Lyapunov Analysis of Transformer Forward Passes", Section 2.1, Eq. (1).

A tangent v_0 (one per tangent seed) is pushed through the layers by JVP; every
``cadence`` layers (and after the last) it is renormalised (QR of one column). The
per-layer log growth g_l = log ||v_{l+1}|| - log ||v_l|| is read between
renormalisations, so sum_l g_l = sum_k log ||v_{kc}|| and

    lambda_1 = (1/L) sum_l g_l        (eq. 1 of the FTLE protocol),

the profile is (g_0, ..., g_{L-1}), its slope the least-squares slope of g_l against l,
and its layerwise variance the population variance of g_l over l.

A state may be read in ``blocks`` (the token positions of a whole-sequence state): each
block's slice of the tangent starts at unit norm and is renormalised on its own, and g_l is
the mean over blocks of each block's log growth. This is how the FTLE paper's published code
treats a tangent on every token of the sequence (per-token norms, mean over tokens); with one
block the norm is over the whole state, the growth rate of one JVP of the whole map.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from resdyn.lyapunov.qr_flow import batched_jvp, check_finite, random_unit_vector

Map = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class FTLEResult:
    seeds: np.ndarray  # (S,)
    profile: np.ndarray  # (E, S, L) per-layer log growth
    lambda1: np.ndarray  # (E, S)
    slope: np.ndarray  # (E, S)
    layer_var: np.ndarray  # (E, S)
    final_tangent: torch.Tensor  # (E, n, S), unnormalised since the last renormalisation


def profile_summaries(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lambda_1, slope, layerwise variance) of profiles (..., L)."""
    n_layers = profile.shape[-1]
    x = np.arange(n_layers, dtype=np.float64)
    xc = x - x.mean()
    lam = profile.mean(-1)
    slope = (profile * xc).sum(-1) / (xc**2).sum() if n_layers > 1 else np.zeros_like(lam)
    var = profile.var(-1)
    return lam, slope, var


def log_norm_since_renormalisation(profile: np.ndarray, cadence: int) -> np.ndarray:
    """log ||v_{l+1}|| since the last renormalisation, from per-layer log growths (..., L).

    The cumulative sum of g_l within each block of ``cadence`` layers (a block starts at unit
    norm). It is the layerwise profile that the FTLE paper's published code records (its text
    calls the profile the log growth rate at each layer, which is ``profile`` itself); the two
    agree at cadence 1.
    """
    out = np.array(profile, dtype=np.float64, copy=True)
    for start in range(0, out.shape[-1], cadence):
        out[..., start:start + cadence] = np.cumsum(out[..., start:start + cadence], axis=-1)
    return out


def ftle(
    layer_maps: Sequence[Callable[[], Sequence[tuple[str, Map]]]] | Sequence[Sequence[tuple[str, Map]]],
    z0: torch.Tensor,
    seeds: Sequence[int],
    cadence: int = 4,
    where: str = "",
    tangents: torch.Tensor | None = None,
    blocks: int = 1,
) -> FTLEResult:
    """FTLE of the composition of ``layer_maps`` along the orbit of ``z0``.

    layer_maps[l]: the maps (name, f) that make up layer l (applied in order).
    z0: (E, *S) initial states (E token positions); seeds: tangent seeds, one
    independent unit tangent each (the same seeds at every position).
    tangents: optional (E, n, S) initial tangents instead of seeded ones.
    blocks: the state (n values, flattened row-major) splits into this many equal
    consecutive slices whose tangent norms are read and renormalised separately (for a
    (positions, d) state, blocks = positions gives per-token norms); the log growth is
    averaged over them. 1: one norm over the whole state.
    """
    if cadence < 1:
        raise ValueError("cadence must be >= 1")
    e = z0.shape[0]
    n = int(np.prod(z0.shape[1:]))
    if blocks < 1 or n % blocks:
        raise ValueError(f"blocks={blocks} does not split a state of {n} values into equal slices")
    if tangents is None:
        v = torch.stack([random_unit_vector(n, s, z0.dtype, z0.device) for s in seeds], dim=-1)
        v = v.unsqueeze(0).expand(e, n, len(seeds)).clone()
    else:
        v = tangents.to(dtype=z0.dtype, device=z0.device)
    k = v.shape[-1]

    def block_norms(w):  # (E, blocks, k)
        return w.reshape(e, blocks, n // blocks, k).norm(dim=2)

    def renormalised(w):
        return (w.reshape(e, blocks, n // blocks, k) / block_norms(w)[:, :, None]).reshape(e, n, k)

    if blocks > 1 and tangents is None:
        v = renormalised(v)  # every block starts at unit norm
    n_layers = len(layer_maps)
    profile = np.zeros((e, k, n_layers))
    log_norm = torch.log(block_norms(v)).double()
    z = z0
    for i, maps in enumerate(layer_maps):
        maps = maps() if callable(maps) else maps
        for name, f in maps:
            z, v = batched_jvp(f, z, v)
            check_finite(z, f"{where}layer {i} ({name}) state")
            check_finite(v, f"{where}layer {i} ({name}) tangent")
        new_log = torch.log(block_norms(v)).double()
        check_finite(new_log, f"{where}layer {i} log growth")
        profile[:, :, i] = (new_log - log_norm).mean(1).cpu().numpy()  # mean over blocks
        log_norm = new_log
        if (i + 1) % cadence == 0 or i == n_layers - 1:
            v = renormalised(v)  # QR of a single column, per block
            log_norm = torch.zeros_like(log_norm)
    lam, slope, var = profile_summaries(profile)
    return FTLEResult(np.asarray(list(seeds)), profile, lam, slope, var, v)
