"""Per-token instability of a generated sequence, read from one forward pass of it.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (ct_t; defined here as
an FTLE of Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse: Finite-Time
Lyapunov Analysis of Transformer Forward Passes").

The generated token t (1..T) comes from the pass at position p_t = n_prompt - 2 + t.
At p_t, with every other position's keys and values held as in the unperturbed pass:
- ct_dynamical: the FTLE lambda_1 through depth (resdyn.lyapunov.ftle: JVP tangents, QR
  every `cadence` layers, final norm excluded), the mean over the tangent seeds;
- ct_kinematic: 1 - cos(h(p_t), h(p_t - 1)), h the last residual state before the final
  norm (for t = 1, p_t - 1 is the prompt's second-to-last token);
- repeat: token t closes an n-gram that occurs whole among the W tokens before it.
Causality makes the pass over the whole sequence give every position the state it had
when it was generated.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from resdyn.lyapunov.ftle import ftle


def ftle_and_kinematic(stack, positions: Sequence[int], seeds: Sequence[int], cadence: int, where: str = ""):
    """(ct_dynamical (E,), its std over seeds (E,), ct_kinematic (E,)) at ``positions``.

    ``stack``: a resdyn.models.decoder_map.SamplePass (or anything with its
    n_layers, token_maps, token_states and hidden). ``positions`` are host integers, checked
    before any tensor is made (a device never has to answer them).
    """
    positions = [int(p) for p in positions]
    if min(positions) < 1:
        raise ValueError("ct_kinematic needs the state before each position: positions must be >= 1")
    positions = torch.tensor(positions)
    res = ftle([stack.token_maps(i, positions) for i in range(stack.n_layers)], stack.token_states(0, positions),
               seeds, cadence, where=where)
    h = stack.hidden[stack.n_layers][0].double()
    now, before = h[positions.to(h.device)], h[(positions - 1).to(h.device)]
    cos = torch.nn.functional.cosine_similarity(now, before, dim=-1)
    return res.lambda1.mean(1), res.lambda1.std(1, ddof=0), (1 - cos).cpu().numpy()


def repeats_ngram(sequence: Sequence[int], index: int, n: int, window: int) -> bool:
    """Token ``sequence[index]`` closes an n-gram found among the ``window`` tokens before it."""
    if index - n + 1 < 0:
        return False
    gram = tuple(sequence[index - n + 1 : index + 1])
    past = sequence[max(0, index - window) : index]
    return any(tuple(past[i : i + n]) == gram for i in range(len(past) - n + 1))
