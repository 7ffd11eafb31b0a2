"""Schur surgery: scale the non-normal part of each layer's Jacobian and recompose.

Each layer operator A (J itself in mode "J", R = J - I in mode "R") is written in
complex Schur form A = Q (Lambda + N) Q*, Q unitary, Lambda the eigenvalues, N strictly
upper triangular. A construction gives, per layer, A(c) = base + c * direction:

- dose:      Q Lambda Q*   + c Q N Q*                 (spectrum and basis kept)
- control_a: Q Lambda Q*   + c ||N||_F G / ||G||_F    (G i.i.d. real Gaussian: same mass, no triangle)
- control_b: Qr Lambda Qr* + c Qr N Qr*               (Qr Haar-random: triangle kept, basis not)

and the stack is recomposed as P_{0:L-1}(c) = J_{L-1}(c) ... J_0(c), with
J(c) = A(c) in mode J and I + A(c) in mode R.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.linalg as sla

from resdyn.cumulative import effective_rank, henrici_of_product, new_product
from resdyn.haar import haar_unitary

log = logging.getLogger(__name__)

MODES = ("J", "R")
CONSTRUCTIONS = ("dose", "control_a", "control_b")
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


def surgery_terms(form: SchurForm, construction: str, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """(base, direction) with A(c) = base + c * direction for one layer."""
    if construction == "dose":
        return form.normal_part(), form.nonnormal_part()
    if construction == "control_a":
        G = rng.standard_normal(form.T.shape)
        scale = np.linalg.norm(form.N) / np.linalg.norm(G)
        return form.normal_part(), G * scale
    if construction == "control_b":
        Qr = haar_unitary(form.T.shape[0], rng)
        return form.normal_part(Qr), form.nonnormal_part(Qr)
    raise ValueError(f"Schur construction must be one of {CONSTRUCTIONS}, got {construction!r}")


def save_schur_form(path, form: SchurForm) -> None:
    from resdyn.io import save_npz

    save_npz(path, Q=form.Q, T=form.T)


class SchurForms(Sequence):
    """Per-layer Schur forms saved by `save_schur_form`, loaded on access."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("no Schur form files given")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, layer: int) -> SchurForm:
        with np.load(self.paths[layer]) as f:
            return SchurForm(Q=f["Q"], T=f["T"])


def check_doses(doses: Sequence[float]) -> list[float]:
    doses = [float(c) for c in doses]
    if not doses or any(c < 0 or not np.isfinite(c) for c in doses) or len(set(doses)) != len(doses):
        raise ValueError(f"schur.doses must be distinct finite numbers >= 0, got {doses}")
    return doses


def dose_sweep(
    forms: Sequence[SchurForm],
    mode: str,
    construction: str,
    doses: Sequence[float],
    draws: int = 4,
    seed: int = 0,
    method: str = "exact",
    rank: int = 512,
) -> pd.DataFrame:
    """erank, log10 ||P||_F and Henrici departure of P_{0:L-1}(c) for every dose and draw.

    The dose construction is deterministic and has the single draw 0. All doses of one
    draw are composed in one pass over the layers, so each layer is loaded once per draw.
    """
    if mode not in MODES:
        raise ValueError(f"Schur mode must be one of {MODES}, got {mode!r}")
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"Schur construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    doses = check_doses(doses)
    draw_ids = [0] if construction == "dose" else list(range(int(draws)))
    rows = []
    for draw in draw_ids:
        products = {c: new_product(method, rank) for c in doses}
        for layer in reversed(range(len(forms))):  # P <- P J_l builds J_{L-1} ... J_0
            form = forms[layer]
            rng = None if construction == "dose" else layer_rng(seed, mode, construction, layer, draw)
            base, direction = surgery_terms(form, construction, rng)
            if mode == "R":
                base[np.diag_indices_from(base)] += 1.0
            for c in doses:
                products[c].right_multiply(base + c * direction if c else base)
        for c in doses:
            p = products[c]
            rows.append(
                {
                    "mode": mode,
                    "construction": construction,
                    "c": c,
                    "draw": draw,
                    "erank": effective_rank(p.singular_values()),
                    "log10_fro": p.log10_fro,
                    "henrici": henrici_of_product(p),
                }
            )
        log.info("mode %s %s draw %d: %d doses composed over %d layers", mode, construction, draw, len(doses), len(forms))
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
