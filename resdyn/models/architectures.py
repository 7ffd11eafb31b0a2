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


# Closed forms outside `Block` (resdyn.models.gemma4): model_type -> the pre-MLP hook module.
OWN_CLOSED_FORMS: dict[str, str] = {"gemma4_text": "pre_feedforward_layernorm"}

# Types with no closed form: Jacobians by autodiff through the transformers layer itself
# (resdyn.models.generic). model_type -> the submodule whose *input* is the odd snapshot.
# GPT-NeoX (Pythia) runs attention and MLP in parallel from the same h, so the input of its
# MLP norm is h itself: its odd snapshot repeats the even one (see docs/configuration.md, "Supported architectures").
GENERIC_PRE_MLP: dict[str, str] = {
    "gpt_neox": "post_attention_layernorm",
    "phi3": "post_attention_layernorm",
    "qwen3_moe": "post_attention_layernorm",
}


class UnsupportedArchitecture(ValueError):
    pass


def _unsupported(model_type: str) -> UnsupportedArchitecture:
    return UnsupportedArchitecture(
        f"model_type {model_type!r} is not supported; closed-form Jacobian types: "
        + ", ".join(sorted([*ARCHITECTURES, *OWN_CLOSED_FORMS]))
        + "; generic (autodiff through the transformers layer) types: "
        + ", ".join(sorted(GENERIC_PRE_MLP))
    )


def architecture_of(model_type: str) -> Architecture:
    """The `Block` adapter of a type; raises for types without one (see `engine_of`)."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise _unsupported(model_type) from None


def engine_of(model_type: str) -> str:
    """'block' (resdyn.models.block), 'gemma4' (resdyn.models.gemma4) or 'generic'; raises if unsupported."""
    if model_type in ARCHITECTURES:
        return "block"
    if model_type == "gemma4_text":
        return "gemma4"
    if model_type in GENERIC_PRE_MLP:
        return "generic"
    raise _unsupported(model_type)


def check_supported(model_type: str) -> None:
    """Fail at model preparation for a type no Jacobian engine handles."""
    engine_of(model_type)


def pre_mlp_module(model_type: str) -> str:
    """Name of the layer submodule whose input is the odd (pre-MLP) snapshot."""
    engine = engine_of(model_type)
    if engine == "block":
        return ARCHITECTURES[model_type].pre_mlp_module
    return (OWN_CLOSED_FORMS if engine == "gemma4" else GENERIC_PRE_MLP)[model_type]
