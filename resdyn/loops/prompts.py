"""The loop study's prompts: the loop paper's listed prompts, then corpus rows for the rest.

Lyapunov Spectral Analysis of Loop Transformer Dynamics (anonymous, 2026) uses, in its Appendix B, 20 prompts "spanning declarative, narrative, and instructional
registers" and lists five of them; the other fifteen are not given. Here the listed ones
come first (``loops.prompts.listed``) and the first corpus samples fill up to
``loops.prompts.n``; a corpus row is cut to its first ``loops.max_tokens`` tokens so
that it is about as long as the listed prompts.
"""
from __future__ import annotations

import pandas as pd

# The loop paper's Appendix B (the second one's closing ';' there reads as a list separator)
SEED_PROMPTS = [
    "Water is composed of",
    "Once upon a time, in a kingdom far away",
    "To bake a cake, first",
    "To solve this problem we need to first consider",
    "If all birds can fly and a penguin is a bird, then",
]


def prompt_table(listed: list[str], corpus_texts: list[str], n: int) -> pd.DataFrame:
    """(sample, source, text): the listed prompts, then corpus rows, n in all."""
    rows = [("seed", t) for t in listed[:n]]
    need = n - len(rows)
    if need > len(corpus_texts):
        raise ValueError(f"loops.prompts.n = {n} needs {need} corpus samples, the corpus has {len(corpus_texts)} "
                         "(raise corpus.n_samples)")
    rows += [("corpus", t) for t in corpus_texts[:need]]
    return pd.DataFrame({"sample": range(len(rows)), "source": [r[0] for r in rows], "text": [r[1] for r in rows]})
