"""Tangent flows on tiny random decoders: exact maps, JVP = spine Jacobian products, and the tables of
every architecture against the whole model's forward derivative."""
import numpy as np
import pytest
import torch
from contextlib import nullcontext

from tiny_models import GENERIC_CONFIGS, tiny_model
from whole_model_jvp import exact_float64, exact_softmax, whole_model_jvp

from resdyn.dynamics.jacobians import in_context_jacobian
from resdyn.lyapunov.benettin import benettin
from resdyn.lyapunov.ftle import ftle
from resdyn.models.decoder_map import SamplePass
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.generic import _Float64Throughout

TYPES = ["llama", "gemma3_text", "qwen3", "olmo2"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ids(n=9, seed=1):
    return torch.randint(3, 300, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model_type", TYPES)
def test_stack_reproduces_the_model(model_type):
    model = tiny_model(model_type)
    ids = _ids()
    with torch.no_grad():
        hs = model(ids[None], output_hidden_states=True).hidden_states
    stack = SamplePass(model, ids)
    for i in range(stack.n_layers):
        assert torch.allclose(stack.hidden[i], hs[i], atol=1e-5)
        pos = torch.tensor([1, 5, 8])  # token maps (context fixed) give the same next states
        x = stack.token_states(i, pos).repeat_interleave(2, 0)
        for _, f in stack.token_maps(i, pos, "sublayer"):
            x = f(x)
        assert torch.allclose(x[::2], stack.token_states(i + 1, pos), atol=1e-5)
    assert torch.allclose(stack.core.norm(stack.hidden[-1]), hs[-1], atol=1e-5)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_jvp_tangents_match_spine_jacobian_products(model_type):
    model = tiny_model(model_type)
    ids = _ids()
    stack = SamplePass(model, ids)
    pos = torch.tensor([stack.n - 1])
    arch = architecture_of(model.config.model_type)
    jac = [in_context_jacobian(Block(model, i, arch), stack.hidden[i][0]) for i in range(stack.n_layers)]
    cadence, seeds = 2, [0, 1, 2]
    res = ftle([stack.token_maps(i, pos) for i in range(stack.n_layers)], stack.token_states(0, pos), seeds, cadence)
    # the same protocol with the matrices: v <- J v, log-growth per layer, renormalise every `cadence`
    from resdyn.lyapunov.qr_flow import random_unit_vector

    for j, s in enumerate(seeds):
        v = random_unit_vector(stack.d, s, torch.float64)
        prof = []
        for i, J in enumerate(jac):
            w = J.double() @ v
            prof.append(float(torch.log(w.norm() / v.norm())))
            v = w / w.norm() if (i + 1) % cadence == 0 or i == len(jac) - 1 else w
        assert np.allclose(res.profile[0, j], prof, atol=2e-5)
        t = res.final_tangent[0, :, j].double()
        assert torch.allclose(t / t.norm(), v / v.norm(), atol=1e-5)
    # and the top exponent of the Jacobian product from a Benettin flow with k = d
    prod = torch.eye(stack.d, dtype=torch.float64)
    for J in jac:
        prod = J.double() @ prod
    sv = torch.linalg.svdvals(prod)
    b = benettin(lambda t: stack.token_maps(t, pos), stack.token_states(0, pos), stack.d, stack.n_layers, seed=0)
    # sum of all d exponents = log|det| / L exactly
    assert b.exponents.sum() == pytest.approx(float(torch.log(sv).sum()) / stack.n_layers, abs=1e-4)


def test_last_token_flow_is_the_full_model_jvp():
    model = tiny_model("gemma3_text")
    ids = _ids()
    stack = SamplePass(model, ids)
    pos = torch.tensor([stack.n - 1])
    v = torch.randn(stack.d, generator=torch.Generator().manual_seed(0))
    res = ftle([stack.token_maps(i, pos) for i in range(stack.n_layers)], stack.token_states(0, pos), [0],
               cadence=100, tangents=v.reshape(1, -1, 1))
    emb = stack.hidden[0]
    tangent = torch.zeros_like(emb)
    tangent[0, -1] = v

    # the whole model forward with a tangent on the last token's embedding (HF's own masks and rotary)
    def out(e):
        return model.model(inputs_embeds=e, output_hidden_states=True).hidden_states[stack.n_layers - 1]

    _, jv = torch.func.jvp(out, (emb,), (tangent,))
    res_partial = ftle([stack.token_maps(i, pos) for i in range(stack.n_layers - 1)], stack.token_states(0, pos),
                       [0], cadence=100, tangents=v.reshape(1, -1, 1))
    t, target = res_partial.final_tangent[0, :, 0], jv[0, -1].detach()
    assert torch.allclose(t, target / target.norm(), atol=1e-5)  # renormalised after the last layer
    growth = res_partial.profile[0, 0].sum()
    assert growth == pytest.approx(float(torch.log(target.norm() / v.norm())), abs=1e-5)
    assert np.isfinite(res.lambda1).all()


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_sublayer_attribution_sums_to_the_exponent(model_type):
    model = tiny_model(model_type)
    stack = SamplePass(model, _ids())
    pos = torch.tensor([stack.n - 1])
    z0 = stack.token_states(0, pos)
    for maps_of, steps in (
        (lambda g: (lambda t: stack.token_maps(t, pos, g)), stack.n_layers),  # through depth
        (lambda g: stack.token_stack_maps(pos, g, final_norm=True), 6),  # through loops
    ):
        per_map = benettin(maps_of("sublayer"), z0, 5, steps, seed=0, qr_every="map")
        per_step = benettin(maps_of("layer"), z0, 5, steps, seed=0)
        total = sum(per_map.contributions.values())
        assert np.allclose(total, per_map.exponents, rtol=0, atol=1e-12)
        assert np.allclose(per_map.exponents, per_step.exponents, rtol=0, atol=2e-5)
        kinds = {name.split(".")[-1] for name in per_map.contributions}
        assert {"attn", "mlp"} <= kinds


def test_sequence_loop_is_finite_and_reports_state_change():
    model = tiny_model("llama")
    stack = SamplePass(model, _ids(6))
    z0 = stack.hidden[0].clone()
    res = benettin(stack.sequence_stack_maps(), z0, 4, 5, seed=0)
    assert np.isfinite(res.exponents).all() and res.state_change.shape == (5, 1)
    # Known answer (nested frames): Gram-Schmidt never lets later probes act on earlier ones, so
    # the first two exponents of a 4-probe run equal those of a run with its first two probes.
    from resdyn.lyapunov.qr_flow import random_probes

    probes = random_probes(z0[0].numel(), 4, 0, 1, z0.dtype, z0.device)
    four = benettin(stack.sequence_stack_maps(), z0, 4, 5, seed=0, probes=probes)
    two = benettin(stack.sequence_stack_maps(), z0, 2, 5, seed=0, probes=probes[..., :2])
    np.testing.assert_allclose(four.exponents[0, :2], two.exponents[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(four.exponents, res.exponents, rtol=1e-6, atol=1e-8)  # the default frame


def test_attribution_table_checks_against_a_once_per_step_qr(monkeypatch):
    from resdyn.lyapunov import model_runs

    model = tiny_model("llama")
    table = model_runs.attribution_table(model, [_ids(6)], [0], "r", k=3, loop_steps=3, seed=0)
    sums = table.groupby(["mode", "index"]).agg(total=("contribution", "sum"), exponent=("exponent", "first"))
    np.testing.assert_allclose(sums["total"], sums["exponent"], atol=1e-6)
    real = model_runs.benettin

    def once_per_step_off(*args, **kw):  # a once-per-step QR that disagrees: the check must notice
        res = real(*args, **kw)
        if kw.get("qr_every", "step") == "step":
            res.exponents[...] += 1e-2
        return res

    monkeypatch.setattr(model_runs, "benettin", once_per_step_off)
    with pytest.raises(AssertionError, match="one QR per step"):
        model_runs.attribution_table(model, [_ids(6)], [0], "r", k=3, loop_steps=3, seed=0)


def test_load_for_inference_refuses_an_unsupported_type_before_reading_weights(tmp_path):
    """A prepared folder whose type no stage serves is refused by name from its config alone
    (the job fails before loading an 8B model)."""
    import json

    from resdyn.models.sources import load_for_inference

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))  # no causal LM; no weights at all
    with pytest.raises(ValueError, match="'vit'"):
        load_for_inference(str(tmp_path))


# types with no Block adapter: Gemma 4's own closed form and the generic autodiff engine, and the
# families no adapter lists (split by decoder_map.SPLITS; Cohere's parallel block is one step)
NEW_FAMILIES = list(GENERIC_CONFIGS)
NON_BLOCK_TYPES = ["gemma4_text", "gpt_neox", "phi3", "qwen3_moe", *NEW_FAMILIES]


def _exact(model_type):
    """float64 throughout for the unlisted families: their own norms (Cohere's LayerNorm) ask for
    float32 inside, which would hold both sides to float32 accuracy."""
    return _Float64Throughout() if model_type in NEW_FAMILIES else nullcontext()


@pytest.mark.parametrize("model_type", NON_BLOCK_TYPES)
def test_tables_equal_the_whole_model_jvp(model_type):
    """FTLE, depth spectrum and depth attribution of the last token equal what the whole
    transformers model's forward derivative gives (float64, eager attention; Gemma 4 with the
    reused keys/values held fixed): lambda_1 = log |J v| / L for each tangent seed, and the
    top-k exponents log |diag R| / L of J P = Q R for the Benettin probes P."""
    from resdyn.lyapunov import model_runs
    from resdyn.lyapunov.qr_flow import random_probes, random_unit_vector

    model = exact_float64(tiny_model(model_type))
    ids = _ids()
    n_layers, d, k = model.config.num_hidden_layers, model.config.hidden_size, 4
    with exact_softmax(), _exact(model_type):
        ftle_table, _ = model_runs.ftle_tables(model, [ids], [0], "r", seeds=[0, 1], cadence=2)
        spectrum, _ = model_runs.spectrum_tables(model, [ids], [0], "r", k=k, loop_steps=2, seed=0)
        attribution = model_runs.attribution_table(model, [ids], [0], "r", k=k, loop_steps=2, seed=0)
        jac = whole_model_jvp(model, ids, 0, len(ids) - 1, torch.eye(d, dtype=torch.float64), detach_shared_kv=True)
    for seed in (0, 1):
        v = random_unit_vector(d, seed)
        ref = float(torch.log((jac @ v).norm())) / n_layers
        np.testing.assert_allclose(ftle_table.loc[ftle_table["seed"] == seed, "lambda1"], ref, rtol=1e-8, atol=0)
    r = torch.linalg.qr(jac @ random_probes(d, k, 0)[0]).R
    ref = (torch.log(r.diagonal().abs()) / n_layers).numpy()
    depth = spectrum[spectrum["mode"] == "depth"].sort_values("index")
    np.testing.assert_allclose(depth["exponent"], ref, rtol=1e-8, atol=0)
    per_map = attribution[attribution["mode"] == "depth"]
    exponents = per_map.groupby("index")["exponent"].first()
    np.testing.assert_allclose(exponents, ref, rtol=1e-8, atol=0)
    sums = attribution.groupby(["mode", "index"]).agg(total=("contribution", "sum"), exponent=("exponent", "first"))
    np.testing.assert_allclose(sums["total"], sums["exponent"], atol=1e-6)
    kinds = set(per_map["kind"])
    if model_type == "gemma4_text":  # s I contributes log s to every exponent, once per layer
        assert kinds == {"attn", "mlp", "ple", "scalar"}
        scalar = per_map[per_map["kind"] == "scalar"]
        s = float(model.model.layers[0].layer_scalar)  # 0.8 (tiny_models), as stored in float32
        np.testing.assert_allclose(scalar["contribution"], np.log(s) / n_layers, rtol=1e-12)
    elif model_type in ("gpt_neox", "cohere"):  # parallel attention + MLP: one residual step
        assert kinds == {"attn+mlp"}
    else:
        assert kinds == {"attn", "mlp"}


@pytest.mark.parametrize("model_type", NON_BLOCK_TYPES)
def test_map_jacobians_are_the_jacobian_stages(model_type):
    """Each layer's in-context token map has the Jacobian the Jacobian stage computes for the same
    layer and states (resdyn.models.generic, autodiff through a copy of the layer), Gemma 4's
    per-layer inputs and reused keys/values included: the two models of the decoder agree."""
    from resdyn.models.gemma4 import kv_source_of, per_layer_inputs
    from resdyn.models.generic import DecoderLayer

    model = exact_float64(tiny_model(model_type))
    ids = _ids()
    with exact_softmax(), _exact(model_type):
        stack = SamplePass(model, ids)
        last = torch.tensor([stack.n - 1])
        ours = []
        for layer in range(stack.n_layers):
            (_, f), = stack.token_maps(layer, last)
            ours.append(torch.func.jacfwd(lambda x: f(x[None, None])[0, 0])(stack.hidden[layer][0, -1]))
    # the engine keeps float64 softmaxes itself (and restores torch's on leaving: so after the maps)
    for layer in range(stack.n_layers):
        source = kv_source_of(model.config, layer) if model_type == "gemma4_text" else None
        engine = DecoderLayer(model, layer, torch.float64,
                              kv_source=None if source is None else DecoderLayer(model, source, torch.float64))
        e = per_layer_inputs(model, ids, layer) if model_type == "gemma4_text" else None
        kv = None if source is None else stack.hidden[source][0]
        theirs = engine.in_context_jacobian(stack.hidden[layer][0], e, kv)
        assert float((ours[layer] - theirs).norm() / theirs.norm()) < 1e-10, layer
