"""Schur surgery: scale the non-normal part of each layer's Jacobian and recompose.

Each layer operator A (J itself in mode "J", R = J - I in mode "R") is written in
complex Schur form A = Q (Lambda + N) Q*, Q unitary, Lambda the eigenvalues, N strictly
upper triangular. A construction gives, per layer, A(c) = base + c * direction:

- dose:      Q Lambda Q*   + c Q N Q*                 (spectrum and basis kept)
- control_a: Q Lambda Q*   + c ||N||_F G / ||G||_F    (G i.i.d. real Gaussian: same mass, no triangle)
- control_b: Qr Lambda Qr* + c Qr N Qr*               (Qr Haar-random: triangle kept, basis not)

and the stack is recomposed as P_{0:L-1}(c) = J_{L-1}(c) ... J_0(c), with
J(c) = A(c) in mode J and I + A(c) in mode R.

Two facts worth knowing when reading the results:
- A Schur form is shift-invariant: R = J - I = Q (Lambda - I + N) Q*, so N_R = N and
  I + R(c) = J(c). Mode R reproduces mode J exactly (tested) unless LAPACK orders the
  eigenvalues of J and J - I differently; its controls differ from mode J only by the draws.
- Q Lambda Q* depends on the order of the eigenvalues along the Schur diagonal, which is
  LAPACK's (not sorted); c = 0 is "normal at the trained spectrum" in that basis.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.linalg as sla

from resdyn.cumulative import effective_rank, henrici_of_product, new_product
from resdyn.haar import haar_unitary

log = logging.getLogger(__name__)

MODES = ("J", "R")
CONSTRUCTIONS = ("dose", "control_a", "control_b")
# Complex type of the recomposed products. Single halves the time of the ~5 d x d products per
# layer and draw; on SmolLM2 and Gemma 3 mean Jacobians it moves erank, log10 ||P||_F and
# Henrici by < 4e-7 relative (below the float32 resolution of the stored mean_J). The Schur
# forms themselves are always made in double precision.
PRECISIONS = {"single": np.complex64, "double": np.complex128}
# Fixed integer codes so the random streams never depend on job order or on hash().
_MODE_CODE = {"J": 0, "R": 1}
_CONSTRUCTION_CODE = {"dose": 0, "control_a": 1, "control_b": 2}


@dataclass(frozen=True)
class SchurForm:
    Q: np.ndarray  # unitary, complex128
    T: np.ndarray  # upper triangular, complex128: Lambda + N

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.diagonal(self.T).copy()

    @property
    def N(self) -> np.ndarray:
        return np.triu(self.T, 1)

    def normal_part(self, basis: np.ndarray | None = None) -> np.ndarray:
        """B Lambda B* (B = Q unless another basis is given)."""
        B = self.Q if basis is None else basis
        return (B * self.eigenvalues[None, :]) @ B.conj().T

    def nonnormal_part(self, basis: np.ndarray | None = None) -> np.ndarray:
        """B N B*."""
        B = self.Q if basis is None else basis
        return (B @ self.N) @ B.conj().T

    def reconstruct(self) -> np.ndarray:
        return (self.Q @ self.T) @ self.Q.conj().T

    def astype(self, dtype) -> "SchurForm":
        return SchurForm(Q=self.Q.astype(dtype, copy=False), T=self.T.astype(dtype, copy=False))


def complex_schur(A: np.ndarray) -> SchurForm:
    """Complex Schur form of a real or complex square matrix.

    For real input, real Schur + rsf2csf is ~2.7x faster than schur(output='complex').
    """
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"Schur form needs a square matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise FloatingPointError("Schur form of a matrix holding NaN/Inf")
    if np.iscomplexobj(A):
        T, Q = sla.schur(A.astype(np.complex128), output="complex")
    else:
        T, Q = sla.schur(A.astype(np.float64), output="real")
        T, Q = sla.rsf2csf(T, Q)
    return SchurForm(Q=Q.astype(np.complex128), T=np.triu(T).astype(np.complex128))


def henrici_departure(A: np.ndarray) -> float:
    """sqrt(||A||_F^2 - sum |lambda_i|^2) / ||A||_F: 0 for normal, -> 1 when N dominates."""
    fro2 = float(np.linalg.norm(A) ** 2)
    if fro2 == 0:
        raise ValueError("Henrici departure of the zero matrix is undefined")
    eig2 = float(np.sum(np.abs(sla.eigvals(A)) ** 2))
    return float(np.sqrt(max(fro2 - eig2, 0.0) / fro2))


def layer_operator(J: np.ndarray, mode: str) -> np.ndarray:
    """The matrix whose Schur form is operated on: J (mode J) or R = J - I (mode R)."""
    if mode == "J":
        return J
    if mode == "R":
        return J - np.eye(J.shape[0], dtype=J.dtype)
    raise ValueError(f"Schur mode must be one of {MODES}, got {mode!r}")


def layer_rng(seed: int, mode: str, construction: str, layer: int, draw: int) -> np.random.Generator:
    """Independent stream per (mode, construction, layer, draw), derived from the config seed."""
    key = (_MODE_CODE[mode], _CONSTRUCTION_CODE[construction], int(layer), int(draw))
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=key))


def surgery_terms(
    form: SchurForm, construction: str, rng: np.random.Generator | None, normal: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(base, direction) with A(c) = base + c * direction for one layer.

    `normal` may pass a precomputed Q Lambda Q* (shared by all draws of Control A).
    """
    if construction in ("dose", "control_a") and normal is None:
        normal = form.normal_part()
    if construction == "dose":
        return normal.copy(), form.nonnormal_part()
    if construction == "control_a":
        G = rng.standard_normal(form.T.shape)
        scale = np.linalg.norm(form.N) / np.linalg.norm(G)
        return normal.copy(), (G * scale).astype(form.T.real.dtype)  # real, in the form's precision
    if construction == "control_b":
        Qr = haar_unitary(form.T.shape[0], rng).astype(form.T.dtype)
        return form.normal_part(Qr), form.nonnormal_part(Qr)
    raise ValueError(f"Schur construction must be one of {CONSTRUCTIONS}, got {construction!r}")


