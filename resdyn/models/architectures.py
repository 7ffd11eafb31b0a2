"""Architecture adapters: how each supported decoder family wires its block.

A block maps the residual state h to h' in two residual steps (attention, then
MLP). Families differ only in where the norms sit and in small attention
details, which this table records; `resdyn.models.block` turns it into math.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    family: str
    # Norm placement: "pre" (Llama), "sandwich" (Gemma 2/3: pre and post), "post" (OLMo 2/3).
    norm_placement: str
    # RMSNorm scale: "weight" multiplies by w, "one_plus_weight" by (1 + w) (Gemma).
    norm_scale: str
    # q/k normalisation: None, "per_head" (Gemma 3, Qwen 3) or "full" (OLMo 2/3, over all heads).
    qk_norm: str | None
    # Name of the submodule whose *input* is the pre-MLP residual state (activation hook).
    pre_mlp_module: str


_LLAMA = Architecture("llama", "pre", "weight", None, "post_attention_layernorm")
_QWEN3 = Architecture("qwen3", "pre", "weight", "per_head", "post_attention_layernorm")
_GEMMA2 = Architecture("gemma2", "sandwich", "one_plus_weight", None, "pre_feedforward_layernorm")
_GEMMA3 = Architecture("gemma3", "sandwich", "one_plus_weight", "per_head", "pre_feedforward_layernorm")
_OLMO2 = Architecture("olmo2", "post", "weight", "full", "mlp")

ARCHITECTURES: dict[str, Architecture] = {
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "qwen3": _QWEN3,
    "gemma2": _GEMMA2,
    "gemma3_text": _GEMMA3,
    "olmo2": _OLMO2,
    "olmo3": _OLMO2,
}


class UnsupportedArchitecture(ValueError):
    pass


def architecture_of(model_type: str) -> Architecture:
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise UnsupportedArchitecture(
            f"model_type {model_type!r} is not supported; supported model types: "
            + ", ".join(sorted(ARCHITECTURES))
        ) from None
