"""The paper's single-token simplification against the in-context protocol, on the same samples.

For every block and sample the Jacobian is taken twice at the same last-token state:
- single_token: the token alone at position 0 (attention reduces to W_o·W_v·norm);
- in_context: the token at its real position attending to the earlier tokens, whose keys
  and values come from their own residual states and are held fixed.
Each protocol's per-layer arrays have the layout of a Jacobian layer file, so the spectra,
cumulative-product and coupling code of the main stages applies to both unchanged.
"""
from __future__ import annotations

import numpy as np
import torch

from resdyn.activations import residual_hooks
from resdyn.jacobians import JacobianAccumulator, in_context_jacobian
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block

PROTOCOLS = ("single_token", "in_context")


@torch.no_grad()
def block_inputs(model, token_ids: list[int]) -> torch.Tensor:
    """Residual states (L, T, d) at the input of every block, all positions, from one forward pass."""
    n_layers = model.config.num_hidden_layers
    states: dict[int, torch.Tensor] = {}

    def keep(snapshot: int, hidden: torch.Tensor) -> None:
        if snapshot % 2 == 0:  # pre-attention snapshots are the block inputs
            states[snapshot // 2] = hidden[0].float().clone()

    with residual_hooks(model, keep):
        model.model(input_ids=torch.tensor([token_ids], device=model.device), use_cache=False)
    return torch.stack([states[layer] for layer in range(n_layers)])


def protocol_layer_arrays(model, token_ids: list[list[int]], run: str, progress=None):
    """Per protocol, one layer-file dict per layer (mean_J, per-sample statistics, col_norm_mean);
    and per layer the per-sample relative difference ‖J_ctx − J_single‖_F / ‖J_single‖_F."""
    arch = architecture_of(model.config.model_type)
    n_layers, d = model.config.num_hidden_layers, model.config.hidden_size
    blocks = [Block(model, layer, arch) for layer in range(n_layers)]
    acc = {p: [JacobianAccumulator(d=d) for _ in range(n_layers)] for p in PROTOCOLS}
    rel_diff = np.zeros((n_layers, len(token_ids)))
    for sample, ids in enumerate(token_ids):
        inputs = block_inputs(model, ids)
        for layer, block in enumerate(blocks):
            where = f"run {run}, layer {layer}"
            prefix = inputs[layer]
            single = block.single_token_jacobian(prefix[-1:])
            in_context = in_context_jacobian(block, prefix)[None]
            acc["single_token"][layer].add(single, [sample], f"{where} (single_token)")
            acc["in_context"][layer].add(in_context, [sample], f"{where} (in_context)")
            rel_diff[layer, sample] = relative_difference(single[0].double().numpy(), in_context[0].double().numpy())
        if progress is not None:
            progress()
    return {p: [a.result() for a in layers] for p, layers in acc.items()}, rel_diff


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖_F / ‖a‖_F."""
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)) / np.linalg.norm(np.asarray(a, float)))


def protocol_tables(run: str, arrays: list[dict], memberships: dict, participations: dict, *, k: int,
                    regime_bounds, regime_layers=None, cumulative_method: str = "exact", rank: int = 512,
                    coupling: dict | None = None) -> dict[str, "pd.DataFrame"]:
    """One protocol's tables, by the main stages' own functions: layer_spectra, cumulative,
    cumulative_summary and the coupling tables (Tests 1-3 on these Jacobians' column norms)."""
    import pandas as pd  # noqa: F401  (the tables are DataFrames)

    from resdyn.coupling import COLUMN_NORMS, run_coupling
    from resdyn.cumulative import cumulative_products, cumulative_tables
    from resdyn.layer_table import layer_spectra

    spectra, _ = layer_spectra(run, arrays, k, regime_bounds, regime_layers)
    mean_js = [np.asarray(a["mean_J"], dtype=np.float64) for a in arrays]
    result = cumulative_products(mean_js, method=cumulative_method, rank=rank)
    per_layer, summary, _ = cumulative_tables(run, result, spectra, cumulative_method)
    readings = {"mean_jacobian": [np.linalg.norm(J, axis=0) for J in mean_js],
                "per_sample_mean": [np.asarray(a["col_norm_mean"], float) for a in arrays]}
    first = (coupling or {}).get("column_norm", "mean_jacobian")  # the reading the summary counts comes first
    col_norms = {r: readings[r] for r in (first, *[r for r in COLUMN_NORMS if r != first])}
    coupled = run_coupling(run, memberships, participations, mean_js, col_norms,
                           spectra["self_alignment_J"].to_numpy(float), **(coupling or {}))
    return {"layer_spectra": spectra, "cumulative": per_layer, "cumulative_summary": summary, **coupled}
