"""Both protocols on the same samples: each equals its own engine, and they agree on one token."""
import numpy as np
import pytest
import torch

from resdyn.data.activations import extract_last_token
from resdyn.data.activations import block_inputs
from resdyn.dynamics.jacobians import in_context_jacobian, single_token_layer_stats
from resdyn.dynamics.protocols import protocol_layer_arrays
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from tiny_models import tiny_model

SEQS = [[5, 17, 42, 8, 99, 3], [7, 3, 250], [11, 12, 13, 14, 15, 16, 17, 18]]


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_each_protocol_equals_its_engine_on_the_same_states(model_type):
    model = tiny_model(model_type)
    arrays, rel = protocol_layer_arrays(model, SEQS, "tiny")
    acts = extract_last_token(model, SEQS, batch_size=3)
    arch = architecture_of(model.config.model_type)
    for layer in range(model.config.num_hidden_layers):
        block = Block(model, layer, arch)
        single = single_token_layer_stats(block, acts[:, 2 * layer], 2, "ref", precision="single")
        np.testing.assert_allclose(arrays["single_token"][layer]["mean_J"], single["mean_J"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(arrays["single_token"][layer]["kappa"], single["kappa"], rtol=1e-4)
        ctx = [in_context_jacobian(block, block_inputs(model, s)[layer]).double() for s in SEQS]
        np.testing.assert_allclose(arrays["in_context"][layer]["mean_J"], torch.stack(ctx).mean(0).numpy(), rtol=1e-5, atol=1e-6)
        assert (rel[layer] > 1e-3).all()  # attending to a context changes every Jacobian here


def test_block_inputs_are_the_activation_snapshots():
    model = tiny_model("llama")
    inputs = block_inputs(model, SEQS[0])
    acts = extract_last_token(model, SEQS[:1], batch_size=1)[0]
    np.testing.assert_allclose(inputs[:, -1].numpy(), acts[0::2], rtol=1e-5, atol=1e-6)


def test_one_token_context_gives_identical_protocols():
    model = tiny_model("llama")
    arrays, rel = protocol_layer_arrays(model, [[42]], "tiny")
    for layer in range(model.config.num_hidden_layers):
        np.testing.assert_allclose(arrays["in_context"][layer]["mean_J"], arrays["single_token"][layer]["mean_J"],
                                   rtol=1e-5, atol=1e-6)
    assert rel.max() < 1e-5


def test_double_precision_resolves_what_single_censors():
    model = tiny_model("llama")
    single, _ = protocol_layer_arrays(model, SEQS, "tiny", precision="single")
    double, _ = protocol_layer_arrays(model, SEQS, "tiny", precision="double")
    auto, _ = protocol_layer_arrays(model, SEQS, "tiny", precision="auto")
    for p in ("single_token", "in_context"):
        for layer in range(model.config.num_hidden_layers):
            assert not double[p][layer]["kappa_censored"].any()
            np.testing.assert_allclose(auto[p][layer]["kappa"], double[p][layer]["kappa"], rtol=1e-2)  # the bound's 1 %
            censored = single[p][layer]["kappa_censored"]
            assert (single[p][layer]["kappa"][censored] <= double[p][layer]["kappa"][censored] * (1 + 1e-6)).all()
