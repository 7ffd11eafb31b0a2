"""Transport E[J_{L−1} ⋯ J_ℓ]: the running sums against explicit products, a hand-worked table,
and one sample's in-context product against the derivative of the whole transformers model."""
import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM
from transformers.models.llama import modeling_llama

from resdyn.dynamics.protocols import protocol_layer_arrays
from resdyn.dynamics.transport import COLUMNS, TransportSums, transport_table
from tiny_models import tiny_model

SEQ = [5, 17, 42, 8, 99, 3, 61]


def test_sums_are_the_mean_of_each_samples_suffix_products():
    rng = np.random.default_rng(0)
    samples = [[rng.standard_normal((5, 5)) for _ in range(4)] for _ in range(3)]  # 3 samples, L = 4
    sums = TransportSums()
    for jacs in samples:
        sums.add([torch.from_numpy(j)[None] for j in jacs])  # (1, d, d) as the protocol loop makes them
    got = sums.mean().numpy()
    for layer in range(4):
        want = np.mean([np.linalg.multi_dot([*reversed(jacs[layer:])]) if layer < 3 else jacs[3]
                        for jacs in samples], axis=0)
        np.testing.assert_allclose(got[layer], want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="3 layers after samples with 4"):
        sums.add([torch.eye(5)] * 3)


def test_table_on_a_hand_worked_pair_of_diagonal_samples():
    # sample 1: J = diag(2, 1) at both layers, sample 2: diag(0, 1).
    # T_0 = (diag(4, 1) + diag(0, 1)) / 2 = diag(2, 1); P_0 = E[J]² = I.  T_1 = P_1 = I.
    sums = TransportSums()
    for diag in ((2.0, 1.0), (0.0, 1.0)):
        sums.add([torch.diag(torch.tensor(diag, dtype=torch.float64))] * 2)
    table = transport_table("r", "in_context", sums, [np.eye(2), np.eye(2)])
    assert list(table.columns) == COLUMNS
    p = np.array([4.0, 1.0]) / 5  # normalised squared singular values of diag(2, 1)
    np.testing.assert_allclose(table["erank_transport"], [np.exp(-(p * np.log(p)).sum()), 2.0], rtol=1e-12)
    np.testing.assert_allclose(table["log_norm_transport"], [np.log10(np.sqrt(5)), np.log10(np.sqrt(2))], rtol=1e-12)
    np.testing.assert_allclose(table["erank_product_of_means"], [2.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(table["log_norm_product_of_means"], np.log10(np.sqrt(2)), rtol=1e-12)
    assert (table["n_samples"] == 2).all() and (table["d"] == 2).all()


def _rms_norm_float64(self, x):  # transformers' RMSNorm computes in float32 whatever the weights' dtype
    return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))


def _eager_attention_float64(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention with the softmax in the inputs' dtype (it takes float32)."""
    key = modeling_llama.repeat_kv(key, module.num_key_value_groups)
    value = modeling_llama.repeat_kv(value, module.num_key_value_groups)
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


@pytest.fixture
def llama64(tmp_path, monkeypatch):
    """The tiny Llama, saved with save_pretrained and loaded in float64 with eager attention,
    every operation in float64 (transformers' norm and softmax patched to keep the dtype)."""
    monkeypatch.setattr(modeling_llama.LlamaRMSNorm, "forward", _rms_norm_float64)
    monkeypatch.setattr(modeling_llama, "eager_attention_forward", _eager_attention_float64)
    tiny_model("llama").save_pretrained(tmp_path / "llama")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "llama", dtype=torch.float64, attn_implementation="eager")
    return model.eval()


def model_derivative(model, ids, layer: int) -> torch.Tensor:
    """∂h_L/∂h_ℓ at the last position, by reverse-mode autodiff (VJPs) through the whole model:
    h_ℓ the input of block ℓ, h_L the last block's output (before the final norm)."""
    blocks = model.model.layers
    out = {}

    def perturb(delta):
        def pre_hook(module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            shift = torch.zeros_like(hidden)
            shift[0, -1] = delta
            if args:
                return (hidden + shift, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": hidden + shift}

        def keep(module, args, output):
            out["h"] = (output[0] if isinstance(output, tuple) else output)[0, -1]

        handles = [blocks[layer].register_forward_pre_hook(pre_hook, with_kwargs=True),
                   blocks[-1].register_forward_hook(keep)]
        try:
            model.model(input_ids=torch.tensor([ids]), use_cache=False)
        finally:
            for h in handles:
                h.remove()
        return out["h"]

    d = model.config.hidden_size
    return torch.autograd.functional.jacobian(perturb, torch.zeros(d, dtype=torch.float64))


def test_in_context_product_is_the_whole_models_derivative(llama64):
    sums = {"in_context": TransportSums(), "single_token": TransportSums()}
    protocol_layer_arrays(llama64, [SEQ], "tiny", precision="double", transport=sums)
    in_context, single = sums["in_context"].mean(), sums["single_token"].mean()
    for layer in range(llama64.config.num_hidden_layers):
        want = model_derivative(llama64, SEQ, layer)
        np.testing.assert_allclose(in_context[layer].numpy(), want.numpy(), rtol=1e-8, atol=1e-10)
        # the single-token analogue is another matrix: the context is read at every layer
        assert np.abs(single[layer].numpy() - want.numpy()).max() > 1e-3


def test_one_token_both_protocols_are_the_models_derivative(llama64):
    sums = {"in_context": TransportSums(), "single_token": TransportSums()}
    protocol_layer_arrays(llama64, [SEQ[:1]], "tiny", precision="double", transport=sums)
    for layer in range(llama64.config.num_hidden_layers):
        want = model_derivative(llama64, SEQ[:1], layer).numpy()
        for protocol in sums:
            np.testing.assert_allclose(sums[protocol].mean()[layer].numpy(), want, rtol=1e-8, atol=1e-10)
