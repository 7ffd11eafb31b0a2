"""The model's own transport through depth, E_n[J_{L−1}^{(n)} ⋯ J_ℓ^{(n)}], beside the paper's product of means.

For sample n and injection layer ℓ, the product Π_ℓ^{(n)} = J_{L−1}^{(n)} ⋯ J_ℓ^{(n)} of that
sample's per-layer Jacobians is, in context, exactly ∂h_L/∂h_ℓ at the last position: no
earlier position reads the last token's state, so a perturbation of it reaches only the last
position of every later layer (the chain rule then runs through the last position alone). It is
what the model does to a perturbation of that token. Its mean over samples, the transport
T_ℓ = E_n[Π_ℓ^{(n)}], is the matrix Jacobian-lens tools fit; the paper's cumulative P_ℓ =
E[J_{L−1}] ⋯ E[J_ℓ] composes the per-layer means instead. With the single-token protocol the
same product of that protocol's Jacobians (each block seeing the token alone, at the state it
has in context) is no derivative of a model run: its rows are labelled `single_token`.

`TransportSums` keeps the L running sums Σ_n Π_ℓ^{(n)} (L·d² float64, on the Jacobians'
device), fed one sample's L Jacobians at a time (suffix products from the top), so nothing
d×d×N is held. The products are not normalised: the mean needs each sample's true scale.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from resdyn.core.linalg import effective_rank
from resdyn.dynamics.cumulative import cumulative_products

COLUMNS = ["run", "protocol", "layer", "d", "n_samples", "erank_transport", "log_norm_transport",
           "erank_product_of_means", "log_norm_product_of_means"]


class TransportSums:
    """Σ_n J_{L−1}^{(n)} ⋯ J_ℓ^{(n)} for every ℓ, over the samples added."""

    def __init__(self) -> None:
        self.sums: torch.Tensor | None = None  # (L, d, d) float64
        self.n = 0

    def add(self, jacobians: Sequence[torch.Tensor], where: str = "") -> None:
        """One sample's Jacobians J_0 … J_{L−1} (each (d, d), or (1, d, d)), in layer order."""
        mats = [j.reshape(j.shape[-2], j.shape[-1]) for j in jacobians]
        if self.sums is None:
            self.sums = torch.zeros((len(mats), *mats[0].shape), dtype=torch.float64, device=mats[0].device)
        elif len(mats) != self.sums.shape[0]:
            raise ValueError(f"transport{where}: a sample with {len(mats)} layers after samples with {self.sums.shape[0]}")
        product = None
        for layer in reversed(range(len(mats))):
            J = mats[layer].to(torch.float64)
            product = J.clone() if product is None else product @ J
            self.sums[layer] += product
        if not bool(torch.isfinite(self.sums).all()):
            raise FloatingPointError(f"transport{where}: a Jacobian product over- or underflowed float64 "
                                     f"at sample {self.n}")
        self.n += 1

    def mean(self) -> torch.Tensor:
        """T_ℓ for ℓ = 0 … L−1, (L, d, d) float64."""
        if self.n == 0:
            raise ValueError("transport: no samples added")
        return self.sums / self.n


def transport_table(run: str, protocol: str, transport: TransportSums,
                    mean_jacobians: Sequence[np.ndarray]) -> pd.DataFrame:
    """One row per injection layer ℓ (COLUMNS): erank and log10 of the Frobenius norm of T_ℓ and of P_ℓ.

    erank is `resdyn.core.linalg.effective_rank` of the singular values; log_norm is log10 ‖·‖_F,
    the same norm and base as cumulative.csv's `log10_fro`. P_ℓ is composed by
    `cumulative_products` (exact, dense) from `mean_jacobians` (E[J_ℓ], float64, layer order).
    """
    means = transport.mean()
    if len(mean_jacobians) != means.shape[0]:
        raise ValueError(f"transport of run {run} ({protocol}): {means.shape[0]} layers of products, "
                         f"{len(mean_jacobians)} mean Jacobians")
    svals = torch.linalg.svdvals(means).cpu().numpy()  # (L, d), descending
    of_means = cumulative_products([np.asarray(J, dtype=np.float64) for J in mean_jacobians], method="exact")
    return pd.DataFrame({
        "run": run,
        "protocol": protocol,
        "layer": np.arange(means.shape[0]),
        "d": means.shape[-1],
        "n_samples": transport.n,
        "erank_transport": [effective_rank(s) for s in svals],
        "log_norm_transport": np.log10(np.sqrt((svals**2).sum(1))),
        "erank_product_of_means": of_means.erank,
        "log_norm_product_of_means": of_means.log10_fro,
    })[COLUMNS]
