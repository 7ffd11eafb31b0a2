"""The functional block against the transformers layers, and its Jacobians against finite differences."""
import numpy as np
import pytest
import torch

from resdyn.data.activations import prefix_states, residual_hooks
from resdyn.dynamics.jacobians import autodiff_single_token_jacobians, in_context_jacobian, single_token_jacobians
from resdyn.models.architectures import ARCHITECTURES, UnsupportedArchitecture, architecture_of
from resdyn.models.block import Block
from tiny_models import TINY_CONFIGS, tiny_model
from finite_differences import central_differences

TYPES = sorted(TINY_CONFIGS)
TOKENS = [5, 17, 42, 8, 99, 23, 61, 7, 150]


def test_every_supported_architecture_has_a_tiny_model():
    assert set(TYPES) == set(ARCHITECTURES)


def test_unsupported_architecture_names_the_supported_ones():
    with pytest.raises(UnsupportedArchitecture, match="llama.*olmo2"):
        architecture_of("gpt2")


def _layer_io(model, tokens):
    """All-position inputs, pre-MLP states and outputs of every layer from the real forward."""
    snaps, outs = {}, {}
    hooks = [
        layer.register_forward_hook(lambda m, a, o, i=i: outs.__setitem__(i, (o[0] if isinstance(o, tuple) else o)[0]))
        for i, layer in enumerate(model.model.layers)
    ]
    with torch.no_grad(), residual_hooks(model, lambda s, h: snaps.__setitem__(s, h[0].clone())):
        model.model(input_ids=torch.tensor([tokens]), use_cache=False)
    for h in hooks:
        h.remove()
    return snaps, outs


@pytest.mark.parametrize("model_type", TYPES)
def test_block_reproduces_the_layer_in_context(model_type):
    model = tiny_model(model_type)
    arch = architecture_of(model_type)
    snaps, outs = _layer_io(model, TOKENS)
    for layer in range(model.config.num_hidden_layers):
        block = Block(model, layer, arch)
        prefix = snaps[2 * layer]
        ctx = block.context(prefix[:-1])
        torch.testing.assert_close(block.pre_mlp(prefix[-1], ctx), snaps[2 * layer + 1][-1], atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(block(prefix[-1], ctx), outs[layer][-1], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("model_type", TYPES)
def test_block_reproduces_the_layer_on_a_single_token(model_type):
    model = tiny_model(model_type)
    snaps, outs = _layer_io(model, TOKENS[:1])
    for layer in range(model.config.num_hidden_layers):
        block = Block(model, layer, architecture_of(model_type))
        torch.testing.assert_close(block(snaps[2 * layer][0]), outs[layer][0], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("model_type", TYPES)
def test_jacobians_match_central_differences_in_float64(model_type):
    model = tiny_model(model_type)
    block = Block(model, 1, architecture_of(model_type), dtype=torch.float64)
    prefix = prefix_states(model, TOKENS, 1).double()
    ctx = block.context(prefix[:-1])
    fd = central_differences(lambda h: block(h, ctx), prefix[-1])
    torch.testing.assert_close(in_context_jacobian(block, prefix), fd, atol=1e-8, rtol=1e-7)
    fd_single = central_differences(block, prefix[-1])
    torch.testing.assert_close(single_token_jacobians(block, prefix[-1:])[0], fd_single, atol=1e-8, rtol=1e-7)
    # the two protocols differ once there is context to attend to
    assert not torch.allclose(fd, fd_single, atol=1e-4)


@pytest.mark.parametrize("model_type", TYPES)
def test_protocols_agree_on_a_one_token_prompt(model_type):
    model = tiny_model(model_type)
    block = Block(model, 2, architecture_of(model_type), dtype=torch.float64)
    prefix = prefix_states(model, TOKENS[:1], 2).double()
    torch.testing.assert_close(in_context_jacobian(block, prefix), single_token_jacobians(block, prefix)[0])


def test_block_jacobian_is_identity_plus_update():
    """J = I + ∂f/∂h: zeroing the output projections leaves the identity."""
    model = tiny_model("llama")
    with torch.no_grad():
        model.model.layers[0].self_attn.o_proj.weight.zero_()
        model.model.layers[0].mlp.down_proj.weight.zero_()
    block = Block(model, 0, architecture_of("llama"), dtype=torch.float64)
    jac = single_token_jacobians(block, torch.randn(3, 32, dtype=torch.float64))
    torch.testing.assert_close(jac, torch.eye(32, dtype=torch.float64).expand(3, 32, 32))


@pytest.mark.parametrize("model_type", TYPES)
def test_closed_form_single_token_jacobian_matches_autodiff(model_type):
    model = tiny_model(model_type)
    for layer in range(model.config.num_hidden_layers):
        block = Block(model, layer, architecture_of(model_type), dtype=torch.float64)
        states = torch.randn(4, 32, dtype=torch.float64) * 3
        torch.testing.assert_close(single_token_jacobians(block, states), autodiff_single_token_jacobians(block, states),
                                   atol=1e-12, rtol=1e-12)
