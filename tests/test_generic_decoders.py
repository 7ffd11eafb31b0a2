"""The generic engine on families no adapter lists (pre-MLP hook by rule), and the self-check that admits them.

Each family's tiny random model: the engine's layer reproduces transformers' own layer in
context and alone; its Jacobians equal central finite differences in float64; the two
protocols agree on a one-token prompt; the self-check passes. The self-check refuses, naming
the type, a layer that ignores its attention mask, a wrong pre-MLP hook, a misread sliding
window and a float64 layer that is only float32-accurate.
"""
import pytest
import torch

from resdyn.data.activations import residual_hooks
from resdyn.models import generic
from resdyn.models.architectures import GENERIC_PRE_MLP, UnsupportedArchitecture, engine_of, pre_mlp_module
from resdyn.models.generic import DecoderLayer
from resdyn.models.self_check import SelfCheckFailed, check_decoder
from resdyn.models.sources import with_decoder_alias
from tiny_models import GENERIC_CONFIGS, layer_io, tiny_model

TYPES = sorted(GENERIC_CONFIGS)
TOKENS = [5, 17, 42, 8, 99, 23, 61, 7, 150]


def _model(model_type, dtype=torch.float32):
    model = with_decoder_alias(tiny_model(model_type)).to(dtype)
    model.config._experts_implementation = "eager"  # torch's grouped_mm takes no float64
    return model


def test_any_causal_lm_takes_the_generic_engine_and_others_are_refused():
    assert {engine_of(t) for t in TYPES} == {"generic"}
    assert not set(TYPES) & set(GENERIC_PRE_MLP)  # their hooks come from the rule, not a table
    with pytest.raises(UnsupportedArchitecture, match="'t5'.*no causal language model"):
        engine_of("t5")


def test_fixture_windows_and_hooks_are_the_ones_the_tests_mean():
    """The sliding-window families slide on 9 tokens, and the hooks cover all four rules."""
    windows = {t: [DecoderLayer(_model(t), i).window for i in range(3)] for t in ("starcoder2", "mixtral", "exaone4")}
    assert windows == {"starcoder2": [4, 4, 4], "mixtral": [4, 4, 4], "exaone4": [4, None, 4]}
    hooks = {t: pre_mlp_module(t, _model(t).model.layers[0]) for t in TYPES}
    assert hooks["cohere"] == "input_layernorm" and hooks["exaone4"] == "mlp"
    assert {hooks[t] for t in TYPES} == {"input_layernorm", "mlp", "post_attention_layernorm"}


