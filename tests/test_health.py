"""Model health: the next-token loss from the activation pass is the model's own loss."""
import math

import numpy as np
import pytest
import torch

from resdyn.data.activations import extract_last_token, extract_with_loss
from resdyn.data.health import ModelHealthError, check_health
from tiny_models import TINY_CONFIGS, tiny_model

SEQS = [[5, 17, 42, 8, 99, 3], [7, 3], [11, 12, 13, 14, 15, 16, 17, 18], [200, 201, 202]]


def reference_loss(model, seqs):
    """transformers' own loss (labels = inputs), one sample at a time, token-weighted."""
    nll = n = 0.0
    with torch.no_grad():
        for s in seqs:
            ids = torch.tensor([s])
            nll += float(model(input_ids=ids, labels=ids).loss) * (len(s) - 1)
            n += len(s) - 1
    return nll / n


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_loss_equals_the_models_own_loss_with_left_padding(model_type):
    model = tiny_model(model_type)
    acts, tally = extract_with_loss(model, SEQS, batch_size=4, loss_samples=3)  # batched, left padded
    assert tally.n_tokens == sum(len(s) - 1 for s in SEQS[:3]) and tally.n_samples == 3
    assert tally.row("r", "auto")["loss"] == pytest.approx(reference_loss(model, SEQS[:3]), rel=1e-5)
    np.testing.assert_array_equal(acts, extract_last_token(model, SEQS, batch_size=4))  # same activations


def test_gemma2_soft_capped_logits_are_the_models():
    model = tiny_model("gemma2")
    model.config.final_logit_softcapping = 0.5  # binding: raw logits of this model exceed 0.5
    _, tally = extract_with_loss(model, SEQS, batch_size=2, loss_samples=4)
    assert tally.row("r", "auto")["loss"] == pytest.approx(reference_loss(model, SEQS), rel=1e-5)


def _row(loss, ln_vocab=math.log(300)):
    return {"run": "m", "bos": "auto", "n_tokens": 100, "loss": loss, "ln_vocab": ln_vocab}


def test_gate_fails_a_trained_run_near_the_uniform_baseline_and_names_it():
    check_health(_row(3.9), trained=True, max_fraction=0.75)
    with pytest.raises(ModelHealthError, match=r"run m: next-token loss 5\.60 .* ln\(V\) = 5\.70.*runs\.m\.bos"):
        check_health(_row(5.6), trained=True, max_fraction=0.75)
    with pytest.raises(ModelHealthError):
        check_health(_row(float("nan")), trained=True, max_fraction=0.75)
    check_health(_row(5.8), trained=False, max_fraction=0.75)  # the step-0 null sits at the baseline


def test_a_random_model_is_at_the_uniform_baseline():
    """What the gate relies on: an untrained model's loss is close to ln V, far above 0.75 ln V."""
    _, tally = extract_with_loss(tiny_model("llama"), SEQS, batch_size=4, loss_samples=4)
    row = tally.row("r", "auto")
    assert row["ln_vocab"] == pytest.approx(math.log(300))
    assert abs(row["loss"] - row["ln_vocab"]) < 0.5
    with pytest.raises(ModelHealthError):
        check_health(row, trained=True, max_fraction=0.75)
