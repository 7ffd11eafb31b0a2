"""Model health: the run's next-token loss on the corpus, under the tokenization the analysis uses.

The cheapest check of everything downstream: a trained model run as it was trained
predicts the corpus far better than the uniform baseline ln(V) nats/token (SmolLM2 and
Gemma 3 on the embedded corpus: about 3-4 against 10.8 and 12.5). A loss near ln(V)
means broken weights, a wrong tokenizer or tokens off the trained regime, and every
number measured on that forward pass would describe the wrong model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


class ModelHealthError(RuntimeError):
    pass


def output_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from final hidden states (after the final norm), as the model's own LM head computes them."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma 2
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


@dataclass
class LossTally:
    """Running sum of next-token negative log-likelihoods (nats) over real (unpadded) positions."""

    nll: float = 0.0
    n_tokens: int = 0
    n_samples: int = 0
    vocab_size: int = 0

    def add(self, model, hidden: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor, chunk: int = 512) -> None:
        """Add rows (B, T, d) of final hidden states with their ids and attention mask (left padding allowed)."""
        # position t predicts token t + 1 where both are real tokens
        pairs = (mask[:, :-1] * mask[:, 1:]).bool()
        h, target = hidden[:, :-1][pairs], input_ids[:, 1:][pairs]
        for start in range(0, len(target), chunk):  # logits of a 262k vocabulary: a few positions at a time
            logits = output_logits(model, h[start : start + chunk])
            self.vocab_size = logits.shape[-1]
            self.nll += float(torch.nn.functional.cross_entropy(logits, target[start : start + chunk], reduction="sum"))
        self.n_tokens += len(target)
        self.n_samples += hidden.shape[0]

    def row(self, run: str, bos: str) -> dict:
        loss = self.nll / self.n_tokens if self.n_tokens else float("nan")
        return {
            "run": run,
            "bos": bos,
            "n_samples": self.n_samples,
            "n_tokens": self.n_tokens,
            "loss": loss,
            "perplexity": math.exp(loss) if self.n_tokens else float("nan"),
            "ln_vocab": math.log(self.vocab_size) if self.vocab_size else float("nan"),
        }


def check_health(row: dict, trained: bool, max_fraction: float) -> None:
    """Fail a trained run whose loss is not clearly below the uniform baseline (loss > max_fraction * ln V)."""
    if not trained:
        return  # an untrained null sits at the baseline by design
    if row["n_tokens"] == 0:
        raise ModelHealthError(f"run {row['run']}: no next-token pairs to check the model on (samples of one token?)")
    limit = max_fraction * row["ln_vocab"]
    if not row["loss"] <= limit:
        raise ModelHealthError(
            f"run {row['run']}: next-token loss {row['loss']:.2f} nats/token on {row['n_tokens']} corpus tokens is not "
            f"clearly below the uniform baseline ln(V) = {row['ln_vocab']:.2f} (limit {max_fraction:g} x ln V = {limit:.2f}). "
            f"The weights are broken, or the text is tokenized off the model's trained regime "
            f"(check runs.{row['run']}.bos, now {row['bos']!r}, and the model files). No activations were written."
        )