@pytest.mark.parametrize("model_type", TYPES)
def test_generic_layer_reproduces_the_model_in_context_and_alone(model_type):
    model = _model(model_type)
    for tokens in (TOKENS, TOKENS[:1]):
        ins, outs = layer_io(model, tokens)
        for i in range(model.config.num_hidden_layers):
            layer = DecoderLayer(model, i)
            with torch.no_grad():
                every = layer.forward(ins[i][None])[0]  # all positions: the mask and window as the model's
                last = layer.in_context(ins[i][-1], ins[i][:-1])  # the prefix's keys/values recorded
                alone = layer.single_token(ins[i][:1])
            torch.testing.assert_close(every, outs[i], atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(last, outs[i][-1], atol=1e-6, rtol=1e-6)
            if len(tokens) == 1:
                torch.testing.assert_close(alone, outs[i], atol=1e-6, rtol=1e-6)


def _differences(f, x, eps=1e-6):
    """Central differences (B, m, d) of f: (N, d) -> (N, m) at the rows of x (B, d), whose rows do
    not interact, all 2·d·B perturbed inputs in one call (as tests/finite_differences.py, batched)."""
    n, d = x.shape
    e = eps * torch.eye(d, dtype=x.dtype)
    out = f(torch.cat([x[None] + e[:, None], x[None] - e[:, None]]).reshape(2 * d * n, d)).reshape(2, d, n, -1)
    return ((out[0] - out[1]) / (2 * eps)).permute(1, 2, 0)


@pytest.mark.parametrize("model_type", TYPES)
def test_generic_jacobians_match_central_differences_in_float64(model_type):
    model = _model(model_type, torch.float64)
    ins, _ = layer_io(model, TOKENS)
    for i in (1, 2) if model_type == "exaone4" else (1,):  # exaone4: the full layer without RoPE, and a sliding one
        layer = DecoderLayer(model, i, torch.float64)
        # differences of the whole sequence's last position, not of the engine's recorded-context path
        prefix = ins[i][:-1]
        fd = _differences(lambda h: layer.forward(torch.cat([prefix.expand(len(h), -1, -1), h[:, None]], 1))[:, -1],
                          ins[i][-1:])[0]
        jac = layer.in_context_jacobian(ins[i])
        torch.testing.assert_close(jac, fd, atol=1e-8, rtol=1e-7)
        fd1 = _differences(layer.single_token, ins[i])
        torch.testing.assert_close(layer.single_token_jacobians(ins[i]), fd1, atol=1e-8, rtol=1e-7)
        assert not torch.allclose(jac, fd1[-1], atol=1e-4)  # the protocols differ once there is context


@pytest.mark.parametrize("model_type", TYPES)
def test_generic_protocols_agree_on_a_one_token_prompt(model_type):
    model = _model(model_type, torch.float64)
    ins, _ = layer_io(model, TOKENS[:1])
    for i in range(model.config.num_hidden_layers):
        layer = DecoderLayer(model, i, torch.float64)
        torch.testing.assert_close(layer.in_context_jacobian(ins[i]), layer.single_token_jacobians(ins[i])[0],
                                   atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("model_type", [*TYPES, "gpt_neox", "phi3", "qwen3_moe"])
def test_self_check_passes(model_type):
    report = check_decoder(tiny_model(model_type))
    assert report["layers"] == ([0, 1] if model_type == "exaone4" else [0])  # exaone4: a sliding and a full layer
    assert max(report[k] for k in ("in_context", "alone", "causal", "pre_mlp")) < 1e-5
    assert max(report["jacobian_single_token"], report["jacobian_in_context"]) < 1e-8


@pytest.mark.parametrize("model_type", ["cohere", "mixtral"])
def test_self_check_of_wide_layers_compares_reverse_mode_products(model_type, monkeypatch):
    """The wide-layer form of check 5 (uᵀ J v by reverse mode) passes, and fails without float64 throughout."""
    from contextlib import nullcontext

    from resdyn.models import self_check

    monkeypatch.setattr(self_check, "FULL_JACOBIAN_MAX_D", 8)
    report = check_decoder(tiny_model(model_type))
    assert max(report["jacobian_single_token"], report["jacobian_in_context"]) < 1e-8
    if model_type == "cohere":
        monkeypatch.setattr(generic, "_Float64Throughout", nullcontext)
        with pytest.raises(SelfCheckFailed, match="'cohere'.*central finite differences"):
            check_decoder(tiny_model(model_type))


def test_closed_form_types_are_not_checked_here():
    assert check_decoder(tiny_model("llama")) == {}


def test_odd_snapshots_follow_the_rule():
    """Cohere's parallel block: the odd snapshot repeats h; EXAONE 4's post-norm block: the MLP's
    input, h + norm(attention); pre-norm families: the input of post_attention_layernorm."""
    for model_type in TYPES:
        model = _model(model_type)
        snaps = {}
        with torch.no_grad(), residual_hooks(model, lambda s, h: snaps.__setitem__(s, h[0, -1].clone())):
            model.model(input_ids=torch.tensor([TOKENS]), use_cache=False)
        assert len(snaps) == 2 * model.config.num_hidden_layers
        same = [torch.equal(snaps[2 * i], snaps[2 * i + 1]) for i in range(model.config.num_hidden_layers)]
        assert all(same) if model_type == "cohere" else not any(same), model_type


def _ignore_mask(monkeypatch, module):
    eager = module.eager_attention_forward

    def unmasked(mod, query, key, value, attention_mask, *args, **kwargs):
        return eager(mod, query, key, value, None, *args, **kwargs)

    monkeypatch.setattr(module, "eager_attention_forward", unmasked)


def test_self_check_refuses_a_layer_that_ignores_its_attention_mask(monkeypatch):
    from transformers.models.granite import modeling_granite

    model = tiny_model("granite")
    _ignore_mask(monkeypatch, modeling_granite)
    with pytest.raises(SelfCheckFailed, match="'granite'.*layer 0: the model is not causal"):
        check_decoder(model)


def test_self_check_refuses_a_wrong_pre_mlp_hook(monkeypatch):
    """The input of input_layernorm is h, not the residual state after attention, in a sequential block."""
    monkeypatch.setattr("resdyn.models.architectures.pre_mlp_rule", lambda layer: "input_layernorm")
    with pytest.raises(SelfCheckFailed, match="'glm4'.*pre-MLP snapshot .*input_layernorm.* is not the residual"):
        check_decoder(tiny_model("glm4"))


def test_self_check_refuses_a_misread_sliding_window(monkeypatch):
    monkeypatch.setattr(generic, "_window", lambda *a: None)
    with pytest.raises(SelfCheckFailed, match="'starcoder2'.*in context, the layer map does not reproduce"):
        check_decoder(tiny_model("starcoder2"))


def test_self_check_refuses_a_float64_layer_that_computes_in_float32(monkeypatch):
    """Cohere's LayerNorm upcasts to float32: without float64 throughout, differences are noise."""
    from contextlib import nullcontext

    monkeypatch.setattr(generic, "_Float64Throughout", nullcontext)
    with pytest.raises(SelfCheckFailed, match="'cohere'.*central finite differences"):
        check_decoder(tiny_model("cohere"))


def test_a_type_without_a_rule_is_refused_with_its_submodules(monkeypatch):
    model = tiny_model("granite")
    layer = model.model.layers[0]
    monkeypatch.setitem(layer._modules, "ln_2", layer._modules.pop("post_attention_layernorm"))
    with pytest.raises(UnsupportedArchitecture, match="'granite'.*no rule finds the pre-MLP .*ln_2"):
        pre_mlp_module("granite", layer)


def test_materialise_refuses_a_broken_layer_before_writing(tmp_path, monkeypatch):
    from transformers.models.granite import modeling_granite

    from resdyn.models.sources import materialise
    from tiny_models import tiny_config

    _ignore_mask(monkeypatch, modeling_granite)
    with pytest.raises(SelfCheckFailed, match="'granite'"):
        materialise("g", {"source": "init", "seed": 0, "config": tiny_config("granite")}, tmp_path / "g")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model_type", ["granite", "mixtral", "olmoe"])
def test_single_token_job_reads_the_layer_from_a_saved_folder(model_type, tmp_path):
    """The job loads one layer's tensors from the folder; MoE checkpoints are saved with their experts
    one by one (transformers fuses them at load), so those are read by transformers' own loader."""
    import numpy as np

    from resdyn.data.activations import extract_last_token
    from resdyn.dynamics.engines import engine_layer_stats

    model = _model(model_type)
    model.save_pretrained(tmp_path / "m")
    token_ids = [TOKENS[:3], TOKENS[3:7], TOKENS[7:]]
    acts = extract_last_token(model, token_ids)
    got = engine_layer_stats(tmp_path / "m", 1, "single_token", acts, token_ids, 2, "test")
    want = DecoderLayer(model, 1).single_token_jacobians(torch.from_numpy(acts[:, 2]))
    np.testing.assert_allclose(got["mean_J"], want.mean(0).numpy(), atol=1e-5)


def test_float64_softmax_survives_a_nested_use():
    x = torch.randn(3, 5, dtype=torch.float64)
    plain = torch.nn.functional.softmax
    with generic._softmax_in_input_dtype():
        with generic._softmax_in_input_dtype():
            pass
        # transformers' attention asks for float32; the outer use still keeps it float64
        assert torch.nn.functional.softmax(x, dim=-1, dtype=torch.float32).dtype == torch.float64
    assert torch.nn.functional.softmax is plain
