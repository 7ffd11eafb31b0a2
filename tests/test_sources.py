"""Model sources: local folders, literal and base-derived random inits, GGUF discovery in packages."""
import json
import sys

import pytest
import torch

from resdyn.models.architectures import UnsupportedArchitecture
from resdyn.models.sources import ModelSourceError, find_gguf, load_prepared, materialise
from tiny_models import tiny_config, tiny_model


def test_local_folder_round_trips_as_float32(tmp_path):
    src = tmp_path / "src"
    model = tiny_model("llama")
    model.save_pretrained(src)
    from resdyn.models.sources import _byte_tokenizer

    _byte_tokenizer().save_pretrained(src)
    materialise("mine", {"source": "local", "path": str(src)}, tmp_path / "out")
    loaded, tok = load_prepared(tmp_path / "out")
    for (name, a), (_, b) in zip(model.named_parameters(), loaded.named_parameters()):
        torch.testing.assert_close(a, b, msg=name)
    assert tok("abc", add_special_tokens=False)["input_ids"]


def test_init_from_literal_config_is_seeded(tmp_path):
    spec = {"source": "init", "seed": 3, "config": tiny_config("gemma3_text")}
    materialise("a", spec, tmp_path / "a")
    materialise("b", spec, tmp_path / "b")
    materialise("c", {**spec, "seed": 4}, tmp_path / "c")
    pa, pb, pc = (dict(load_prepared(tmp_path / n)[0].named_parameters()) for n in "abc")
    name = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(pa[name], pb[name]) and not torch.equal(pa[name], pc[name])


def test_prepared_folder_takes_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        materialise("a", {"source": "init", "seed": 0, "config": tiny_config("llama")}, tmp_path / "a")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "a", *(tmp_path / "a").iterdir()]}
    assert modes.pop("a") == 0o755  # not mkdtemp's 0o700: a group on a shared file system can read it
    assert "model.safetensors" in modes and set(modes.values()) == {0o644}, modes


def test_init_from_base_keeps_architecture_and_changes_weights(tmp_path):
    materialise("base", {"source": "init", "seed": 0, "config": tiny_config("olmo2")}, tmp_path / "base")
    materialise("null", {"source": "init", "seed": 1, "base": "base"}, tmp_path / "null", base_dir=tmp_path / "base")
    base_cfg = json.loads((tmp_path / "base" / "config.json").read_text())
    null_cfg = json.loads((tmp_path / "null" / "config.json").read_text())
    assert null_cfg["model_type"] == "olmo2" and null_cfg["hidden_size"] == base_cfg["hidden_size"]


def test_unsupported_architecture_fails_before_writing(tmp_path):
    spec = {"source": "init", "seed": 0, "config": {"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2}}
    with pytest.raises(UnsupportedArchitecture, match="closed-form Jacobian types: gemma2.*gemma4_text.*generic.*gpt_neox, phi3, qwen3_moe"):
        materialise("g", spec, tmp_path / "g")
    assert not (tmp_path / "g").exists() and list(tmp_path.iterdir()) == []


def test_missing_local_model_is_named(tmp_path):
    with pytest.raises(ModelSourceError, match="has no config.json"):
        materialise("m", {"source": "local", "path": str(tmp_path / "none")}, tmp_path / "out")
    with pytest.raises(ModelSourceError, match="no prepared model"):
        load_prepared(tmp_path / "none")


def test_gguf_parts_are_found_in_order_across_packages(tmp_path, monkeypatch):
    for i, part in [(2, "part01"), (1, "part00")]:
        pkg = tmp_path / f"fake_weights_p{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.gguf.{part}").write_bytes(part.encode())
    monkeypatch.syspath_prepend(str(tmp_path))
    parts = find_gguf(["fake-weights-p2", "fake-weights-p1"], "model.gguf")
    assert [p.name for p in parts] == ["model.gguf.part00", "model.gguf.part01"]
    with pytest.raises(ModelSourceError, match="package 'not-installed-here' is not installed"):
        find_gguf(["not-installed-here"], "model.gguf")
    with pytest.raises(ModelSourceError, match="no file named 'other.gguf'"):
        find_gguf(["fake-weights-p1"], "other.gguf")


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "olmo3"])
def test_single_layer_load_gives_the_same_block(tmp_path, model_type):
    from resdyn.dynamics.jacobians import in_context_jacobian, single_token_jacobians
    from resdyn.models.architectures import architecture_of
    from resdyn.models.block import Block
    from resdyn.models.sources import load_layer

    materialise("t", {"source": "init", "seed": 0, "config": tiny_config(model_type)}, tmp_path / "t")
    full, _ = load_prepared(tmp_path / "t")
    partial = load_layer(tmp_path / "t", 1)
    arch = architecture_of(model_type)
    states = torch.randn(5, 32) * 2
    torch.testing.assert_close(single_token_jacobians(Block(partial, 1, arch), states),
                               single_token_jacobians(Block(full, 1, arch), states))
    prefix = torch.randn(6, 32)  # context path: rotary tables of the real positions
    torch.testing.assert_close(in_context_jacobian(Block(partial, 1, arch), prefix),
                               in_context_jacobian(Block(full, 1, arch), prefix))
    with pytest.raises(ModelSourceError, match="no weights for layer 9"):
        load_layer(tmp_path / "t", 9)


