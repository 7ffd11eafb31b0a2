"""Exact per-sample block Jacobians J = ∂h_out/∂h_in at the last token, streamed.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.2 (Jacobian computation) and A.3 (per-sample singular values).

Per sample we keep only five numbers (σ_max, σ_min, κ, participation ratio,
‖J‖_F); the mean Jacobian and mean column norms are running float64 sums, so
memory does not grow with the number of samples.

Resolution of σ_min. A Jacobian made in a precision with unit ε carries an error δJ; on
Gemma 3 270M blocks (layers 0, 5, 12, 17; 8 samples each) the float32 closed form is within
‖δJ‖₂ = 0.8–11.5 ε‖J‖_F of the float64 one. By Weyl, σ_min moves by at most ‖δJ‖₂, so σ_min is
known to RESOLUTION_ACCURACY (1 %) only above `sigma_min_bound` = ERROR_FACTOR·ε‖J‖_F / 0.01
(ERROR_FACTOR = 16 covers the largest measured ‖δJ‖₂ with margin). The bound is a worst case:
the measured σ_min errors are far smaller (0.13 % at κ = 1.9e8), but only the bound is a guarantee.
Below it a float32 sample is "unresolved"; `jacobians.precision: auto` recomputes it in
float64 (ε = 2.2e-16: κ resolved to ~1e12 at d = 576), and whatever is still below the bound
is "censored": σ_min is stored as the bound (an upper bound) and κ as σ_max / bound (a lower bound).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from resdyn.core.device import in_batches_that_fit
from resdyn.core.sv_extremes import singular_extremes
from resdyn.dynamics.stat_names import FLAG_NAMES, STAT_NAMES
from resdyn.models.block import Block
from resdyn.models.in_context import in_context_jacobians

PRECISIONS = ("auto", "single", "double")
RESOLUTION_ACCURACY = 0.01  # σ_min must be known to 1 % to be reported as a value
ERROR_FACTOR = 16.0  # ‖δJ‖₂ ≤ ERROR_FACTOR·ε‖J‖_F for the closed form (measured max 11.5)


def sigma_min_bound(fro: np.ndarray, eps: float) -> np.ndarray:
    """The smallest σ_min a Jacobian of Frobenius norm `fro`, made at unit roundoff `eps`, resolves to 1 %."""
    return ERROR_FACTOR * eps * np.asarray(fro, dtype=np.float64) / RESOLUTION_ACCURACY


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"jacobians.precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def double_block(block: Block) -> Block:
    """The same block with float64 weights (the float32 weights cast exactly): its closed form in float64."""
    return Block(block.model, block.layer_idx, block.arch, torch.float64)


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


def singular_value_stats(jac: torch.Tensor, eps: float | None = None) -> dict[str, np.ndarray]:
    """σ_max, σ_min, κ = σ_max/σ_min, PR = (Σσ²)²/Σσ⁴ and ‖J‖_F per Jacobian in a batch (B, d, d), in float64,
    and `resolved`: σ_min ≥ sigma_min_bound at the unit `eps` the Jacobians were made in (default: their dtype's).

    On a CPU each Jacobian goes through `sv_extremes` (a Gram product and an LU instead of
    an SVD: about 3× faster than its singular values by LAPACK, with σ_min as accurate).
    On a GPU, cuSOLVER's batched singular values, as the Jacobians are already there.
    """
    eps = float(torch.finfo(jac.dtype).eps) if eps is None else eps
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
        "resolved": sigma_min >= sigma_min_bound(np.sqrt(sum2), eps),
    }




def _censor(stats: dict[str, np.ndarray], eps: np.ndarray) -> np.ndarray:
    """Replace unresolved σ_min by its bound and κ by the matching lower bound; returns the mask."""
    censored = ~stats["resolved"]
    bound = sigma_min_bound(stats["fro"], 1.0) * eps
    stats["sigma_min"] = np.where(censored, bound, stats["sigma_min"])
    stats["kappa"] = np.where(censored, stats["sigma_max"] / bound, stats["kappa"])
    return censored


@dataclass
class JacobianAccumulator:
    """Running sums over samples for one layer."""

    d: int
    n: int = 0
    sum_J: torch.Tensor = field(init=False)
    sum_col_norm: torch.Tensor = field(init=False)
    per_sample: dict[str, list[np.ndarray]] = field(init=False)
    eps: float = 0.0  # largest unit roundoff among the Jacobians added (the mean's precision)

    def __post_init__(self):
        self.sum_J = 0.0  # becomes a float64 tensor on the Jacobians' device
        self.sum_col_norm = 0.0
        self.per_sample = {name: [] for name in STAT_NAMES + FLAG_NAMES}

    def add(self, jac: torch.Tensor, sample_ids, where: str,
            recompute: Callable[[np.ndarray], torch.Tensor] | None = None) -> None:
        """Add a batch (B, d, d); `where` names the run/layer in errors.

        `recompute(rows)` returns the float64 Jacobians of the batch rows `rows`: it is called
        for the samples whose σ_min is below the resolution of `jac`'s precision, and their
        float64 Jacobians replace them (in the statistics and in the mean).
        """
        _check_finite(jac, sample_ids, where)
        j64 = jac.double()
        stats = singular_value_stats(jac)
        eps = np.full(len(j64), float(torch.finfo(jac.dtype).eps))
        unresolved = ~stats["resolved"]
        if recompute is not None and unresolved.any() and jac.dtype != torch.float64:
            rows = np.flatnonzero(unresolved)
            again = recompute(rows).to(j64.device, torch.float64)
            _check_finite(again, np.asarray(sample_ids)[rows], where)
            j64[torch.as_tensor(rows, device=j64.device)] = again
            for name, values in singular_value_stats(again).items():
                stats[name][rows] = values
            eps[rows] = float(torch.finfo(torch.float64).eps)
        stats["kappa_unresolved"] = unresolved
        stats["kappa_censored"] = _censor(stats, eps)
        del stats["resolved"]
        sum_J = self.sum_J + j64.sum(0)  # all made before any is kept: running out of memory changes nothing
        sum_col_norm = self.sum_col_norm + torch.linalg.vector_norm(j64, dim=1).sum(0)
        self.eps, self.sum_J, self.sum_col_norm = max(self.eps, float(eps.max())), sum_J, sum_col_norm
        for name, values in stats.items():
            self.per_sample[name].append(values)
        self.n += jac.shape[0]

    def result(self) -> dict[str, np.ndarray]:
        """The layer file's arrays (public contract; mean_J stored float32, and in float64 as mean_J_f64)."""
        out = {name: np.concatenate(self.per_sample[name]).astype(np.float64) for name in STAT_NAMES}
        out.update({name: np.concatenate(self.per_sample[name]).astype(bool) for name in FLAG_NAMES})
        mean = (self.sum_J / self.n).cpu().numpy()
        out["mean_J"] = mean.astype(np.float32)
        out["mean_J_f64"] = mean
        out["jacobian_eps"] = np.float64(self.eps)
        out["col_norm_mean"] = (self.sum_col_norm / self.n).cpu().numpy()
        return out


def _check_finite(jac: torch.Tensor, sample_ids, where: str) -> None:
    finite = torch.isfinite(jac).flatten(1).all(1)
    if not bool(finite.all()):
        bad = int(np.asarray(sample_ids)[int((~finite).nonzero()[0, 0])])
        raise FloatingPointError(f"non-finite Jacobian entry at {where}, sample {bad}")


def single_token_layer_stats(block: Block, states, batch_size: int, where: str, progress=None,
                             precision: str = "auto") -> dict[str, np.ndarray]:
    """The layer file's arrays for states (N, d) (a NumPy array, memory-mapped is fine), streamed.

    Only one batch of states and Jacobians is alive at a time, so peak memory does not grow with N.
    `precision` (jacobians.precision): "single" float32 Jacobians, unresolved σ_min censored;
    "double" all in float64; "auto" float32, the unresolved samples recomputed in float64.
    """
    check_precision(precision)
    acc = JacobianAccumulator(d=states.shape[1])
    device = block.down[0].device
    block64 = block if block.dtype == torch.float64 else None if precision == "single" else double_block(block)
    main = block64 if precision == "double" else block

    def one_batch(ids):
        batch = torch.from_numpy(np.ascontiguousarray(states[ids])).to(device)
        recompute = None if precision != "auto" else (
            lambda rows: single_token_jacobians(block64, batch[torch.as_tensor(rows, device=device)]))
        acc.add(single_token_jacobians(main, batch), ids, where, recompute)
        if progress is not None:
            progress(len(ids))

    in_batches_that_fit(len(states), batch_size, one_batch, where)
    return acc.result()
