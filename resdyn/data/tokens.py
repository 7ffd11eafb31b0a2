"""Token ids as the model was trained: the tokenizer's own special tokens by default.

A run's `bos` setting picks what goes in front of the text:
- auto (default): whatever the tokenizer adds by default (`add_special_tokens=True`).
  Gemma 3 and Llama 3.1 add their BOS; SmolLM2 adds nothing (its `bos_token`
  `<|im_start|>` is a chat marker). Dropping Gemma 3's `<bos>` raises its next-token loss
  on the corpus from 3.9 to 6.8 nats/token: the model runs off its trained regime.
- always: the BOS token, then the text.
- never: the text alone.
Special tokens a tokenizer appends after the text (an EOS) are left out in every mode:
the analyses read the state at the last token of the text itself.
"""
from __future__ import annotations

from typing import Iterable

BOS_MODES = ("auto", "always", "never")


class TokenizationError(ValueError):
    pass


def _leading_specials(full: list[int], plain: list[int]) -> list[int]:
    """The ids the tokenizer put in front of the text in `full` (= lead + plain + trail)."""
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start]
    raise TokenizationError("the tokenizer's default encoding does not contain the plain encoding of the text")


def encode(tokenizer, text: str, bos: str = "auto") -> list[int]:
    """Token ids of one text under the run's `bos` mode."""
    if bos not in BOS_MODES:
        raise TokenizationError(f"bos must be one of {', '.join(BOS_MODES)}, got {bos!r}")
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    if bos == "never":
        return plain
    if bos == "always":
        if tokenizer.bos_token_id is None:
            raise TokenizationError("bos = always, but the tokenizer defines no bos_token")
        return [tokenizer.bos_token_id, *plain]
    return _leading_specials(tokenizer(text)["input_ids"], plain) + plain


def encode_all(tokenizer, texts: Iterable[str], bos: str = "auto") -> list[list[int]]:
    """Token ids of each text under the run's `bos` mode (the activations' and Jacobians' samples)."""
    return [encode(tokenizer, text, bos) for text in texts]


def encode_prefixes(tokenizer, texts: Iterable[str], max_tokens: int, bos: str = "auto",
                    min_tokens: int = 2) -> list[list[int]]:
    """The first `max_tokens` ids of each text (as `encode_all`); a text with fewer than
    `min_tokens` ids is refused (a map through the sequence needs a step)."""
    out = []
    for i, text in enumerate(texts):
        ids = encode(tokenizer, text, bos)[:max_tokens]
        if len(ids) < min_tokens:
            raise TokenizationError(f"sample {i} has {len(ids)} token(s); need at least {min_tokens}")
        out.append(ids)
    return out


def token_tensors(tokenizer, texts: Iterable[str], max_tokens: int, bos: str = "auto") -> list:
    """`encode_prefixes` as one int64 tensor per text (the model-running stages' input)."""
    import torch

    return [torch.tensor(ids) for ids in encode_prefixes(tokenizer, texts, max_tokens, bos)]
