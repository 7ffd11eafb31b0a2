"""A tiny random decoder of a family no adapter lists, saved as a local model folder.

    PYTHONPATH=. .venv/bin/python benchmarks/make_local_fixture.py /tmp/fixture_mixtral [model_type]

Writes a 3-layer, d = 32 model (random weights, perturbed off their neutral values) with
`save_pretrained`, beside the workflow's byte-level tokenizer: the folder a researcher's own
checkpoint would be. config/example_local_model.yaml runs every stage on it.
"""
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from resdyn.models.sources import _byte_tokenizer

# the shape of config/tiny.yaml's Llama, and each family's own features (windows of 4 tokens)
SHAPE = dict(vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, max_position_embeddings=512, pad_token_id=0, bos_token_id=1,
             eos_token_id=2)
FAMILY = {
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 4},
    "granite": {"residual_multiplier": 0.7, "attention_multiplier": 0.3, "embedding_multiplier": 2.0},
    "exaone4": {"sliding_window": 4, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]},
}


def main(folder: str, model_type: str = "mixtral") -> None:
    cfg = AutoConfig.for_model(model_type, **SHAPE, **FAMILY.get(model_type, {}))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(folder)
    _byte_tokenizer().save_pretrained(folder)


if __name__ == "__main__":
    main(*sys.argv[1:])
