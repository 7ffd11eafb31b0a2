"""Exact per-sample block Jacobians J = ∂h_out/∂h_in at the last token, streamed.

Per sample we keep only five numbers (σ_max, σ_min, κ, participation ratio,
‖J‖_F); the mean Jacobian and mean column norms are running float64 sums, so
memory does not grow with the number of samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from resdyn.models.block import Block
from resdyn.models.in_context import in_context_jacobians
from resdyn.sv_extremes import singular_extremes


def autodiff_single_token_jacobians(block: Block, states: torch.Tensor) -> torch.Tensor:
    """Jacobians (B, d, d) by reverse-mode autodiff (vmap of jacrev); the reference for the closed form."""
    return torch.func.vmap(torch.func.jacrev(block))(states.to(block.dtype))


def single_token_jacobians(block: Block, states: torch.Tensor) -> torch.Tensor:
    """Jacobians (B, d, d) of the block at each state (B, d), each token alone at position 0 (closed form)."""
    return block.single_token_jacobian(states)


def autodiff_in_context_jacobian(block: Block, prefix: torch.Tensor) -> torch.Tensor:
    """`in_context_jacobian` by reverse-mode autodiff (jacrev); the reference for the closed form."""
    ctx = block.context(prefix[:-1]) if prefix.shape[0] > 1 else None
    return torch.func.jacrev(lambda h: block(h, ctx))(prefix[-1].to(block.dtype))


def in_context_jacobian(block: Block, prefix: torch.Tensor) -> torch.Tensor:
    """Jacobian (d, d) at the last of `prefix` (T, d), the earlier positions' keys/values held fixed (closed form)."""
    if prefix.shape[0] == 1:  # nothing to attend to: the single-token protocol at position 0
        return block.single_token_jacobian(prefix)[0]
    return in_context_jacobians(block, prefix[-1:], [block.context(prefix[:-1])])[0]


def singular_value_stats(jac: torch.Tensor) -> dict[str, np.ndarray]:
    """σ_max, σ_min, κ = σ_max/σ_min, PR = (Σσ²)²/Σσ⁴ and ‖J‖_F per Jacobian in a batch (B, d, d), in float64.

    On a CPU each Jacobian goes through `sv_extremes` (a Gram product and an LU instead of
    an SVD: about 3× faster than its singular values by LAPACK, with σ_min as accurate).
    On a GPU, cuSOLVER's batched singular values, as the Jacobians are already there.
    """
    if jac.device.type == "cpu":
        rng = np.random.default_rng(0)  # Lanczos start vectors: reproducible to the last digit
        mats = jac.double().numpy()
        sigma_max, sigma_min, sum2, sum4 = np.array([singular_extremes(m, rng) for m in mats]).T
    else:
        s = torch.linalg.svdvals(jac.double()).cpu().numpy()
        sigma_max, sigma_min = s[:, 0], s[:, -1]
        sum2, sum4 = (s**2).sum(1), (s**4).sum(1)
    with np.errstate(divide="ignore"):  # an exactly singular J has κ = inf
        kappa = sigma_max / sigma_min
    return {
        "sigma_max": sigma_max,
        "sigma_min": sigma_min,
        "kappa": kappa,
        "pr": sum2**2 / sum4,
        "fro": np.sqrt(sum2),
    }


STAT_NAMES = ("sigma_max", "sigma_min", "kappa", "pr", "fro")


@dataclass
class JacobianAccumulator:
    """Running sums over samples for one layer."""

    d: int
    n: int = 0
    sum_J: torch.Tensor = field(init=False)
    sum_col_norm: torch.Tensor = field(init=False)
    per_sample: dict[str, list[np.ndarray]] = field(init=False)

    def __post_init__(self):
        self.sum_J = 0.0  # becomes a float64 tensor on the Jacobians' device
        self.sum_col_norm = 0.0
        self.per_sample = {name: [] for name in STAT_NAMES}

    def add(self, jac: torch.Tensor, sample_ids, where: str) -> None:
        """Add a batch (B, d, d); `where` names the run/layer in errors."""
        finite = torch.isfinite(jac).flatten(1).all(1)
        if not bool(finite.all()):
            bad = int(np.asarray(sample_ids)[int((~finite).nonzero()[0, 0])])
            raise FloatingPointError(f"non-finite Jacobian entry at {where}, sample {bad}")
        j64 = jac.double()
        self.sum_J = self.sum_J + j64.sum(0)
        self.sum_col_norm = self.sum_col_norm + torch.linalg.vector_norm(j64, dim=1).sum(0)
        for name, values in singular_value_stats(j64).items():
            self.per_sample[name].append(values)
        self.n += jac.shape[0]

    def result(self) -> dict[str, np.ndarray]:
        """The layer file's arrays (public contract; mean_J stored float32)."""
        out = {name: np.concatenate(v).astype(np.float64) for name, v in self.per_sample.items()}
        out["mean_J"] = (self.sum_J / self.n).cpu().numpy().astype(np.float32)
        out["col_norm_mean"] = (self.sum_col_norm / self.n).cpu().numpy()
        return out


def single_token_layer_stats(block: Block, states, batch_size: int, where: str, progress=None) -> dict[str, np.ndarray]:
    """The layer file's arrays for states (N, d) (a NumPy array, memory-mapped is fine), streamed.

    Only one batch of states and Jacobians is alive at a time, so peak memory does not grow with N.
    """
    acc = JacobianAccumulator(d=states.shape[1])
    device = block.down[0].device
    for start in range(0, len(states), batch_size):
        ids = np.arange(start, min(start + batch_size, len(states)))
        batch = torch.from_numpy(np.ascontiguousarray(states[ids])).to(device)
        acc.add(single_token_jacobians(block, batch), ids, where)
        if progress is not None:
            progress(len(ids))
    return acc.result()
