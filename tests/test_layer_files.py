"""Single-token blocks read straight from a prepared folder against those built from transformers."""
import json

import pytest
import torch

from resdyn.dynamics.jacobians import single_token_jacobians
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.layer_files import LayerFileError, single_token_block
from tiny_models import TINY_CONFIGS, tiny_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every tiny architecture saved as a prepared folder (perturbed norms and biases included)."""
    root = tmp_path_factory.mktemp("prepared")
    models = {}
    for model_type in TINY_CONFIGS:
        models[model_type] = tiny_model(model_type, seed=3)
        models[model_type].save_pretrained(root / model_type)
    return root, models


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_file_block_equals_the_transformers_block(saved, model_type):
    root, models = saved
    arch = architecture_of(model_type)
    states = torch.randn(4, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    for layer in range(3):
        ours = single_token_block(root / model_type, layer, dtype=torch.float64)
        ref = Block(models[model_type], layer, arch, torch.float64)
        torch.testing.assert_close(ours(states), ref(states), atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(single_token_jacobians(ours, states), single_token_jacobians(ref, states),
                                   atol=1e-12, rtol=1e-12)


def test_file_block_refuses_a_context(saved):
    root, _ = saved
    block = single_token_block(root / "llama", 0)
    with pytest.raises(ValueError, match="single-token weights only"):
        block.context(torch.randn(3, 32))


def test_bad_folders_layers_and_activations_are_named(saved, tmp_path):
    root, _ = saved
    with pytest.raises(LayerFileError, match="missing config.json"):
        single_token_block(tmp_path / "nothing", 0)
    with pytest.raises(LayerFileError, match="layer 7 out of range.*3 layers"):
        single_token_block(root / "llama", 7)
    odd = tmp_path / "odd"
    odd.mkdir()
    for f in (root / "llama").iterdir():
        (odd / f.name).symlink_to(f)
    cfg = json.loads((root / "llama" / "config.json").read_text())
    (odd / "config.json").unlink()
    (odd / "config.json").write_text(json.dumps({**cfg, "hidden_act": "mish"}))
    with pytest.raises(LayerFileError, match="activation 'mish'"):
        single_token_block(odd, 0)
