"""The paper's single-token simplification against the in-context protocol, on the same samples.

Tests the single-token simplification of Fernando & Guitchounts (2026), "Dynamics of the
Transformer Residual Stream", Appendix A.2.

For every block and sample the Jacobian is taken twice at the same last-token state:
- single_token: the token alone at position 0 (attention reduces to W_o·W_v·norm);
- in_context: the token at its real position attending to the earlier tokens, whose keys
  and values come from their own residual states and are held fixed.
Each protocol's per-layer arrays have the layout of a Jacobian layer file, so the spectra,
cumulative-product and coupling code of the main stages applies to both unchanged
(resdyn.findings.protocol_tables).
"""
from __future__ import annotations

import numpy as np
import torch

from resdyn.data.activations import block_inputs
from resdyn.dynamics.jacobians import JacobianAccumulator, check_precision, in_context_jacobian
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block

PROTOCOLS = ("single_token", "in_context")


def device_bytes_needed(model, n_layers: int | None = None, protocols=PROTOCOLS, transport: bool = True) -> float:
    """What protocol_layer_arrays holds on the device at once: the model, a float64 running sum of J
    per layer and protocol, and one layer's float64 copy with its Jacobians (2 GiB allowed for them);
    with `transport`, per protocol also the L float64 transport sums and one sample's L float32 Jacobians."""
    d, n_layers = model.config.hidden_size, n_layers or model.config.num_hidden_layers
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    per_layer_sums = 8 + (8 + 4 if transport else 0)
    return (weights + len(protocols) * n_layers * d * d * per_layer_sums
            + 2 * weights / model.config.num_hidden_layers + 2 * 2**30)


def protocol_layer_arrays(model, token_ids: list[list[int]], run: str, progress=None, precision: str = "single",
                          layers=None, protocols=PROTOCOLS, transport: dict | None = None):
    """Per protocol, one layer-file dict per layer of `layers` (default: all), in that order
    (mean_J, per-sample statistics, col_norm_mean); and, when both protocols are computed, per
    layer the per-sample relative difference ‖J_ctx − J_single‖_F / ‖J_single‖_F (else None).

    One forward pass per sample gives every block's prefix states. `precision` as
    jacobians.precision: "single" (float32; σ_min below its resolution censored), "double"
    (float64 Jacobians throughout) or "auto" (float32, unresolved samples again in float64).
    `transport` (protocol -> resdyn.dynamics.transport.TransportSums), where given, gets each sample's
    Jacobians of `layers` as made in `precision` (under auto: before any float64 recompute).
    """
    check_precision(precision)
    arch = architecture_of(model.config.model_type)
    layers = list(range(model.config.num_hidden_layers)) if layers is None else list(layers)
    dtype = torch.float64 if precision == "double" else torch.float32
    blocks = OneLayerAtATime(model, arch, dtype)  # float64 weights: one layer's copy at a time
    blocks64 = OneLayerAtATime(model, arch, torch.float64) if precision == "auto" else None
    jacobian = {  # (block, prefix (T, d)) -> (1, d, d)
        "single_token": lambda b, x: b.single_token_jacobian(x[-1:]),
        "in_context": lambda b, x: in_context_jacobian(b, x)[None],
    }
    acc = {p: [JacobianAccumulator(d=model.config.hidden_size) for _ in layers] for p in protocols}
    both = set(protocols) == set(PROTOCOLS)
    rel_diff = np.zeros((len(layers), len(token_ids))) if both else None
    for sample, ids in enumerate(token_ids):
        inputs = block_inputs(model, ids)
        sample_jacobians = {p: [] for p in protocols}
        for k, layer in enumerate(layers):
            block = blocks(layer)
            prefix = inputs[layer].to(dtype)
            jac = {}
            for protocol in protocols:
                jac[protocol] = jacobian[protocol](block, prefix)
                again = None if blocks64 is None else (  # the float64 copy is made only for an unresolved sample
                    lambda rows, f=jacobian[protocol], layer=layer, x=prefix: f(blocks64(layer), x.double()))
                acc[protocol][k].add(jac[protocol], [sample], f"run {run}, layer {layer} ({protocol})", again)
                if transport is not None:
                    sample_jacobians[protocol].append(jac[protocol])
            if both:  # on the Jacobians' device: one number comes to the host
                rel_diff[k, sample] = relative_difference(jac["single_token"][0], jac["in_context"][0])
        for protocol in transport or ():
            transport[protocol].add(sample_jacobians[protocol], f" of run {run} ({protocol})")
        if progress is not None:
            progress()
    return {p: [a.result() for a in per_layer] for p, per_layer in acc.items()}, rel_diff


class OneLayerAtATime:
    """`Block`s of a model in one dtype, only the last one asked for kept: a dtype other than the
    weights' (float64 from float32) copies a layer's weights, and one layer's copy is all that is held."""

    def __init__(self, model, arch, dtype):
        self.model, self.arch, self.dtype = model, arch, dtype
        self.layer, self.block = None, None

    def __call__(self, layer: int) -> Block:
        if layer != self.layer:
            self.block = None  # the previous copy goes before the next is made
            self.block, self.layer = Block(self.model, layer, self.arch, self.dtype), layer
        return self.block


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖_F / ‖a‖_F of two matrices on any device, in float64."""
    a = a.double()
    return float(torch.linalg.matrix_norm(a - b.double()) / torch.linalg.matrix_norm(a))