class LayerSchurForms(Sequence):
    """Schur forms of the mode's operator per layer, computed on access (never all held:
    at d = 4096 one form is 0.5 GB)."""

    def __init__(self, jacobians: Sequence[np.ndarray], mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"Schur mode must be one of {MODES}, got {mode!r}")
        self.jacobians, self.mode = jacobians, mode

    def __len__(self) -> int:
        return len(self.jacobians)

    def __getitem__(self, layer: int) -> SchurForm:
        return complex_schur(layer_operator(self.jacobians[layer], self.mode))


def check_doses(doses: Sequence[float]) -> list[float]:
    doses = [float(c) for c in doses]
    if not doses or any(c < 0 or not np.isfinite(c) for c in doses) or len(set(doses)) != len(doses):
        raise ValueError(f"schur.doses must be distinct finite numbers >= 0, got {doses}")
    return doses


def dose_sweep(
    forms: Sequence[SchurForm],
    mode: str,
    construction: str | Sequence[str],
    doses: Sequence[float],
    draws: int = 4,
    seed: int = 0,
    method: str = "exact",
    rank: int = 512,
    precision: str = "double",
) -> pd.DataFrame:
    """erank, log10 ||P||_F and Henrici departure of P_{0:L-1}(c) for every dose and draw.

    `forms[l]` is the Schur form of layer l's operator (J or R = J - I by mode).
    `construction` is one construction or several; several share each layer's Schur form
    (the costly step at d = 4096) and give the rows of the single sweeps, in order. The
    dose construction is deterministic and has the single draw 0. `precision` ("single" or
    "double") is the complex type of the products (see PRECISIONS).
    """
    if mode not in MODES:
        raise ValueError(f"Schur mode must be one of {MODES}, got {mode!r}")
    constructions = [construction] if isinstance(construction, str) else list(construction)
    unknown = [c for c in constructions if c not in CONSTRUCTIONS]
    if unknown or not constructions:
        raise ValueError(f"Schur construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    doses = check_doses(doses)
    if precision not in PRECISIONS:
        raise ValueError(f"Schur precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    draw_ids = {con: [0] if con == "dose" else list(range(int(draws))) for con in constructions}
    # Layers outer: each layer's Schur form is made once and shared by all constructions,
    # draws and doses; the random stream of (construction, layer, draw) does not depend on this order.
    products = {(con, draw, c): new_product(method, rank) for con in constructions for draw in draw_ids[con] for c in doses}
    L = len(forms)
    for step, layer in enumerate(reversed(range(L)), 1):  # P <- P J_l builds J_{L-1} ... J_0
        form = forms[layer].astype(PRECISIONS[precision])
        normal = form.normal_part() if set(constructions) - {"control_b"} else None
        for con in constructions:
            for draw in draw_ids[con]:
                rng = None if con == "dose" else layer_rng(seed, mode, con, layer, draw)
                base, direction = surgery_terms(form, con, rng, normal)
                if mode == "R":
                    base[np.diag_indices_from(base)] += 1.0  # J(c) = I + R(c)
                for c in doses:
                    products[con, draw, c].right_multiply(base + c * direction if c else base)
        log.info("mode %s %s: layer %d composed (%d/%d)", mode, "+".join(constructions), layer, step, L)
    rows = []
    for (con, draw, c), p in products.items():
        s = p.singular_values()
        rows.append(
            {
                "mode": mode,
                "construction": con,
                "c": c,
                "draw": draw,
                "erank": effective_rank(s),
                "log10_fro": p.log10_fro,
                "henrici": henrici_of_product(p, s),
            }
        )
    return pd.DataFrame(rows)


def table3(dose_table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 3: erank of P_{0:L-1} at c = 0, 1, 2 (mode J) and c0/c1 for J and R."""
    need = {"run", "mode", "construction", "c", "erank"}
    if need - set(dose_table.columns):
        raise KeyError(f"schur_dose table lacks columns {sorted(need - set(dose_table.columns))}")
    dose = dose_table[dose_table["construction"] == "dose"]
    rows = []
    for run, sub in dose.groupby("run", sort=False):
        def erank(mode: str, c: float) -> float:
            hit = sub[(sub["mode"] == mode) & np.isclose(sub["c"], c)]["erank"]
            if hit.empty:
                raise ValueError(f"Table 3 needs mode {mode} at c = {c:g} for run {run}: add it to schur.doses / schur.modes")
            return float(hit.iloc[0])

        row = {"run": run, "erank_c0": erank("J", 0), "erank_c1": erank("J", 1), "erank_c2": erank("J", 2)}
        row["ratio_c0_c1_j"] = row["erank_c0"] / row["erank_c1"]
        row["ratio_c0_c1_r"] = erank("R", 0) / erank("R", 1)
        rows.append(row)
    return pd.DataFrame(rows)


def table3_markdown(table: pd.DataFrame) -> str:
    lines = [
        "| Run | c = 0 | c = 1 (trained) | c = 2 | c=0/c=1 (mode J) | c=0/c=1 (mode R) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.run} | {r.erank_c0:.3g} | {r.erank_c1:.3g} | {r.erank_c2:.3g} "
            f"| {r.ratio_c0_c1_j:.2f}× | {r.ratio_c0_c1_r:.2f}× |"
        )
    caption = "Schur dose response: effective rank of the cumulative product P_{0:L-1} (mode J), and c=0/c=1 ratios in modes J and R."
    return caption + "\n\n" + "\n".join(lines) + "\n"
