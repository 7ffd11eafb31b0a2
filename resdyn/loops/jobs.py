"""What every loop job does first: the model on the compute device, the prompts tokenized
by the model's own tokenizer; and the hub download of the prepare job."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from resdyn.core.io import atomic_folder
from resdyn.data.tokens import token_tensors  # the run's `bos` mode, as every stage
from resdyn.loops.loaders import load_loop_model

# the published layout: config, weights, tokenizer (no .bin / .pth duplicates, no code)
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]


def load_tokenizer(folder):
    """The folder's tokenizer; a tokenizer.json alone where transformers does not know the
    model type (hub remote-code models)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (ValueError, KeyError, OSError):
        if not (Path(folder) / "tokenizer.json").is_file():
            raise
        return PreTrainedTokenizerFast.from_pretrained(str(folder), local_files_only=True)


def load_job(folder, spec: dict, dtype: str, prompts_csv, max_tokens: int, n_prompts: int | None = None):
    """(model, token ids per prompt) for a loop job, on the GPU where torch sees one."""
    from resdyn.models.sources import compute_device

    table = pd.read_csv(prompts_csv, keep_default_na=False)
    if n_prompts is not None:
        table = table.head(n_prompts)
    model = load_loop_model(folder, spec["arch"], dtype, compute_device())
    ids = token_tensors(load_tokenizer(folder), list(table["text"]), max_tokens, spec.get("bos", "auto"))
    return model, [i.to(model.device) for i in ids]


def download(spec: dict, out_dir) -> None:
    """A hub model's published files at its revision into out_dir, renamed into place
    only when complete (an interrupted download leaves no folder behind)."""
    import shutil

    from huggingface_hub import snapshot_download

    with atomic_folder(out_dir) as tmp:
        snapshot_download(spec["model_id"], revision=spec.get("revision", "main"), local_dir=str(tmp),
                          allow_patterns=HUB_PATTERNS)
        if not list(tmp.glob("*.safetensors")):
            raise FileNotFoundError(f"{spec['model_id']}@{spec.get('revision', 'main')}: no *.safetensors files")
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
