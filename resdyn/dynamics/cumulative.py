"""Cumulative Jacobian products and their effective rank.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.3 (cumulative Jacobian, effective rank), Fig. 4 and S7.

P_l = J_{L-1} ... J_l maps a perturbation injected at layer l to the last residual
state. Products of 30-40 near-identity layers over- or underflow quickly, so a product
is carried normalised (Frobenius norm 1) and log10 ||P||_F is accumulated beside it.

Two ways to compose (same interface, `right_multiply`):
- `ExactProduct`: dense d x d, for the d of models that fit on a laptop.
- `TruncatedProduct`: the paper's iterative truncated SVD at rank K, P ~ U diag(s) Vh,
  for d = 4096; it is exact whenever K >= the rank of the product.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.linalg as sla

from resdyn.core.linalg import effective_rank, spearman

METHODS = ("exact", "truncated")


def _normalise(matrix_or_values: np.ndarray, what: str) -> tuple[np.ndarray, float]:
    norm = float(np.linalg.norm(matrix_or_values))
    if not np.isfinite(norm) or norm == 0.0:
        raise FloatingPointError(f"cumulative product became {norm} ({what})")
    return matrix_or_values / norm, np.log10(norm)


def _check_square(J: np.ndarray, dim: int | None) -> np.ndarray:
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"a Jacobian must be square, got shape {J.shape}")
    if dim is not None and J.shape[0] != dim:
        raise ValueError(f"Jacobian of size {J.shape[0]} cannot follow one of size {dim}")
    return J


class ExactProduct:
    """Dense product P (normalised to ||P||_F = 1) times 10**log10_fro."""

    def __init__(self) -> None:
        self.matrix: np.ndarray | None = None
        self.log10_fro = 0.0

    @property
    def dim(self) -> int | None:
        return None if self.matrix is None else self.matrix.shape[0]

    def right_multiply(self, J: np.ndarray) -> None:
        """P <- P @ J (P starts as the identity)."""
        J = _check_square(J, self.dim)
        product = J.copy() if self.matrix is None else self.matrix @ J
        self.matrix, step = _normalise(product, "exact composition")
        self.log10_fro += step

    def singular_values(self) -> np.ndarray:
        """Singular values of the normalised product, descending."""
        return sla.svdvals(self.matrix)

    def eigenvalues(self) -> np.ndarray:
        return sla.eigvals(self.matrix, check_finite=False)


class TruncatedProduct:
    """P ~ U diag(s) Vh kept at rank <= K; ||s|| = 1 and the scale in log10_fro."""

    def __init__(self, rank: int) -> None:
        if int(rank) < 1:
            raise ValueError(f"truncated composition needs rank >= 1, got {rank}")
        self.rank = int(rank)
        self.U = self.s = self.Vh = None
        self.log10_fro = 0.0

    @property
    def dim(self) -> int | None:
        return None if self.U is None else self.U.shape[0]

    def right_multiply(self, J: np.ndarray) -> None:
        """P <- P @ J, re-factorised by an SVD of the small K x d core s Vh J."""
        J = _check_square(J, self.dim)
        if self.U is None:
            U, s, Vh = sla.svd(J, full_matrices=False, check_finite=False)
        else:
            core = self.s[:, None] * (self.Vh @ J)  # K x d: all of P @ J lives here
            Ub, s, Vh = sla.svd(core, full_matrices=False, check_finite=False)
            U = self.U @ Ub
        k = min(self.rank, s.size)
        self.s, step = _normalise(s[:k], "truncated composition")
        self.U, self.Vh = U[:, :k], Vh[:k]
        self.log10_fro += step

    def singular_values(self) -> np.ndarray:
        return self.s.copy()

    def eigenvalues(self) -> np.ndarray:
        """Non-zero eigenvalues of U s Vh are those of the K x K matrix s Vh U."""
        return sla.eigvals(self.s[:, None] * (self.Vh @ self.U), check_finite=False)


def new_product(method: str = "exact", rank: int = 512):
    if method == "exact":
        return ExactProduct()
    if method == "truncated":
        return TruncatedProduct(rank)
    raise ValueError(f"cumulative method must be one of {METHODS}, got {method!r}")


class MeanJacobians(Sequence):
    """The mean Jacobian of each layer shard, float64, loaded on access (not all held at once):
    the float64 accumulator `mean_J_f64` where the file has it, else the float32 `mean_J`."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("no Jacobian shards given")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, layer: int) -> np.ndarray:
        path = self.paths[layer]
        with np.load(path) as shard:
            if "mean_J" not in shard:
                raise KeyError(f"{path}: no `mean_J` array (has {sorted(shard.files)})")
            J = np.asarray(shard["mean_J_f64" if "mean_J_f64" in shard else "mean_J"], dtype=np.float64)
        if J.ndim != 2 or J.shape[0] != J.shape[1]:
            raise ValueError(f"{path}: mean_J must be square, got shape {J.shape}")
        if not np.all(np.isfinite(J)):
            raise FloatingPointError(f"{path}: mean_J holds NaN/Inf (layer {layer})")
        return J


