"""Gemma 4's closed form and the generic engine, against transformers' own layers and finite differences."""
import numpy as np
import pytest
import torch

from resdyn.data.activations import prefix_states, residual_hooks
from resdyn.models.architectures import UnsupportedArchitecture, engine_of, pre_mlp_module
from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs
from resdyn.models.generic import DecoderLayer
from resdyn.models.sources import with_decoder_alias
from tiny_models import DECODER_CONFIGS, layer_io, tiny_gemma4_moe, tiny_model
from finite_differences import central_differences

TYPES = sorted(DECODER_CONFIGS)
TOKENS = [5, 17, 42, 8, 99, 23, 61, 7, 150]


def _model(model_type, dtype=torch.float32):
    model = with_decoder_alias(tiny_model(model_type)).to(dtype)
    model.config._experts_implementation = "eager"  # torch's grouped_mm takes no float64
    return model


def _layers(model, dtype):
    """DecoderLayer of every layer, KV-shared ones wired to the layer they reuse."""
    out = {}
    for i in range(model.config.num_hidden_layers):
        j = kv_source_of(model.config, i) if model.config.model_type == "gemma4_text" else None
        out[i] = DecoderLayer(model, i, dtype, kv_source=None if j is None else out[j])
    return out


def _sides(model, tokens, i, states):
    """(per-layer inputs, reused layer's input states) of layer i for these tokens; states: layer -> (T, d)."""
    if model.config.model_type != "gemma4_text":
        return None, None
    j = kv_source_of(model.config, i)
    return per_layer_inputs(model, tokens, i), None if j is None else states[j]


def test_engines_and_unsupported_types():
    assert [engine_of(t) for t in ("llama", "gemma4_text", "gpt_neox", "phi3", "qwen3_moe")] == \
        ["block", "gemma4", "generic", "generic", "generic"]
    with pytest.raises(UnsupportedArchitecture, match=r"closed-form.*gemma4_text.*llama.*generic.*gpt_neox.*qwen3_moe"):
        engine_of("t5")  # no causal LM in transformers (any causal LM goes to the generic engine, checked at preparation)


