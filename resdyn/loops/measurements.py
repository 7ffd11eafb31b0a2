"""The measurements of Lyapunov Spectral Analysis of Loop Transformer Dynamics (anonymous, 2026) on a loop model: Benettin spectra over loop steps with running
averages and the state change (Fig. 1), per-sublayer attribution with its exact-sum check
(Fig. 2, Fig. 5a), cross-loop cosine similarity of residual states (Fig. 4), and the
single-probe lambda_1 of a checkpoint (Fig. 3). Each returns a table; no file paths here.

The tangent flows are the project's Benettin engine (resdyn.lyapunov.benettin) run on the
maps of resdyn.loops.loop_maps.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch

from resdyn.loops.loop_maps import loop_system, sublayer_states
from resdyn.lyapunov.benettin import benettin

log = logging.getLogger(__name__)


class AttributionMismatch(AssertionError):
    """Per-sublayer contributions that do not add up to the once-per-step exponents."""


def _system(model, ids, loop_state, n_steps, init_seed):
    prompt = model.prepare(ids, seed=init_seed)
    z0, maps = loop_system(model, prompt, loop_state, n_steps)
    return z0, maps


def spectrum_tables(model, prompts, name: str, *, k: int, n_steps: int, seed: int, loop_state: str,
                    n_running: int = 5, init_seed: int = 0):
    """(spectrum, convergence) tables: top-k exponents per prompt; running means of the
    top ``n_running`` and ||z_{t+1} - z_t|| per step."""
    spec, conv = [], []
    for sid, ids in enumerate(prompts):
        t0 = time.time()
        z0, maps = _system(model, ids, loop_state, n_steps, init_seed + sid)
        kk = min(k, z0[0].numel())
        res = benettin(maps, z0, kk, n_steps, seed, where=f"loop model {name} prompt {sid}: ")
        for i, lam in enumerate(res.exponents[0]):
            spec.append(dict(model=name, sample=sid, n_tokens=len(ids), index=i + 1, exponent=lam, k=kk,
                             n_steps=n_steps, loop_state=loop_state))
        for t in range(n_steps):
            for i in range(min(kk, n_running)):
                conv.append(dict(model=name, sample=sid, step=t + 1, index=i + 1, running_mean=res.running[t, 0, i],
                                 state_change=res.state_change[t, 0]))
        log.info("spectrum %s prompt %d: lambda1 %.4f (%.1f s)", name, sid, res.exponents[0, 0], time.time() - t0)
    return pd.DataFrame(spec), pd.DataFrame(conv)


def attribution_tables(model, prompts, name: str, *, k: int, heatmap_k: int, n_steps: int, seed: int,
                       loop_state: str, init_seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6):
    """(attribution, directions) tables from one flow with a QR after every sublayer.

    The flow has max(k, heatmap_k) probes. The same flow with one QR per step gives the
    exponents independently; the contributions of the sublayers must add up to them
    (exactly in exact arithmetic: the R factor of a composition is the product of the
    sublayers' R factors), else AttributionMismatch. attribution: indices <= k;
    directions (the Fig. 5a heatmap): every index, when heatmap_k > 0.
    """
    kk_req = max(k, heatmap_k)
    attr, dirs = [], []
    for sid, ids in enumerate(prompts):
        z0, maps = _system(model, ids, loop_state, n_steps, init_seed + sid)
        kk = min(kk_req, z0[0].numel())
        where = f"loop model {name} prompt {sid} attribution: "
        per_map = benettin(maps, z0, kk, n_steps, seed, qr_every="map", where=where)
        once = benettin(maps, z0, kk, n_steps, seed, qr_every="step", where=where)
        total = sum(per_map.contributions.values())
        gap = total - once.exponents
        if not np.allclose(total, once.exponents, rtol=rtol, atol=atol):
            raise AttributionMismatch(f"{where}sublayer contributions sum to {total[0, :3]} but one QR per step gives "
                                      f"{once.exponents[0, :3]} (max gap {np.abs(gap).max():.2e})")
        for order, (sub, c) in enumerate(per_map.contributions.items()):
            for i in range(kk):
                row = dict(model=name, sample=sid, order=order, sublayer=sub, index=i + 1, contribution=c[0, i],
                           exponent=once.exponents[0, i], sum_gap=gap[0, i], n_steps=n_steps, k=kk)
                if i < k:
                    attr.append(row)
                if heatmap_k > 0:
                    dirs.append(row)
        log.info("attribution %s prompt %d: lambda1 %.4f, max sum gap %.1e", name, sid, once.exponents[0, 0],
                 np.abs(gap).max())
    return pd.DataFrame(attr), pd.DataFrame(dirs)


def cosine_table(model, prompts, name: str, *, n_loops: int, init_seed: int = 0):
    """Mean over prompts of the cosine similarity between the last token's residual states
    after every sublayer of every loop: rows (loop_a, order_a, loop_b, order_b)."""
    names = [s.name for s in model.sublayers()]
    mats = []
    for sid, ids in enumerate(prompts):
        states = sublayer_states(model, model.prepare(ids, seed=init_seed + sid), n_loops).double()
        flat = states.reshape(-1, states.shape[-1])
        unit = flat / flat.norm(dim=1, keepdim=True)
        mats.append((unit @ unit.T).cpu().numpy())
    mean, sd = np.mean(mats, 0), np.std(mats, 0)
    m = len(names)
    rows = []
    for a in range(mean.shape[0]):
        for b in range(mean.shape[1]):
            rows.append(dict(model=name, loop_a=a // m + 1, order_a=a % m, sublayer_a=names[a % m], loop_b=b // m + 1,
                             order_b=b % m, sublayer_b=names[b % m], cosine=mean[a, b], cosine_std=sd[a, b],
                             n_samples=len(mats)))
    return pd.DataFrame(rows)


def checkpoint_table(model, prompts, name: str, *, checkpoint_step: int, final: bool, n_steps: int, seed: int,
                     loop_state: str, init_seed: int = 0):
    """Single-probe Benettin lambda_1 of one checkpoint per prompt (Fig. 3)."""
    rows = []
    for sid, ids in enumerate(prompts):
        z0, maps = _system(model, ids, loop_state, n_steps, init_seed + sid)
        res = benettin(maps, z0, 1, n_steps, seed, where=f"checkpoint {name} prompt {sid}: ", history=False)
        rows.append(dict(checkpoint=name, step=checkpoint_step, final=final, sample=sid, lambda1=res.exponents[0, 0],
                         n_steps=n_steps, loop_state=loop_state))
    return pd.DataFrame(rows)


def set_threads(n: int) -> None:
    torch.set_num_threads(max(1, int(n)))