def test_one_gguf_parse_shares_a_reader_per_file_and_restores_gguf(tmp_path):
    import gguf

    from resdyn.models.sources import _one_gguf_parse

    paths = []
    for name in ("a.gguf", "b.gguf"):
        writer = gguf.GGUFWriter(tmp_path / name, arch="llama")
        writer.add_block_count(2)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
        paths.append(tmp_path / name)
    original = gguf.GGUFReader
    with _one_gguf_parse():
        first = gguf.GGUFReader(paths[0])
        assert gguf.GGUFReader(str(paths[0])) is first  # parsed once, whatever the path's spelling
        assert gguf.GGUFReader(paths[1]) is not first
        assert int(first.fields["llama.block_count"].parts[-1][0]) == 2
    assert gguf.GGUFReader is original
    assert isinstance(gguf.GGUFReader(paths[0]), original)


def test_a_generic_engine_type_is_prepared_from_a_literal_config(tmp_path):
    """gpt_neox has no closed form; it is prepared (the generic engine takes it) and reloads with its decoder stack."""
    from tiny_models import tiny_config

    from resdyn.models.sources import load_prepared

    spec = {"source": "init", "seed": 3, "config": tiny_config("gpt_neox")}
    materialise("pythia", spec, tmp_path / "p")
    model, _ = load_prepared(tmp_path / "p")
    assert model.config.model_type == "gpt_neox" and len(model.model.layers) == 3
    assert "model" not in dict(model.named_children())  # the alias adds no parameters


def test_a_multimodal_gemma4_checkpoint_is_prepared_as_its_text_decoder(tmp_path):
    """Gemma 4 hub checkpoints are `gemma4` (towers around a `gemma4_text` decoder): the prepared
    folder is the decoder alone, and it computes what the full model computes on text."""
    from test_tokens import ADDS_NONE, byte_tokenizer
    from tiny_models import tiny_config
    from transformers import AutoModelForCausalLM, Gemma4Config

    from resdyn.models.sources import load_prepared

    text = {k: v for k, v in tiny_config("gemma4_text").items() if k != "model_type"}
    torch.manual_seed(0)
    full = AutoModelForCausalLM.from_config(Gemma4Config(text_config=text, vision_config=None, audio_config=None))
    with torch.no_grad():
        for p in full.parameters():
            p.add_(0.05 * torch.randn_like(p))
    full.eval().save_pretrained(tmp_path / "hub")
    byte_tokenizer(ADDS_NONE).save_pretrained(tmp_path / "hub")
    materialise("g4", {"source": "local", "path": str(tmp_path / "hub")}, tmp_path / "g4")
    assert json.loads((tmp_path / "g4" / "config.json").read_text())["model_type"] == "gemma4_text"
    model, _ = load_prepared(tmp_path / "g4")
    ids = torch.tensor([[5, 17, 42, 8, 99]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, full(input_ids=ids).logits)
