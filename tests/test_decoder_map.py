"""The decoder maps on every architecture: the layer maps composed equal the whole transformers
model's forward derivative (float64, eager attention), Gemma 4's KV-shared convention, and the
check that refuses a model the maps do not reproduce."""
import pytest
import torch
from tiny_models import GENERIC_CONFIGS, tiny_model
from whole_model_jvp import exact_float64, exact_softmax, whole_model_jvp

from resdyn.models import decoder_map
from resdyn.models.decoder_map import DecoderMapError, SamplePass

# closed-form types (two norm placements), the ones with no Block adapter, and families no adapter
# lists (Granite's embedding multiplier, EXAONE 4's window stored on its full layers, windows, MoE)
TYPES = ["llama", "gemma3_text", "olmo3", "gemma4_text", "gpt_neox", "phi3", "qwen3_moe", *GENERIC_CONFIGS]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ids(n=9, seed=1):
    return torch.randint(3, 300, (n,), generator=torch.Generator().manual_seed(seed))


def _map_jvp(stack, layer, position, tangents):
    """The token maps of layers layer .. L-1 at `position`, composed, applied to tangents (d, S)."""
    pos = torch.tensor([position])
    maps = [f for i in range(layer, stack.n_layers) for _, f in stack.token_maps(i, pos, "sublayer")]

    def through(x):
        for f in maps:
            x = f(x)
        return x

    x0 = stack.token_states(layer, pos)
    return torch.stack([torch.func.jvp(through, (x0,), (v.reshape(1, 1, -1),))[1][0, 0] for v in tangents.T], 1)


def _rel(a, b):
    return float((a - b).detach().norm() / b.norm())


