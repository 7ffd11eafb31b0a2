"""The Lyapunov entry functions on a simulated GPU at Gemma 4 E4B's shapes (d = 2560,
sliding and full layers, per-layer inputs, KV-shared layers) and Pythia-160M's (GPT-NeoX): every
tensor the decoder maps make sits on the device (tests/simulated_cuda.py)."""
from __future__ import annotations

import pytest
import torch

from paper_shapes import GEMMA4_E4B, fake_model, shortened
from simulated_cuda import DEVICE, simulated_cuda

from resdyn.lyapunov import model_runs

# EleutherAI/pythia-160m's shape
PYTHIA_160M = dict(model_type="gpt_neox", hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                   num_attention_heads=12, vocab_size=50304, rotary_pct=0.25, use_parallel_residual=True,
                   max_position_embeddings=2048, hidden_act="gelu")
SHAPES = {"gemma4_e4b": shortened(GEMMA4_E4B, 12), "pythia160m": PYTHIA_160M}  # Gemma 4: layers 6-11 shared

ENTRY = {  # what the Lyapunov rules call (the trajectory rule: ftle_tables' token maps), at small k and step counts
    "ftle": lambda m, s: model_runs.ftle_tables(m, s, [0], "r", seeds=[0], cadence=2, position="span", span_tokens=2),
    "spectrum": lambda m, s: model_runs.spectrum_tables(m, s, [0], "r", k=2, loop_steps=2, seed=0),
}


@pytest.mark.parametrize("shape, name", [("gemma4_e4b", "ftle"), ("gemma4_e4b", "spectrum"), ("pythia160m", "ftle")])
def test_entry_functions_on_the_device(shape, name):
    """(The attribution runs the same maps a step at a time: tests/test_simulated_cuda.py, Llama.)"""
    with simulated_cuda():
        model = fake_model(SHAPES[shape], DEVICE)
        out = ENTRY[name](model, [torch.arange(3, 15)])  # token ids on the host, as the corpus gives them
    assert len(out) > 0
