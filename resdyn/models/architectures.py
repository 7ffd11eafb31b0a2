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


def supported_summary() -> str:
    """What the Jacobian stage takes, for refusal messages."""
    return ("closed-form Jacobian types: " + ", ".join(sorted([*ARCHITECTURES, *OWN_CLOSED_FORMS]))
            + "; generic (autodiff through the transformers layer) types: " + ", ".join(sorted(GENERIC_PRE_MLP))
            + ", and any other causal LM of transformers whose decoder layers take the standard call and whose "
            "first layer passes the self-check at model preparation (resdyn.models.self_check)")


def _unsupported(model_type: str, why: str) -> UnsupportedArchitecture:
    return UnsupportedArchitecture(f"model_type {model_type!r} is not supported: {why}; " + supported_summary())


def architecture_of(model_type: str) -> Architecture:
    """The `Block` adapter of a type; raises for types without one (see `engine_of`)."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise _unsupported(model_type, "it has no Block adapter") from None


def _is_causal_lm(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def engine_of(model_type: str) -> str:
    """'block' (resdyn.models.block), 'gemma4' (resdyn.models.gemma4) or 'generic' (any other causal
    LM of transformers; its layers are checked at preparation); raises for other types."""
    if model_type in ARCHITECTURES:
        return "block"
    if model_type == "gemma4_text":
        return "gemma4"
    if model_type in GENERIC_PRE_MLP or _is_causal_lm(model_type):
        return "generic"
    raise _unsupported(model_type, "transformers has no causal language model of this type")


def check_supported(model_type: str) -> None:
    """Fail at model preparation for a type no Jacobian engine handles."""
    engine_of(model_type)


# Submodules of a decoder layer, by the names transformers' families give them.
MLP_NAMES = ("mlp", "feed_forward", "block_sparse_moe")
ATTENTION_NAMES = ("self_attn", "attention", "attn")


# Norms that only the MLP reads, by name: their input is the residual state after attention.
PRE_MLP_NORMS = ("pre_feedforward_layernorm", "feedforward_layernorm", "pre_ff_layernorm")


def child_named(layer, names: tuple[str, ...]) -> str | None:
    """The first of `names` that is a submodule of `layer`."""
    return next((n for n in names if n in layer._modules), None)


def pre_mlp_rule(layer) -> str | None:
    """Where the odd (pre-MLP) snapshot is read for a type outside the tables: the input of

    - a norm named as the MLP's own (`PRE_MLP_NORMS`: Gemma 2/3's sandwich `pre_feedforward_layernorm`,
      Apertus' `feedforward_layernorm`, Falcon-H1's `pre_ff_layernorm`);
    - the MLP itself when the layer has `post_feedforward_layernorm` and no pre-MLP norm
      (post-norm, as OLMo 2 and EXAONE 4: the MLP reads the residual state directly);
    - `post_attention_layernorm` (pre-norm, as Llama; in a parallel block, as GPT-NeoX, its input is h);
    - `input_layernorm` when the layer holds nothing else but attention, MLP and dropouts (one
      norm feeding attention and MLP in parallel, as Cohere and Phi: the odd snapshot repeats h).
    None when no rule applies. `resdyn.models.self_check` verifies the choice on the model.
    """
    names = set(layer._modules)
    mlp = child_named(layer, MLP_NAMES)
    pre_norm = next((n for n in PRE_MLP_NORMS if n in names), None)
    if pre_norm is not None:
        return pre_norm
    if "post_feedforward_layernorm" in names and mlp is not None:
        return mlp
    if "post_attention_layernorm" in names:
        return "post_attention_layernorm"
    others = names - {"input_layernorm", mlp, child_named(layer, ATTENTION_NAMES)}
    if "input_layernorm" in names and mlp is not None and all("dropout" in n for n in others):
        return "input_layernorm"
    return None


def pre_mlp_module(model_type: str, layer=None) -> str:
    """Name of the layer submodule whose input is the odd (pre-MLP) snapshot.

    Types outside the tables need `layer` (a decoder layer of the model): `pre_mlp_rule` reads it."""
    engine = engine_of(model_type)
    if engine == "block":
        return ARCHITECTURES[model_type].pre_mlp_module
    if engine == "gemma4":
        return OWN_CLOSED_FORMS[model_type]
    if model_type in GENERIC_PRE_MLP:
        return GENERIC_PRE_MLP[model_type]
    if layer is None:
        raise ValueError(f"model_type {model_type!r} has no listed pre-MLP module: "
                         "pass a decoder layer to read it from")
    name = pre_mlp_rule(layer)
    if name is None:
        raise _unsupported(model_type, f"no rule finds the pre-MLP residual state in {type(layer).__name__} "
                                       f"(submodules: {', '.join(layer._modules)})")
    return name