@pytest.mark.parametrize("model_type", TYPES)
def test_token_maps_are_the_whole_model_derivative(model_type):
    """Any layer, any position (sliding windows of 4 on 9 tokens): the composed in-context maps'
    JVP equals the whole model's (Gemma 4 with the shared keys/values held, see below)."""
    model = exact_float64(tiny_model(model_type))
    ids = _ids()
    tangents = torch.randn(32, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with exact_softmax():
        stack = SamplePass(model, ids)
        for layer, position in ((0, 8), (1, 5), (0, 2)):
            ours = _map_jvp(stack, layer, position, tangents)
            ref = whole_model_jvp(model, ids, layer, position, tangents, detach_shared_kv=True)
            assert _rel(ours, ref) < 1e-10, (layer, position)


def test_gemma4_shared_layers_hold_the_reused_keys_values_fixed():
    """The convention: a KV-shared layer reads layer l''s keys/values as constants. The maps equal
    the whole model with those detached, and differ from the whole model without: the skip
    h_l' -> K/V(l') -> layer l is what the convention leaves out (nonzero in this fixture)."""
    model = exact_float64(tiny_model("gemma4_text"))  # layers 3, 4 reuse the keys/values of 2, 1
    ids = _ids()
    tangents = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with exact_softmax():
        stack = SamplePass(model, ids)
        ours = _map_jvp(stack, 1, 8, tangents)
        held = whole_model_jvp(model, ids, 1, 8, tangents, detach_shared_kv=True)
        through_skip = whole_model_jvp(model, ids, 1, 8, tangents)
        assert _rel(ours, held) < 1e-10
        assert _rel(ours, through_skip) > 1e-3
        # from layer 3 on, no storing layer lies ahead: both conventions agree
        late = _map_jvp(stack, 3, 8, tangents)
        assert _rel(late, whole_model_jvp(model, ids, 3, 8, tangents)) < 1e-10


@pytest.mark.parametrize("model_type", TYPES)
def test_pass_reproduces_the_model_and_sublayers_compose_to_layers(model_type):
    model = tiny_model(model_type)
    ids = _ids()
    with torch.no_grad():
        hs = model(ids[None], output_hidden_states=True).hidden_states
    stack = SamplePass(model, ids, keep_attention=True)
    pos = torch.tensor([1, 5, 8])
    for i in range(stack.n_layers):
        assert torch.allclose(stack.hidden[i], hs[i], atol=1e-5)
        x = stack.token_states(i, pos).repeat_interleave(2, 0)
        for _, f in stack.token_maps(i, pos, "sublayer"):
            x = f(x)
        assert torch.allclose(x[::2], stack.token_states(i + 1, pos), atol=1e-5)
        (_, whole), = stack.sequence_maps(i)
        assert torch.allclose(whole(stack.hidden[i]), stack.hidden[i + 1], atol=1e-5)
    assert torch.allclose(stack.final_norm_map()[1](stack.hidden[-1]), hs[-1], atol=1e-5)
    assert len(stack.attn_weights) == stack.n_layers
    assert torch.allclose(stack.attn_weights[0].sum(-1), torch.ones(()), atol=1e-5)


def test_residual_steps_by_architecture():
    kinds = {t: SamplePass(tiny_model(t), _ids()).step_kinds(0) for t in ("llama", "gemma4_text", "gpt_neox")}
    assert kinds == {"llama": ["attn", "mlp"], "gemma4_text": ["attn", "mlp", "ple", "scalar"],
                     "gpt_neox": ["attn+mlp"]}


def test_a_type_without_a_known_split_is_one_whole_layer_step(monkeypatch):
    monkeypatch.delitem(decoder_map.SPLITS, "phi3")
    model = tiny_model("phi3")
    stack = SamplePass(model, _ids())
    assert [stack.step_kinds(i) for i in range(stack.n_layers)] == [["layer"]] * stack.n_layers


def test_the_check_refuses_a_wrong_split_naming_the_type(monkeypatch):
    """GPT-NeoX split as sequential pre-norm steps (attention, then MLP on the updated state)
    is not its parallel residual: the pass no longer reproduces the model."""
    monkeypatch.setitem(decoder_map.SPLITS, "gpt_neox", "pre")
    with pytest.raises(DecoderMapError, match=r"model_type 'gpt_neox'.*differs from the model's own hidden states"):
        SamplePass(tiny_model("gpt_neox"), _ids())


def test_the_check_refuses_a_layer_that_ignores_its_mask(monkeypatch):
    """A sliding window the maps do not apply (Gemma 3's windows of 4 on 9 tokens)."""
    real = decoder_map.LayerMap.__init__

    def no_window(self, decoder, index):
        real(self, decoder, index)
        self.window = None

    monkeypatch.setattr(decoder_map.LayerMap, "__init__", no_window)
    with pytest.raises(DecoderMapError, match="model_type 'gemma3_text'"):
        SamplePass(tiny_model("gemma3_text"), _ids())


def test_a_decoder_without_layers_is_refused_naming_the_type():
    model = tiny_model("llama")
    model.model.layers = None
    with pytest.raises(DecoderMapError, match="model_type 'llama': the decoder has no `layers`"):
        SamplePass(model, _ids())


def test_grouped_experts_are_switched_to_eager_for_forward_mode():
    model = tiny_model("qwen3_moe")
    model.set_experts_implementation("grouped_mm")
    SamplePass(model, _ids())
    assert model.config._experts_implementation == "eager"


def test_gemma4_with_moe_blocks_is_the_whole_model_derivative():
    """Gemma 4 with MoE blocks (as 26B-A4B): the routed branch sits inside the mlp step."""
    from tiny_models import tiny_gemma4_moe

    model = tiny_gemma4_moe()
    model = exact_float64(model.eval())
    ids = _ids()
    tangents = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with exact_softmax():
        stack = SamplePass(model, ids)
        assert stack.step_kinds(0) == ["attn", "mlp", "ple", "scalar"]
        ref = whole_model_jvp(model, ids, 0, 8, tangents, detach_shared_kv=True)
        assert _rel(_map_jvp(stack, 0, 8, tangents), ref) < 1e-10
