"""Decoding: T new tokens per prompt, greedy or sampled at a temperature from a seeded
generator, with the model's next-token entropy at each step.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models".

Step t (1..T) runs the forward pass at the last position of the sequence so far and
draws token t from it; H_t is the entropy (nats) of that pass's next-token distribution
at temperature 1 (the model's own distribution, also when sampling tempers it).
The KV cache carries the context; no EOS stops decoding (every trajectory has T tokens).
"""
from __future__ import annotations

import numpy as np
import torch

DECODINGS = ("greedy", "sampled")


def sampling_rng(seed: int, prompt: int) -> np.random.Generator:
    """The sampled decoding's generator of one prompt: the same draws for every model."""
    return np.random.default_rng([int(seed), int(prompt)])


def entropy_nats(logits: torch.Tensor) -> float:
    logp = torch.log_softmax(logits.double(), dim=-1)
    return float(-(logp.exp() * logp).sum())


def next_token(logits: torch.Tensor, decoding: str, temperature: float, rng: np.random.Generator | None) -> int:
    if decoding == "greedy":
        return int(torch.argmax(logits))
    if decoding != "sampled":
        raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
    # inverse CDF in float64 on the CPU: the same draw on any device
    p = torch.softmax(logits.double().cpu() / temperature, dim=-1).numpy()
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(p) - 1))


@torch.no_grad()
def decode(model, prompts, n_tokens: int, decodings=DECODINGS, temperature: float = 1.0,
           rngs=None) -> list[dict[str, tuple[list[int], list[float]]]]:
    """[{decoding: (new token ids, entropies H_1..H_T)}] of prompts of one length.

    Every (prompt, decoding) is a row of one batch (equal lengths: no padding, no mask).
    A decoding step is bound by reading the weights, so twelve rows cost about what one
    does. rngs[i] draws prompt i's sampled tokens (its own generator: the draws do not
    depend on the batch).
    """
    device = next(model.parameters()).device
    lengths = {len(p) for p in prompts}
    if len(lengths) != 1:
        raise ValueError(f"decode takes prompts of one length, got lengths {sorted(lengths)}")
    rows = [(i, d) for i in range(len(prompts)) for d in decodings]
    ids = torch.stack([torch.as_tensor(prompts[i]) for i, _ in rows]).to(device)
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    result = [{d: ([], []) for d in decodings} for _ in prompts]
    for _ in range(n_tokens):
        step = []
        for row, (i, d) in enumerate(rows):
            logits = out.logits[row, -1]
            result[i][d][1].append(entropy_nats(logits))
            result[i][d][0].append(next_token(logits, d, temperature, rngs[i] if rngs is not None else None))
            step.append(result[i][d][0][-1])
        out = model(input_ids=torch.tensor(step, device=device)[:, None], past_key_values=out.past_key_values,
                    use_cache=True, logits_to_keep=1)
    return result
