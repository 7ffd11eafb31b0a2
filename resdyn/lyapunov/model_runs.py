"""Per-run measurements on a prepared model: FTLE profiles, Benettin spectra through
depth and through loops, per-sublayer attribution, attention-product spectra.

Applies Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse: Finite-Time
Lyapunov Analysis of Transformer Forward Passes" and anonymous authors (2026), "Lyapunov
Spectral Analysis of Loop Transformer Dynamics" to the decoder runs.

Each function takes a loaded model and tokenised samples and returns tables
(pandas DataFrames with lower_snake_case columns); no file paths here.
"""
from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from resdyn.lyapunov import attention_products as ap
from resdyn.lyapunov.benettin import benettin
from resdyn.lyapunov.ftle import ftle, log_norm_since_renormalisation, profile_summaries
from resdyn.models.decoder_map import SamplePass

log = logging.getLogger(__name__)


def prepare(model_dir: str, corpus_path: str, n_samples: int, max_tokens: int, bos: str = "auto"):
    """(model, token ids, sample indices) for the first ``n_samples`` corpus samples."""
    from resdyn.data.corpus import read_jsonl
    from resdyn.data.tokens import token_tensors
    from resdyn.models.sources import load_for_inference

    texts = read_jsonl(corpus_path)[:n_samples]
    model, tokenizer = load_for_inference(model_dir)
    return model, token_tensors(tokenizer, texts, max_tokens, bos), list(range(len(texts)))


POSITIONS = ("last", "span", "sequence")  # lyapunov.position
NORMS = ("token", "state")  # lyapunov.ftle.norm
PROFILES = ("log_growth", "log_norm")  # lyapunov.ftle.profile


def _positions(n: int, position: str, span_tokens: int) -> torch.Tensor:
    if position == "last":
        return torch.tensor([n - 1])
    if position == "span":
        return torch.arange(max(0, n - span_tokens), n)
    if position == "sequence":
        return torch.arange(n)
    raise ValueError(f"lyapunov.position must be one of {', '.join(POSITIONS)}; got {position!r}")


