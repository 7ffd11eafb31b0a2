"""References for the decoder maps: forward-mode derivatives of the whole transformers model.

`whole_model_jvp` perturbs one token's residual state entering one layer (a forward pre-hook
adds a vector there) and reads the state leaving the last layer (before the final norm) at the
same position, through the model's own forward (its masks, rotary tables, per-layer inputs
and KV sharing). `exact_float64` makes a model exact in float64: transformers computes its
RMSNorms and softmaxes in float32 whatever the input dtype, which would limit any float64
comparison to ~1e-7; the replacements are the same formulas in the input dtype (as
resdyn.models.generic does for the Jacobian stage).
"""
from __future__ import annotations

import torch
from transformers.cache_utils import KVSharingDict

from resdyn.models.decoder_map import Decoder
from resdyn.models.generic import _exact_rms_norm, _softmax_in_input_dtype

exact_softmax = _softmax_in_input_dtype  # a context manager: float64 softmaxes stay float64


def exact_float64(model):
    model = model.double()
    for module in model.modules():
        if type(module).__name__.endswith("RMSNorm"):
            module.forward = _exact_rms_norm(module)
    return model


class DetachedSharedKV(KVSharingDict):
    """Gemma 4's store of keys/values for the KV-shared layers, detached as it is written:
    a shared layer reads them as constants (no tangent flows through the skip)."""

    def __setitem__(self, key, value):
        super().__setitem__(key, tuple(t.detach() for t in value))


def whole_model_jvp(model, ids, layer: int, position: int, tangents: torch.Tensor,
                    detach_shared_kv: bool = False) -> torch.Tensor:
    """(d, S): d h_L[position] / d h_layer[position] applied to each column of tangents (d, S)."""
    dec = Decoder(model)
    ids = torch.as_tensor(ids).reshape(1, -1)
    onehot = torch.zeros(1, ids.shape[1], 1, dtype=tangents.dtype)
    onehot[0, position] = 1
    captured = {}

    def run(delta):
        def add(module, args, kwargs):
            if args:
                return (args[0] + onehot * delta, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": kwargs["hidden_states"] + onehot * delta}

        def keep(module, args, out):
            captured["h"] = out[0] if isinstance(out, tuple) else out

        hooks = [dec.layers[layer].register_forward_pre_hook(add, with_kwargs=True),
                 dec.layers[-1].register_forward_hook(keep)]
        try:
            extra = {"shared_kv_states": DetachedSharedKV()} if detach_shared_kv else {}
            model.base_model(input_ids=ids, **extra)
        finally:
            for h in hooks:
                h.remove()
        return captured["h"][0, position]

    zero = torch.zeros(tangents.shape[0], dtype=tangents.dtype)
    return torch.stack([torch.func.jvp(run, (zero,), (v,))[1].detach() for v in tangents.T], dim=1)
