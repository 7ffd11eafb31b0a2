"""The token-trajectory table on the GPU against the CPU (float64 tiny Gemma 3: sliding
windows, KV cache, JVPs through depth at every generated position). Gemma's RMSNorm runs
in float32 even in a float64 model (ct_dynamical moves by ~5e-9 with the QR cadence on
the CPU alone), so the tolerance is float32's, not float64's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_models import tiny_model

from resdyn.trajectories.model_run import trajectory_tokens

pytestmark = pytest.mark.gpu


class ByteTokenizer:
    """Token ids 3 + byte (the tiny models' vocabulary of 300 holds them); no special tokens."""

    bos_token_id = None

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [3 + b for b in text.encode()]}


def test_trajectory_table_on_the_device_matches_cpu_float64(device):
    prompts = [("language_reference", "The assert statement checks a condition."),
               ("function_docstring", "Return the sum of the values in a list.")]
    kw = dict(prompt_tokens=12, n_tokens=6, temperature=0.9, seed=0, ftle_seeds=[0, 1], cadence=1, repeat_n=2,
              repeat_window=8)
    cpu = trajectory_tokens(tiny_model("gemma3_text").double(), ByteTokenizer(), prompts, "tiny", **kw)
    dev = trajectory_tokens(tiny_model("gemma3_text").double().to(device), ByteTokenizer(), prompts, "tiny", **kw)
    exact = ["run", "prompt", "category", "decoding", "t", "position", "token_id", "repeat"]
    pd.testing.assert_frame_equal(dev[exact], cpu[exact])  # the same tokens drawn on both
    for col in ("ct_dynamical", "ct_dynamical_seed_std", "ct_kinematic", "entropy"):
        np.testing.assert_allclose(dev[col], cpu[col], rtol=1e-6, atol=1e-7, err_msg=col)
