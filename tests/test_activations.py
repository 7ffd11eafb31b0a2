"""Activation hooks: the right residual states, batched with left padding."""
import numpy as np
import pytest
import torch

from resdyn.data.activations import extract_last_token, length_batches, left_padded
from tiny_models import TINY_CONFIGS, tiny_model

SEQS = [[5, 17, 42, 8, 99], [7, 3], [11, 12, 13, 14, 15, 16, 17, 18], [200, 201, 202]]


def _layer_outputs(model, tokens):
    outs = {}
    hooks = [layer.register_forward_hook(lambda m, a, o, i=i: outs.__setitem__(i, (o[0] if isinstance(o, tuple) else o)[0, -1]))
             for i, layer in enumerate(model.model.layers)]
    with torch.no_grad():
        final = model.model(input_ids=torch.tensor([tokens])).last_hidden_state[0, -1]
    for h in hooks:
        h.remove()
    return outs, final


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_snapshots_are_block_inputs_and_not_the_final_norm(model_type):
    model = tiny_model(model_type)
    acts = extract_last_token(model, [SEQS[0]], batch_size=1)[0]
    n_layers = model.config.num_hidden_layers
    assert acts.shape == (2 * n_layers, model.config.hidden_size)
    outs, final = _layer_outputs(model, SEQS[0])
    for layer in range(n_layers - 1):  # pre-attention of block ℓ+1 is block ℓ's output
        np.testing.assert_allclose(acts[2 * layer + 2], outs[layer].numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(acts[-1], final.numpy(), atol=1e-3)  # the stored states are pre-final-norm
    # pre-MLP = pre-attention + the attention branch (through its post-norm where the architecture has one)
    from resdyn.models.architectures import architecture_of

    branch = {}
    hooks = [layer.self_attn.register_forward_hook(lambda m, a, o, i=i: branch.__setitem__(i, o[0][0, -1]))
             for i, layer in enumerate(model.model.layers)]
    with torch.no_grad():
        model(input_ids=torch.tensor([SEQS[0]]))
    for h in hooks:
        h.remove()
    post = architecture_of(model.config.model_type).norm_placement in ("sandwich", "post")
    for layer in range(n_layers):
        with torch.no_grad():
            attn = model.model.layers[layer].post_attention_layernorm(branch[layer]) if post else branch[layer]
        np.testing.assert_allclose(acts[2 * layer + 1], acts[2 * layer] + attn.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "olmo2"])
def test_left_padded_batches_equal_one_at_a_time(model_type):
    model = tiny_model(model_type)
    batched = extract_last_token(model, SEQS, batch_size=4)
    single = np.stack([extract_last_token(model, [s], batch_size=1)[0] for s in SEQS])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-5)


def test_batches_group_similar_lengths_and_cover_every_sample():
    batches = length_batches([5, 2, 8, 3, 9, 1], 2)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert batches[0] == [1, 5]


def test_left_padding_puts_real_tokens_last():
    ids, mask = left_padded([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