@pytest.mark.parametrize("model_type", TYPES)
def test_generic_layer_reproduces_the_model_in_context_and_alone(model_type):
    model = _model(model_type)
    layers = _layers(model, torch.float32)
    for tokens in (TOKENS, TOKENS[:1]):
        ins, outs = layer_io(model, tokens)
        for i, layer in layers.items():
            e, kv = _sides(model, tokens, i, ins)
            with torch.no_grad():
                got = layer.in_context(ins[i][-1], ins[i][:-1], e, kv)
            torch.testing.assert_close(got, outs[i][-1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("model_type", TYPES)
def test_generic_jacobians_match_central_differences_in_float64(model_type):
    model = _model(model_type, torch.float64)
    layers = _layers(model, torch.float64)
    ins, _ = layer_io(model, TOKENS)
    for i in (1, model.config.num_hidden_layers - 1):  # gemma4: global, and the last (KV-shared, global) layer
        layer = layers[i]
        e, kv = _sides(model, TOKENS, i, ins)
        fd = central_differences(lambda h: layer.in_context(h, ins[i][:-1], e, kv), ins[i][-1])
        jac = layer.in_context_jacobian(ins[i], e, kv)
        torch.testing.assert_close(jac, fd, atol=1e-8, rtol=1e-7)
        # single token: every position's state alone, as one batch
        fd1 = central_differences(lambda h: layer.single_token(h, e, kv), ins[i])
        torch.testing.assert_close(layer.single_token_jacobians(ins[i], e, kv), fd1, atol=1e-8, rtol=1e-7)
        assert not torch.allclose(jac, fd1[-1], atol=1e-4)  # the protocols differ once there is context


@pytest.mark.parametrize("model_type", TYPES)
def test_generic_protocols_agree_on_a_one_token_prompt(model_type):
    model = _model(model_type, torch.float64)
    layers = _layers(model, torch.float64)
    ins, _ = layer_io(model, TOKENS[:1])
    for i, layer in layers.items():
        e, kv = _sides(model, TOKENS[:1], i, ins)
        torch.testing.assert_close(layer.in_context_jacobian(ins[i], e, kv), layer.single_token_jacobians(ins[i], e, kv)[0])


def test_moe_jacobian_is_the_routed_experts_derivative():
    """Away from routing ties J is the derivative of the layer with its top-k expert set fixed:
    finite differences of the layer itself agree, on MoE layers 0 and 2 (layer 1 is dense)."""
    model = _model("qwen3_moe", torch.float64)
    layer = DecoderLayer(model, 0, torch.float64)
    h = torch.randn(4, 32, dtype=torch.float64)
    fd = central_differences(layer.single_token, h)
    torch.testing.assert_close(layer.single_token_jacobians(h), fd, atol=1e-8, rtol=1e-7)


def _gemma4_blocks(model, dtype):
    blocks = {}
    for i in range(model.config.num_hidden_layers):
        j = kv_source_of(model.config, i)
        blocks[i] = Gemma4Block(model, i, dtype, source=None if j is None else blocks[j])
    return blocks


def test_gemma4_kv_sharing_layout_of_the_fixture():
    cfg = _model("gemma4_text").config
    assert [kv_source_of(cfg, i) for i in range(5)] == [None, None, None, 2, 1]
    assert cfg.layer_types[1] == cfg.layer_types[4] == "full_attention"


def test_gemma4_block_reproduces_the_layer_on_a_single_token():
    model = _model("gemma4_text")
    blocks = _gemma4_blocks(model, torch.float32)
    ins, outs = layer_io(model, TOKENS[:1])
    for i, block in blocks.items():
        e, kv = _sides(model, TOKENS[:1], i, ins)
        torch.testing.assert_close(block(ins[i], e, kv), outs[i], atol=1e-6, rtol=1e-6)


def test_gemma4_closed_form_matches_transformers_autodiff_and_finite_differences():
    model = _model("gemma4_text", torch.float64)
    blocks, layers = _gemma4_blocks(model, torch.float64), _layers(model, torch.float64)
    ins, _ = layer_io(model, TOKENS)  # states of 9 tokens, each taken alone at position 0
    for i, block in blocks.items():
        e, kv = _sides(model, TOKENS, i, ins)
        closed = block.single_token_jacobian(ins[i], e, kv)
        torch.testing.assert_close(closed, layers[i].single_token_jacobians(ins[i], e, kv), atol=1e-12, rtol=1e-12)
        fd = central_differences(lambda h: layers[i].single_token(h, e, kv), ins[i])
        torch.testing.assert_close(closed, fd, atol=1e-8, rtol=1e-7)


def test_gemma4_kv_shared_attention_step_is_the_identity_alone_and_query_only_in_context():
    """Shared layer 4 alone: J does not depend on its attention weights (W_q, W_o only shift h1);
    in context: the reused K/V are constants, so zeroing W_q (uniform attention) changes J."""
    model = _model("gemma4_text", torch.float64)
    ins, _ = layer_io(model, TOKENS)
    e, kv = _sides(model, TOKENS, 4, ins)
    src = Gemma4Block(model, 1, torch.float64)
    block = Gemma4Block(model, 4, torch.float64, source=src)
    pre = torch.func.vmap(torch.func.jacrev(lambda h, k: block.pre_mlp(h[None], k[None])[0]))(ins[4], kv)
    torch.testing.assert_close(pre, torch.eye(32, dtype=torch.float64).expand(len(TOKENS), 32, 32))
    before = _layers(model, torch.float64)[4].in_context_jacobian(ins[4], e, kv)
    with torch.no_grad():
        model.model.layers[4].self_attn.q_proj.weight.zero_()
    after = _layers(model, torch.float64)[4].in_context_jacobian(ins[4], e, kv)
    assert (before - after).abs().max() > 1e-3


def test_odd_snapshots_read_where_each_type_says():
    """GPT-NeoX (parallel attention + MLP): the MLP reads h itself, so the odd snapshot repeats the even one;
    Gemma 4 and Phi-3: the odd snapshot is the residual after the attention step (h + attention, not h)."""
    assert pre_mlp_module("gpt_neox") == "post_attention_layernorm"
    for model_type in ("gpt_neox", "phi3", "gemma4_text"):
        model = _model(model_type)
        snaps = {}
        with torch.no_grad(), residual_hooks(model, lambda s, h: snaps.__setitem__(s, h[0, -1].clone())):
            model.model(input_ids=torch.tensor([TOKENS]), use_cache=False)
        assert len(snaps) == 2 * model.config.num_hidden_layers
        same = all(torch.equal(snaps[2 * i], snaps[2 * i + 1]) for i in range(model.config.num_hidden_layers))
        assert same == (model_type == "gpt_neox")
    model = _model("gemma4_text")
    snaps = {}
    with torch.no_grad(), residual_hooks(model, lambda s, h: snaps.__setitem__(s, h[0].clone())):
        model.model(input_ids=torch.tensor([TOKENS[:1]]), use_cache=False)
    block = Gemma4Block(model, 0)
    torch.testing.assert_close(block.pre_mlp(snaps[0]), snaps[1], atol=1e-6, rtol=1e-6)


def test_prefix_states_work_for_gpt_neox():
    model = _model("gpt_neox")
    ins, _ = layer_io(model, TOKENS)
    torch.testing.assert_close(prefix_states(model, TOKENS, 2), ins[2])


def _prepared(model, folder):
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("model_type", ["gemma4_text", "gpt_neox"])
def test_engine_layer_stats_protocols_agree_on_one_token_samples(model_type, tmp_path):
    """The job's two paths read the side inputs from different places (one layer's tensors, the
    activations' snapshot 2ℓ' and the last token's per-layer input read from the folder, vs the
    loaded model's prefix states and all tokens); on one-token samples both must agree."""
    from resdyn.data.activations import extract_last_token
    from resdyn.dynamics.engines import engine_layer_stats

    model = _model(model_type)
    path = _prepared(model, tmp_path / "m")
    token_ids = [[t] for t in TOKENS[:5]]
    acts = extract_last_token(model, token_ids)
    layers = _layers(model, torch.float32)
    ins = torch.from_numpy(acts)
    for layer in (3, 4) if model_type == "gemma4_text" else (1,):
        one = engine_layer_stats(path, layer, "single_token", acts, token_ids, 2, "test")
        ctx = engine_layer_stats(path, layer, "in_context", acts, token_ids, 2, "test", model=model)
        np.testing.assert_allclose(one["mean_J"], ctx["mean_J"], atol=1e-5)
        np.testing.assert_allclose(one["sigma_max"], ctx["sigma_max"], rtol=1e-5)
        # and the mean is that of the per-sample Jacobians by autodiff through the layer
        jacs = []
        for b, ids in enumerate(token_ids):
            e, kv = _sides(model, ids, layer, {s // 2: ins[b : b + 1, s] for s in range(0, ins.shape[1], 2)})
            jacs.append(layers[layer].single_token_jacobians(ins[b : b + 1, 2 * layer], e, kv)[0])
        np.testing.assert_allclose(one["mean_J"], torch.stack(jacs).mean(0).numpy(), atol=1e-5)


def test_gemma4_per_layer_inputs_read_from_the_folder_match_the_model(tmp_path):
    from resdyn.models.gemma4 import per_layer_inputs_from_folder

    model = _model("gemma4_text")  # perturbed: the projection norm's weight is not 1
    path = _prepared(model, tmp_path / "m")
    ids = [5, 17, 5, 299, 0]
    for layer in range(model.config.num_hidden_layers):
        torch.testing.assert_close(per_layer_inputs_from_folder(path, ids, layer), per_layer_inputs(model, ids, layer),
                                   atol=1e-6, rtol=1e-6)


def _gemma4_moe(dtype=torch.float32):
    """Gemma 4 with MoE blocks: no closed form, so the generic engine takes it."""
    model = tiny_gemma4_moe()
    model.config._experts_implementation = "eager"
    return model.to(dtype)


def test_gemma4_moe_layers_take_the_generic_engine(tmp_path):
    from resdyn.data.activations import extract_last_token
    from resdyn.dynamics.engines import engine_layer_stats

    model = _gemma4_moe(torch.float64)
    with pytest.raises(ValueError, match="enable_moe_block"):
        Gemma4Block(model, 0)
    layers = _layers(model, torch.float64)
    ins, outs = layer_io(model, TOKENS)
    for i in (0, 4):  # a sliding layer, and the KV-shared global one
        e, kv = _sides(model, TOKENS, i, ins)
        with torch.no_grad():
            torch.testing.assert_close(layers[i].in_context(ins[i][-1], ins[i][:-1], e, kv), outs[i][-1],
                                       atol=1e-6, rtol=1e-6)
        fd = central_differences(lambda h: layers[i].single_token(h, e, kv), ins[i])
        torch.testing.assert_close(layers[i].single_token_jacobians(ins[i], e, kv), fd, atol=1e-8, rtol=1e-7)
        fd = central_differences(lambda h: layers[i].in_context(h, ins[i][:-1], e, kv), ins[i][-1])
        torch.testing.assert_close(layers[i].in_context_jacobian(ins[i], e, kv), fd, atol=1e-8, rtol=1e-7)
    # the job's single-token path: one layer's tensors, the generic engine
    model = model.float()
    path = _prepared(model, tmp_path / "m")
    token_ids = [TOKENS[:3], TOKENS[3:7]]
    acts = extract_last_token(model, token_ids)
    got = engine_layer_stats(path, 4, "single_token", acts, token_ids, 2, "test")
    x = torch.from_numpy(acts)
    e = per_layer_inputs(model, [ids[-1] for ids in token_ids], 4)
    want = _layers(model, torch.float32)[4].single_token_jacobians(x[:, 8], e, x[:, 2])
    np.testing.assert_allclose(got["mean_J"], want.mean(0).numpy(), atol=1e-5)


@pytest.mark.parametrize("model_type", ["gemma4_text", "gpt_neox"])
@pytest.mark.parametrize("protocol", ["single_token", "in_context"])
def test_engine_precision_double_and_auto_give_the_float64_jacobians(model_type, protocol, tmp_path, monkeypatch):
    """jacobians.precision for the engines outside `Block`: "double" is the float64 engine, and
    "auto" makes every sample float32 cannot resolve again in float64. With the resolution
    bound tightened so that no float32 σ_min is resolved, auto must equal double sample by
    sample, while single stays float32 (and censored)."""
    from resdyn.data.activations import extract_last_token
    from resdyn.dynamics import jacobians
    from resdyn.dynamics.engines import engine_layer_stats

    model = _model(model_type)
    path = _prepared(model, tmp_path / "m")
    token_ids = [TOKENS[:4], TOKENS[2:9], TOKENS[5:8]]
    acts = extract_last_token(model, token_ids)
    layer = 4 if model_type == "gemma4_text" else 1  # Gemma 4: the KV-shared global layer
    # float64 reference: autodiff through transformers' layer on float64 weights
    model64 = _model(model_type, torch.float64)
    layers64 = _layers(model64, torch.float64)
    ref = []
    for ids in token_ids:
        ins, _ = layer_io(model64, ids)
        e, kv = _sides(model64, ids, layer, ins)
        if protocol == "single_token":
            e = None if e is None else e[-1:]
            kv = None if kv is None else kv[-1:]
            ref.append(layers64[layer].single_token_jacobians(ins[layer][-1:], e, kv)[0])
        else:
            ref.append(layers64[layer].in_context_jacobian(ins[layer], e, kv))
    ref = torch.stack(ref).numpy()

    def stats(precision):
        return engine_layer_stats(path, layer, protocol, acts, token_ids, 2, "test", model=model, precision=precision)

    double = stats("double")
    # the job reads float32 states (activations, or the float32 model's prefix): ~1e-6 from the float64 forward
    np.testing.assert_allclose(double["mean_J_f64"], ref.mean(0), atol=1e-5)
    assert double["jacobian_eps"] == np.finfo(np.float64).eps
    monkeypatch.setattr(jacobians, "RESOLUTION_ACCURACY", 1e-9)  # float32 resolves no σ_min; float64 does
    auto, single = stats("auto"), stats("single")
    assert auto["kappa_unresolved"].all() and not auto["kappa_censored"].any()
    np.testing.assert_allclose(auto["mean_J_f64"], double["mean_J_f64"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(auto["sigma_min"], double["sigma_min"], rtol=1e-12)
    assert single["kappa_censored"].all() and single["jacobian_eps"] == np.finfo(np.float32).eps
    assert 1e-9 < np.abs(single["mean_J_f64"] - double["mean_J_f64"]).max() < 1e-4


def test_engine_in_context_chunk_makes_one_forward_pass_per_sample(tmp_path):
    """A chunk of layers in context: samples outer, one forward pass per sample for every
    layer (and a KV-shared layer's source), the same arrays as one layer at a time."""
    from resdyn.dynamics.engines import engine_in_context_stats

    model = _model("gemma4_text")
    token_ids = [TOKENS[:4], TOKENS[2:9]]
    calls = []
    handle = model.model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        chunk = engine_in_context_stats(model, [1, 3, 4], token_ids, "test")
    finally:
        handle.remove()
    assert len(calls) == len(token_ids)
    for layer, got in zip([1, 3, 4], chunk):
        alone = engine_in_context_stats(model, [layer], token_ids, "test")[0]
        for name in ("mean_J_f64", "sigma_min", "kappa", "col_norm_mean"):
            np.testing.assert_array_equal(got[name], alone[name])
    # and layer 4 (KV-shared with layer 1) is the autodiff Jacobian at its own prefix
    ins, _ = layer_io(model, token_ids[1])
    e, kv = _sides(model, token_ids[1], 4, ins)
    jac = _layers(model, torch.float32)[4].in_context_jacobian(ins[4], e, kv)
    assert abs(chunk[2]["sigma_max"][1] - torch.linalg.matrix_norm(jac.double(), 2).item()) < 1e-5
