"""One run's token table: every prompt decoded greedy and sampled, ct_t and H_t per token.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models".
"""
from __future__ import annotations

import logging
import time

import pandas as pd
import torch

from resdyn.models.decoder_map import SamplePass
from resdyn.trajectories.generation import DECODINGS, decode, sampling_rng
from resdyn.trajectories.token_metrics import ftle_and_kinematic, repeats_ngram

log = logging.getLogger(__name__)


def trajectory_tokens(model, tokenizer, prompts, run: str, *, prompt_tokens: int, n_tokens: int,
                      temperature: float, seed: int, ftle_seeds, cadence: int, repeat_n: int,
                      repeat_window: int, bos: str = "auto") -> pd.DataFrame:
    """prompts: [(category, text)]; one row per (prompt, decoding, generated token t)."""
    from resdyn.data.tokens import token_tensors

    rows = []
    ids_all = token_tensors(tokenizer, [text for _, text in prompts], prompt_tokens, bos)
    decoded = [None] * len(prompts)
    for length in sorted({len(ids) for ids in ids_all}):  # one batch per prompt length
        group = [i for i, ids in enumerate(ids_all) if len(ids) == length]
        t0 = time.time()
        out = decode(model, [ids_all[i] for i in group], n_tokens, DECODINGS, temperature,
                     [sampling_rng(seed, i) for i in group])
        for i, o in zip(group, out):
            decoded[i] = o
        log.info("run %s: %d prompts of %d tokens decoded (%.1f s)", run, len(group), length, time.time() - t0)
    for prompt, ((category, _), ids) in enumerate(zip(prompts, ids_all)):
        for decoding, (new, entropies) in decoded[prompt].items():
            t0 = time.time()
            sequence = ids.tolist() + new
            n_prompt = len(ids)
            # the pass that drew token T is over everything before it
            stack = SamplePass(model, torch.tensor(sequence[:-1]))
            positions = range(n_prompt - 1, n_prompt - 1 + n_tokens)
            lam, lam_std, kin = ftle_and_kinematic(stack, positions, list(ftle_seeds), cadence,
                                                   where=f"run {run} prompt {prompt} {decoding}: ")
            for t in range(n_tokens):
                rows.append(dict(run=run, prompt=prompt, category=category, decoding=decoding, t=t + 1,
                                 position=positions[t], token_id=new[t], ct_dynamical=float(lam[t]),
                                 ct_dynamical_seed_std=float(lam_std[t]), ct_kinematic=float(kin[t]),
                                 entropy=entropies[t],
                                 repeat=repeats_ngram(sequence, n_prompt + t, repeat_n, repeat_window)))
            log.info("run %s prompt %d %s: mean ct_dynamical %.4f, mean H %.3f (%.1f s)", run, prompt, decoding,
                     lam.mean(), sum(entropies) / n_tokens, time.time() - t0)
    return pd.DataFrame(rows)