def _check_ftle_options(position: str, norm: str, profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"lyapunov.ftle.profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    if norm not in NORMS:
        raise ValueError(f"lyapunov.ftle.norm must be one of {', '.join(NORMS)}; got {norm!r}")
    if norm == "state" and position == "span":
        raise ValueError("lyapunov.ftle.norm: state needs lyapunov.position: sequence (or last, where it is "
                         "the same as token); span's positions move alone, each with its own norm")


def _ftle_of_sample(stack: SamplePass, position: str, span_tokens: int, norm: str, seeds, cadence, where):
    """(FTLE result averaged over its token positions, number of positions) of one sample."""
    pos = _positions(stack.n, position, span_tokens)
    if position == "sequence":
        # one tangent on the whole (n, d) state; the causal mask lets later positions read earlier ones
        res = ftle([stack.sequence_maps(i) for i in range(stack.n_layers)], stack.hidden[0].clone(), seeds,
                   cadence, where=where, blocks=stack.n if norm == "token" else 1)
    else:
        # each position alone, the other positions' keys and values held at the unperturbed pass
        res = ftle([stack.token_maps(i, pos) for i in range(stack.n_layers)], stack.token_states(0, pos),
                   seeds, cadence, where=where)
    return res, len(pos)


def ftle_tables(model, samples: Sequence[torch.Tensor], sample_ids: Sequence[int], run: str, *,
                seeds: Sequence[int], cadence: int, position: str = "last", span_tokens: int = 8,
                norm: str = "token", profile: str = "log_growth"):
    """(summary table, profile table) of lambda_1 per sample and tangent seed.

    position: last (the last token, context keys/values fixed) | span (each of the last
    ``span_tokens`` positions alone) | sequence (one tangent on every position, all moving
    together through the layers as the model's causal mask couples them).
    norm: token (each position's tangent normalised on its own; lambda_1 the mean over
    positions) | state (one norm over the whole sequence state; sequence only).
    profile: the layerwise profile that slope and layer_var summarise: log_growth (the
    per-layer log growth g_l) | log_norm (log ||v_l|| since the last renormalisation, the
    profile of the FTLE paper's published code). The profile table holds both.
    """
    _check_ftle_options(position, norm, profile)
    rows, prof_rows = [], []
    for sid, ids in zip(sample_ids, samples):
        t0 = time.time()
        stack = SamplePass(model, ids)
        res, n_pos = _ftle_of_sample(stack, position, span_tokens, norm, seeds, cadence,
                                     where=f"run {run} sample {sid}: ")
        # average over token positions (one position for `last`; sequence: already one point)
        lam, slope, var = res.lambda1.mean(0), res.slope.mean(0), res.layer_var.mean(0)
        log_norms = log_norm_since_renormalisation(res.profile, cadence)
        if profile == "log_norm":  # per position, then the mean over positions, as for log_growth
            _, slope, var = (x.mean(0) for x in profile_summaries(log_norms))
        growth, log_norm = res.profile.mean(0), log_norms.mean(0)
        for j, s in enumerate(res.seeds):
            rows.append(dict(run=run, sample=sid, seed=int(s), position=position, norm=norm, n_positions=n_pos,
                             n_tokens=stack.n, n_layers=stack.n_layers, cadence=cadence, profile=profile,
                             lambda1=lam[j], slope=slope[j], layer_var=var[j]))
            for layer, (g, ln) in enumerate(zip(growth[j], log_norm[j])):
                prof_rows.append(dict(run=run, sample=sid, seed=int(s), layer=layer, log_growth=g, log_norm=ln))
        log.info("ftle run %s sample %s: lambda1 %.4f (%.1f s)", run, sid, lam.mean(), time.time() - t0)
    table = pd.DataFrame(rows)
    grouped = table.groupby("sample")
    for col in ("lambda1", "slope", "layer_var"):
        table[f"{col}_seed_mean"] = grouped[col].transform("mean")
    table["lambda1_seed_std"] = grouped["lambda1"].transform(lambda s: s.std(ddof=0))
    table["n_nonfinite"] = 0  # a non-finite value raises before any table is written
    return table, pd.DataFrame(prof_rows)


def _convergence_rows(run, mode, sid, res, n_keep):
    rows = []
    steps, _, k = res.running.shape
    for t in range(steps):
        for i in range(min(k, n_keep)):
            rows.append(dict(run=run, mode=mode, sample=sid, step=t + 1, index=i + 1,
                             running_mean=res.running[t, 0, i], state_change=res.state_change[t, 0]))
    return rows


def spectrum_tables(model, samples, sample_ids, run: str, *, k: int, loop_steps: int, seed: int,
                    loop_final_norm: bool = True, loop_state: str = "token", n_running: int = 5):
    """(spectrum table, convergence table): top-k exponents through depth and through loops."""
    spec, conv = [], []
    for sid, ids in zip(sample_ids, samples):
        stack = SamplePass(model, ids)
        pos = torch.tensor([stack.n - 1])
        where = f"run {run} sample {sid} "
        t0 = time.time()
        depth = benettin(lambda t: stack.token_maps(t, pos), stack.token_states(0, pos),
                         min(k, stack.d), stack.n_layers, seed, where=where + "depth: ")
        if loop_state == "token":
            z0, maps = stack.token_states(0, pos), stack.token_stack_maps(pos, final_norm=loop_final_norm)
        elif loop_state == "sequence":
            z0, maps = stack.hidden[0].clone(), stack.sequence_stack_maps(final_norm=loop_final_norm)
        else:
            raise ValueError(f"lyapunov.spectrum.loop_state must be 'token' or 'sequence', got {loop_state!r}")
        loop = benettin(maps, z0, min(k, z0[0].numel()), loop_steps, seed, where=where + "loop: ")
        for mode, res, steps in (("depth", depth, stack.n_layers), ("loop", loop, loop_steps)):
            for i, lam in enumerate(res.exponents[0]):
                spec.append(dict(run=run, mode=mode, sample=sid, index=i + 1, exponent=lam,
                                 k=res.exponents.shape[1], n_steps=steps, n_nonfinite=0))
            conv += _convergence_rows(run, mode, sid, res, n_running)
        log.info("spectrum run %s sample %s: depth l1 %.4f, loop l1 %.4f (%.1f s)", run, sid,
                 depth.exponents[0, 0], loop.exponents[0, 0], time.time() - t0)
    return pd.DataFrame(spec), pd.DataFrame(conv)


def attribution_table(model, samples, sample_ids, run: str, *, k: int, loop_steps: int, seed: int,
                      loop_final_norm: bool = True, tol: float = 1e-6):
    """Per-sublayer contributions (QR after every sublayer), through depth and loops.

    Checks that the contributions add up to the exponent of the same flow.
    """
    rows = []
    for sid, ids in zip(sample_ids, samples):
        stack = SamplePass(model, ids)
        pos = torch.tensor([stack.n - 1])
        z0 = stack.token_states(0, pos)
        runs = {
            "depth": (benettin(lambda t: stack.token_maps(t, pos, "sublayer"), z0, k, stack.n_layers, seed,
                               qr_every="map", where=f"run {run} sample {sid} depth: "), stack.n_layers),
            "loop": (benettin(stack.token_stack_maps(pos, "sublayer", loop_final_norm), z0, k, loop_steps, seed,
                              qr_every="map", where=f"run {run} sample {sid} loop: "), loop_steps),
        }
        once = {  # the same flows with one QR per step: an independent route to the same exponents
            "depth": benettin(lambda t: stack.token_maps(t, pos, "sublayer"), z0, k, stack.n_layers, seed),
            "loop": benettin(stack.token_stack_maps(pos, "sublayer", loop_final_norm), z0, k, loop_steps, seed),
        }
        for mode, (res, steps) in runs.items():
            if not np.allclose(res.exponents, once[mode].exponents, rtol=1e-4, atol=tol):
                raise AssertionError(f"run {run} sample {sid} {mode}: exponents with a QR after every sublayer "
                                     f"differ from those with one QR per step by "
                                     f"{np.abs(res.exponents - once[mode].exponents).max():.2e}")
            for order, (name, c) in enumerate(res.contributions.items()):
                layer, kind = (int(name[1:3]), name.split(".")[1]) if name.startswith("L") else (-1, name)
                for i in range(c.shape[1]):
                    rows.append(dict(run=run, mode=mode, sample=sid, order=order, sublayer=name, layer=layer,
                                     kind=kind, index=i + 1, contribution=c[0, i], exponent=res.exponents[0, i],
                                     n_steps=steps))
    return pd.DataFrame(rows)


def attention_table(model, samples, run: str, *, n: int, d_head: int, temperatures: Sequence[float],
                    n_steps: int, warmup: int, k: int, repeats: int, rank_threshold: float,
                    real_tokens: int, seed: int):
    """Spectra of attention products: random softmax matrices and this model's own."""
    rows = []

    def add(source, form, temp, size, results, extra_steps):
        ex = np.stack([r.exponents for r in results])
        for i in range(ex.shape[1]):
            rows.append(dict(run=run, source=source, form=form, temperature=float(temp), n=size,
                             n_steps=extra_steps, repeats=len(results), index=i + 1,
                             exponent=ex[:, i].mean(), exponent_std=ex[:, i].std(ddof=0),
                             lambda2_abs=float(np.mean([r.gamma for r in results])),
                             depth_formula=float(np.mean([r.depth_formula for r in results])),
                             depth_formula_lyap=float(np.mean([r.depth_formula_lyap for r in results])),
                             depth_measured=float(np.mean([r.depth_measured for r in results])),
                             rank_threshold=rank_threshold, n_nonfinite=0))

    pool = []
    for ids in samples:
        if len(ids) < real_tokens:
            continue
        stack = SamplePass(model, ids[:real_tokens], keep_attention=True)
        for w in stack.attn_weights:
            pool += [w[0, h].double().cpu() for h in range(w.shape[1])]  # small products: CPU float64
    for temp in temperatures:
        for residual in (False, True):
            form = "residual" if residual else "plain"
            res = [ap.product_spectrum(ap.random_products(n, d_head, temp, n_steps, warmup, seed + r, residual),
                                       k, seed + r, warmup, rank_threshold) for r in range(repeats)]
            add("random", form, temp, n, res, n_steps)
            if pool:
                res = [ap.product_spectrum(ap.pool_products(pool, temp, n_steps, warmup, seed + r, residual),
                                           k, seed + r, warmup, rank_threshold) for r in range(repeats)]
                add("model", form, temp, real_tokens, res, n_steps)
    if not pool:
        log.warning("run %s: no sample has %d tokens; no model attention rows", run, real_tokens)
    return pd.DataFrame(rows)