@dataclass
class CumulativeResult:
    layers: np.ndarray  # injection layer l = 0..L-1
    erank: np.ndarray  # erank(P_l)
    log10_fro: np.ndarray  # log10 ||P_l||_F
    spectra: dict[int, np.ndarray]  # layer -> singular values of P_l / ||P_l||_F (descending)
    dim: int
    kept_rank: int  # d for exact, min(K, d) for truncated


def spectrum_layers(n_layers: int) -> tuple[int, int, int]:
    """Injection layers whose spectra are saved: P_0 (full), P_mid, P_{L-1} (one layer)."""
    return 0, n_layers // 2, n_layers - 1


def cumulative_products(jacobians: Sequence[np.ndarray], method: str = "exact", rank: int = 512) -> CumulativeResult:
    """Compose P_l = J_{L-1} ... J_l for every l, from the last layer backwards."""
    L = len(jacobians)
    if L == 0:
        raise ValueError("no layers to compose")
    keep = set(spectrum_layers(L))
    product = new_product(method, rank)
    erank = np.empty(L)
    log10_fro = np.empty(L)
    spectra: dict[int, np.ndarray] = {}
    for layer in reversed(range(L)):
        product.right_multiply(jacobians[layer])
        s = product.singular_values()
        erank[layer] = effective_rank(s)
        log10_fro[layer] = product.log10_fro
        if layer in keep:
            spectra[layer] = s
    return CumulativeResult(np.arange(L), erank, log10_fro, spectra, product.dim, int(s.size))


def cumulative_tables(
    run: str, result: CumulativeResult, layer_spectra: pd.DataFrame, method: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-layer table, per-run summary (with Spearman rho) and the saved spectra (long form)."""
    L = result.layers.size
    spec = layer_spectra.set_index("layer").sort_index()
    missing = {"spectral_radius", "frac_expanding"} - set(spec.columns)
    if missing:
        raise KeyError(f"layer_spectra table of run {run} lacks columns {sorted(missing)}")
    if list(spec.index) != list(range(L)):
        raise ValueError(f"run {run}: layer_spectra has layers {list(spec.index)}, Jacobians 0..{L - 1}")
    per_layer = pd.DataFrame(
        {
            "run": run,
            "layer": result.layers,
            "erank": result.erank,
            "log10_fro": result.log10_fro,
            "spectral_radius": spec["spectral_radius"].to_numpy(float),
            "frac_expanding": spec["frac_expanding"].to_numpy(float),
            "method": method,
            "kept_rank": result.kept_rank,
        }
    )
    rho, p = spearman(per_layer["erank"], per_layer["spectral_radius"])
    if not np.isfinite(rho):  # the summary's one correlation: refuse a run where it is undefined
        raise ValueError(f"Spearman erank vs spectral radius, run {run}: needs >= 3 layers and neither side "
                         f"constant, got {L} layers")
    first, mid, last = spectrum_layers(L)
    summary = pd.DataFrame(
        [
            {
                "run": run,
                "n_layers": L,
                "d": result.dim,
                "method": method,
                "kept_rank": result.kept_rank,
                "layer_mid": mid,
                "erank_first": result.erank[first],
                "erank_mid": result.erank[mid],
                "erank_last": result.erank[last],
                "spearman_rho": rho,
                "spearman_p": p,
            }
        ]
    )
    rows = []
    for position, layer in zip(("first", "mid", "last"), (first, mid, last)):
        s = result.spectra[layer]
        s = s[s > 0]  # exact zeros (padding / exact rank deficiency) have no log
        rows.append(
            pd.DataFrame(
                {
                    "run": run,
                    "position": position,
                    "layer": layer,
                    "index": np.arange(s.size),
                    "sigma_rel": s / s[0],
                    "log10_sigma": np.log10(s) + result.log10_fro[layer],
                }
            )
        )
    return per_layer, summary, pd.concat(rows, ignore_index=True)
