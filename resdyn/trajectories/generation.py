"""Decoding: T new tokens per prompt, greedy or sampled at a temperature from a seeded
generator, with the model's next-token entropy at each step.

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
def decode(model, prompt_ids: torch.Tensor, n_tokens: int, decoding: str, temperature: float = 1.0,
           rng: np.random.Generator | None = None) -> tuple[list[int], list[float]]:
    """(new token ids, entropies H_1..H_T) of one prompt."""
    device = next(model.parameters()).device
    ids = torch.as_tensor(prompt_ids).reshape(1, -1).to(device)
    out = model(input_ids=ids, use_cache=True)
    tokens, entropies = [], []
    for _ in range(n_tokens):
        logits = out.logits[0, -1]
        entropies.append(entropy_nats(logits))
        tokens.append(next_token(logits, decoding, temperature, rng))
        step = torch.tensor([[tokens[-1]]], device=device)
        out = model(input_ids=step, past_key_values=out.past_key_values, use_cache=True)
    return tokens, entropies
