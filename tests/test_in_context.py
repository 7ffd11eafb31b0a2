"""The in-context closed form against reverse-mode autodiff, finite differences and the single-token form."""
import pytest
import torch

from resdyn.data.activations import prefix_states
from resdyn.dynamics.jacobians import autodiff_in_context_jacobian, in_context_jacobian, single_token_jacobians
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.in_context import in_context_jacobians
from tiny_models import TINY_CONFIGS, tiny_model
from finite_differences import central_differences

TYPES = sorted(TINY_CONFIGS)
TOKENS = [5, 17, 42, 8, 99, 23, 61, 7, 150, 33, 12, 201]


def _block(model, model_type, layer):
    return Block(model, layer, architecture_of(model_type), dtype=torch.float64)


@pytest.mark.parametrize("model_type", TYPES)
def test_closed_form_equals_jacrev_at_several_positions(model_type):
    """Every layer (sliding and full where the family has both), contexts shorter and longer than the window (4)."""
    model = tiny_model(model_type)
    for layer in range(model.config.num_hidden_layers):
        block = _block(model, model_type, layer)
        states = prefix_states(model, TOKENS, layer).double()
        for n_tokens in (2, 4, 7, 12):
            prefix = states[:n_tokens]
            torch.testing.assert_close(in_context_jacobian(block, prefix), autodiff_in_context_jacobian(block, prefix),
                                       atol=1e-10, rtol=0)


@pytest.mark.parametrize("model_type", TYPES)
def test_one_token_prompt_is_the_single_token_jacobian(model_type):
    model = tiny_model(model_type)
    block = _block(model, model_type, 1)
    prefix = prefix_states(model, TOKENS[:1], 1).double()
    assert torch.equal(in_context_jacobian(block, prefix), single_token_jacobians(block, prefix)[0])
    # the general formula with no earlier keys: weight 1 on itself, so q and k drop out
    empty = block.context(prefix[:0])
    torch.testing.assert_close(in_context_jacobians(block, prefix, [empty])[0],
                               single_token_jacobians(block, prefix)[0], atol=1e-13, rtol=0)


@pytest.mark.parametrize("model_type, layer", [("gemma2", 0), ("olmo3", 1), ("qwen3", 2)])
def test_closed_form_matches_central_differences(model_type, layer):
    """Soft-capping + sandwich norms + a sliding window; full q/k norm + post norms; per-head q/k norm."""
    model = tiny_model(model_type)
    block = _block(model, model_type, layer)
    prefix = prefix_states(model, TOKENS, layer).double()
    ctx = block.context(prefix[:-1])
    fd = central_differences(lambda h: block(h, ctx), prefix[-1])
    torch.testing.assert_close(in_context_jacobian(block, prefix), fd, atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("model_type", ["gemma2", "olmo2", "llama"])
def test_batched_contexts_of_different_lengths(model_type):
    """Padding the shorter contexts' keys and masking them leaves each sample's Jacobian as computed alone."""
    model = tiny_model(model_type)
    block = _block(model, model_type, 1)
    samples = [TOKENS[:3], TOKENS[2:11], TOKENS[5:7], TOKENS]
    prefixes = [prefix_states(model, ids, 1).double() for ids in samples]
    contexts = [block.context(p[:-1]) for p in prefixes]
    batch = in_context_jacobians(block, torch.stack([p[-1] for p in prefixes]), contexts)
    for jac, prefix in zip(batch, prefixes):
        torch.testing.assert_close(jac, autodiff_in_context_jacobian(block, prefix), atol=1e-10, rtol=0)


def test_one_context_per_state():
    model = tiny_model("llama")
    block = _block(model, "llama", 0)
    prefix = prefix_states(model, TOKENS[:4], 0).double()
    with pytest.raises(ValueError, match="1 contexts for 2 states"):
        in_context_jacobians(block, prefix[-2:], [block.context(prefix[:-1])])
