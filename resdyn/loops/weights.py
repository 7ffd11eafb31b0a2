"""A published model folder: config.json and the tensors of its *.safetensors shards."""
from __future__ import annotations

import json
from pathlib import Path

import torch


class LoopModelError(ValueError):
    """A model folder that cannot be read as the architecture it claims to be."""


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise LoopModelError(f"{folder}: no config.json (expected a Hugging Face model folder)")
    return json.loads(path.read_text())


def read_tensors(folder: str | Path, dtype: torch.dtype, device="cpu", skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Every tensor of every *.safetensors file in the folder, cast to ``dtype``, except
    those whose names start with one of ``skip`` (parts the loop map never uses)."""
    from safetensors.torch import load_file

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise LoopModelError(f"{folder}: no *.safetensors files")
    out: dict[str, torch.Tensor] = {}
    for f in files:
        for name, t in load_file(str(f), device="cpu").items():
            if name.startswith(skip):
                continue
            out[name] = t.to(dtype=dtype, device=device) if t.is_floating_point() else t.to(device)
    return out


def take(tensors: dict[str, torch.Tensor], name: str, folder, shape=None) -> torch.Tensor:
    """The named weight, with a clear error naming it and the folder when it is missing."""
    if name not in tensors:
        raise LoopModelError(f"{folder}: weight {name!r} missing from the safetensors files")
    t = tensors[name]
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise LoopModelError(f"{folder}: weight {name!r} has shape {tuple(t.shape)}, config implies {tuple(shape)}")
    return t


def need(cfg: dict, key: str, folder):
    if key not in cfg:
        raise LoopModelError(f"{folder}: config.json has no {key!r}")
    return cfg[key]
