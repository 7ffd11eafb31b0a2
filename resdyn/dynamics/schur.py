"""Non-normality surgery: scale the non-normal part of each layer's Jacobian and recompose.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix C (Schur surgery, Controls A and B, mode R) and Table 3, with an order-free (polar) surgery beside it.

Each layer operator A (J itself in mode "J", R = J - I in mode "R") gets a dose family A(c) with
A(0) normal at A's spectrum and A(1) = A, by one of two surgeries (`schur.method`):

- polar (resdyn.dynamics.polar_surgery): A = V Λ V⁻¹, V = U P (polar), A(c) = U P^c Λ P^{-c} U*. No order.
- schur: A = Q (Λ + N) Q* (complex Schur form, Q unitary, N strictly upper triangular),
  A(c) = Q Λ Q* + c Q N Q*.

Constructions (the paper's controls, written for both surgeries; J0 = A(0) the normal part):

- dose:      A(c)                                          (spectrum kept at every c)
- control_a: J0 + c ||A - J0||_F G / ||G||_F                (G i.i.d. real Gaussian: same mass, no structure;
                                                            ||A - J0||_F = ||N||_F under Schur surgery)
- control_b: schur Qr (Λ + cN) Qr*, polar Ur P^c Λ P^{-c} Ur*  (Qr, Ur Haar-random: form kept, basis not)

and the stack is recomposed as P_{0:L-1}(c) = J_{L-1}(c) ... J_0(c), with J(c) = A(c) in mode J
and I + A(c) in mode R.

Schur surgery is Gram–Schmidt in an order. For a diagonalisable A = V Λ V⁻¹ and an order π of
its eigenvalues, the QR factorisation V_π = Q R gives A = Q (R Λ_π R⁻¹) Q*, a Schur form with the
diagonal in order π: Q Λ Q* orthogonalises the eigenvectors one after another in that order, so
Q Λ Q* (and every dose but c = 1) moves with π. LAPACK's order is an accident of the QR
iteration, so every form is reordered (ztrexc swaps, backward stable) into a canonical order:
decreasing |λ|, ties (conjugate pairs) by decreasing argument; then a permutation similarity
P J Pᵀ gives P (Q Λ Q*) Pᵀ (tested). The canonical order is an extreme, not a typical order:
Gram–Schmidt keeps the first vectors' span exactly, so in decreasing |λ| every leading block of
Schur vectors spans J's dominant invariant subspace of that size, and the normal part keeps J's
whole chain of dominant invariant subspaces, each with its eigenvalues; any other order keeps
another chain. Measured on trained SmolLM2 (erank of P_{0:L-1} at c = 0): 1.02 canonical,
29 in LAPACK's order or in increasing |λ|, ~44 for random orders, ~45 polar.
`order_draws` random orders give each dose row the distribution over orders (5th / 50th / 95th
percentiles and the 95 % interval of the median): a Monte Carlo estimate of an order-averaged
quantity. Polar surgery (the symmetric, Löwdin, orthogonalisation) needs no such estimate.

Mode R. A Schur form is shift-invariant: R = J - I = Q (Λ - I + N) Q*, so N_R = N and
I + R(c) = J(c) in the same order. Under Schur surgery mode R is therefore mode J with the diagonal
in R's canonical order (decreasing |λ - 1|): an ordering check (tested). Under polar surgery R has
J's eigenvectors, so I + R(c) = J(c) exactly: mode R repeats mode J (tested).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy.linalg import lapack

from scipy.stats import quantile_test

from resdyn.core.linalg import effective_rank, haar_unitary, henrici_departure
from resdyn.dynamics.cumulative import new_product
from resdyn.dynamics.polar_surgery import PolarForm, polar_form, polar_matrices

log = logging.getLogger(__name__)

MODES = ("J", "R")
SURGERIES = ("polar", "schur")  # schur.method
CONSTRUCTIONS = ("dose", "control_a", "control_b")
# Complex type of the recomposed products. Single halves the time of the ~5 d x d products per
# layer and draw; on SmolLM2 and Gemma 3 mean Jacobians it moves erank, log10 ||P||_F and
# Henrici by < 4e-7 relative (below the float32 resolution of the stored mean_J). The Schur
# forms themselves are always made in double precision.
PRECISIONS = {"single": np.complex64, "double": np.complex128}
# Fixed integer codes so the random streams never depend on job order or on hash().
_MODE_CODE = {"J": 0, "R": 1}
_CONSTRUCTION_CODE = {"dose": 0, "control_a": 1, "control_b": 2, "order": 3}
# Columns of the random-order distribution on the dose rows (Schur surgery with order_draws > 0).
ORDER_COLUMNS = ("erank_order_q05", "erank_order_median", "erank_order_q95", "erank_order_median_ci_lo",
                 "erank_order_median_ci_hi")
ORDER_STATS = ("q05", "median", "q95")
# Polar surgery's resolution on every polar row (NaN under Schur surgery), see resdyn.dynamics.polar_surgery.
RESOLUTION_COLUMNS = ("eigvec_cond_max", "polar_residual_max", "imag_rel_max")
MEDIAN_CI_LEVEL = 0.95  # coverage of the order-statistic interval of the median
_TIE_DIGITS = 12  # |lambda| equal to 12 significant digits counts as a tie (conjugate pairs)


@dataclass(frozen=True)
class SchurForm:
    Q: np.ndarray  # unitary, complex128
    T: np.ndarray  # upper triangular, complex128: Lambda + N

    method = "schur"

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


def canonical_order(eigs: np.ndarray) -> np.ndarray:
    """Indices sorting eigenvalues by decreasing |lambda|, ties by decreasing argument."""
    mod = np.abs(eigs)
    top = mod.max() if mod.size and mod.max() > 0 else 1.0
    tied = np.round(mod / top * 10**_TIE_DIGITS)  # a conjugate's modulus differs in its last bits
    return np.lexsort((-np.angle(eigs), -tied))


def reorder(form: SchurForm, order: np.ndarray) -> SchurForm:
    """The Schur form with diagonal entry order[k] of `form` moved to position k (ztrexc swaps)."""
    d = form.T.shape[0]
    order = np.asarray(order)
    if sorted(order.tolist()) != list(range(d)):
        raise ValueError("a Schur order must be a permutation of the diagonal's positions")
    T, Q = np.asfortranarray(form.T.copy()), np.asfortranarray(form.Q.copy())
    where = list(range(d))  # where[p]: original index of the entry now at position p
    for k, idx in enumerate(order):
        p = where.index(idx, k)
        if p != k:
            T, Q, info = lapack.ztrexc(T, Q, p + 1, k + 1, overwrite_a=1, overwrite_q=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"ztrexc failed to move a Schur diagonal entry (info {info})")
            where.insert(k, where.pop(p))
    return SchurForm(Q=np.ascontiguousarray(Q), T=np.triu(np.ascontiguousarray(T)))


def random_order(form: SchurForm, rng: np.random.Generator) -> SchurForm:
    return reorder(form, rng.permutation(form.T.shape[0]))


def complex_schur(A: np.ndarray, order: str = "canonical") -> SchurForm:
    """Complex Schur form of a real or complex square matrix, in canonical order
    (`order="lapack"`: as LAPACK returns it).

    For real input, real Schur + rsf2csf is ~2.7x faster than schur(output='complex').
    """
    if order not in ("canonical", "lapack"):
        raise ValueError(f"Schur order must be 'canonical' or 'lapack', got {order!r}")
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
    form = SchurForm(Q=Q.astype(np.complex128), T=np.triu(T).astype(np.complex128))
    return reorder(form, canonical_order(form.eigenvalues)) if order == "canonical" else form


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
    """Surgery forms of the mode's operator per layer (complex Schur forms in canonical order, or
    polar forms: `surgery`), computed on access (never all held: at d = 4096 one form is 0.5 GB)."""

    def __init__(self, jacobians: Sequence[np.ndarray], mode: str, surgery: str = "schur") -> None:
        if mode not in MODES:
            raise ValueError(f"Schur mode must be one of {MODES}, got {mode!r}")
        if surgery not in SURGERIES:
            raise ValueError(f"schur.method must be one of {SURGERIES}, got {surgery!r}")
        self.jacobians, self.mode, self.surgery = jacobians, mode, surgery

    def __len__(self) -> int:
        return len(self.jacobians)

    def __getitem__(self, layer: int) -> SchurForm | PolarForm:
        A = layer_operator(self.jacobians[layer], self.mode)
        return complex_schur(A) if self.surgery == "schur" else polar_form(A)


def check_doses(doses: Sequence[float]) -> list[float]:
    doses = [float(c) for c in doses]
    if not doses or any(c < 0 or not np.isfinite(c) for c in doses) or len(set(doses)) != len(doses):
        raise ValueError(f"schur.doses must be distinct finite numbers >= 0, got {doses}")
    return doses


def order_summary(values: Sequence[float]) -> dict[str, float]:
    """The distribution of erank over random Schur orders: 5th / 50th / 95th percentiles and the
    distribution-free 95 % interval of the median (order statistics, binomial coverage; NaN below 6
    draws), the Monte Carlo error of the median as an estimate of the order-averaged quantity."""
    v = np.asarray(values, dtype=float)
    out = dict.fromkeys(ORDER_COLUMNS, np.nan)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return out
    q05, med, q95 = np.percentile(v, [5, 50, 95])
    ci = quantile_test(v, q=med, p=0.5).confidence_interval(MEDIAN_CI_LEVEL)
    out.update(erank_order_q05=q05, erank_order_median=med, erank_order_q95=q95,
               erank_order_median_ci_lo=ci.low, erank_order_median_ci_hi=ci.high)
    return out


def _layer_matrices(form, construction: str, rng, doses: list[float], normal) -> tuple[list[np.ndarray], list[float]]:
    """(the layer's operator at every dose, ‖Im‖_F/‖·‖_F of each before it was made real: polar
    dose construction only, NaN otherwise)."""
    if form.method == "schur":
        base, direction = surgery_terms(form, construction, rng, normal)
        return [base + c * direction if c else base for c in doses], [np.nan] * len(doses)
    if construction == "dose":
        mats, imag = zip(*(form.dose_with_imag(c) for c in doses))
        return list(mats), list(imag)
    return polar_matrices(form, construction, rng, doses, normal), [np.nan] * len(doses)


def dose_sweep(
    forms: Sequence[SchurForm] | Sequence[PolarForm],
    mode: str,
    construction: str | Sequence[str],
    doses: Sequence[float],
    draws: int = 4,
    seed: int = 0,
    method: str = "exact",
    rank: int = 512,
    precision: str = "double",
    order_draws: int = 0,
) -> pd.DataFrame:
    """erank, log10 ||P||_F and Henrici departure of P_{0:L-1}(c) for every dose and draw.

    `forms[l]` is the surgery form of layer l's operator (J or R = J - I by mode): SchurForm
    (Schur surgery) or PolarForm (polar surgery, see resdyn.dynamics.polar_surgery); the forms' kind gives
    the `method` column. `method` ("exact" or "truncated") and `rank` are the composition's.
    `construction` is one construction or several; several share each layer's form (the costly
    step at d = 4096) and give the rows of the single sweeps, in order. The dose construction is
    deterministic and has the single draw 0. `precision` ("single" or "double") is the complex type
    of the products (see PRECISIONS). `order_draws` random orders of each layer's Schur diagonal
    (Schur surgery only) give the dose rows the columns of order_summary (NaN on other rows and
    when 0); at c = 1 every order must give the canonical product. Polar rows carry the
    resolution columns eigvec_cond_max, polar_residual_max (over layers) and imag_rel_max (dose
    rows: over layers at that c); NaN under Schur surgery.
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
    order_draws = int(order_draws)
    if order_draws < 0:
        raise ValueError(f"schur.order_draws must be >= 0, got {order_draws}")
    if "dose" not in constructions:
        order_draws = 0
    dtype = PRECISIONS[precision]
    draw_ids = {con: [0] if con == "dose" else list(range(int(draws))) for con in constructions}
    # Layers outer: each layer's form is made once and shared by all constructions, draws and
    # doses; the random stream of (construction, layer, draw) does not depend on this order.
    products = {(con, draw, c): new_product(method, rank) for con in constructions for draw in draw_ids[con] for c in doses}
    ordered = {(k, c): new_product(method, rank) for k in range(order_draws) for c in doses}
    L = len(forms)
    surgery, cond, residual, imag = None, 0.0, 0.0, dict.fromkeys(doses, np.nan)
    for step, layer in enumerate(reversed(range(L)), 1):  # P <- P J_l builds J_{L-1} ... J_0
        form64 = forms[layer]
        if surgery is None:
            surgery = form64.method
        elif form64.method != surgery:
            raise ValueError(f"layer {layer} has a {form64.method} form among {surgery} forms")
        if surgery == "polar":
            if order_draws:
                raise ValueError("schur.order_draws applies to schur.method: schur only (polar surgery has no order)")
            form, normal = form64, form64.normal_part() if set(constructions) - {"control_b"} else None
            cond, residual = max(cond, form64.cond), max(residual, form64.residual)
        else:
            for k in range(order_draws):  # the same layer in random diagonal orders (dose construction)
                f = random_order(form64, layer_rng(seed, mode, "order", layer, k)).astype(dtype)
                base, direction = surgery_terms(f, "dose", None)
                if mode == "R":
                    base[np.diag_indices_from(base)] += 1.0
                for c in doses:
                    ordered[k, c].right_multiply(base + c * direction if c else base)
            form = form64.astype(dtype)
            normal = form.normal_part() if set(constructions) - {"control_b"} else None
        for con in constructions:
            for draw in draw_ids[con]:
                rng = None if con == "dose" else layer_rng(seed, mode, con, layer, draw)
                try:
                    mats, im = _layer_matrices(form, con, rng, doses, normal)
                except FloatingPointError as err:
                    raise FloatingPointError(f"mode {mode}, layer {layer}: {err}") from err
                if con == "dose" and surgery == "polar":
                    imag.update({c: np.fmax(imag[c], i) for c, i in zip(doses, im)})
                for c, m in zip(doses, mats):
                    m = m.astype(dtype, copy=True) if m.dtype != dtype else m.copy()
                    if mode == "R":
                        m[np.diag_indices_from(m)] += 1.0  # J(c) = I + R(c)
                    products[con, draw, c].right_multiply(m)
        log.info("mode %s %s (%s): layer %d composed (%d/%d)", mode, "+".join(constructions), surgery, layer, step, L)
    band = {c: [effective_rank(ordered[k, c].singular_values()) for k in range(order_draws)] for c in doses}
    rows = []
    for (con, draw, c), p in products.items():
        s = p.singular_values()
        row = {
            "mode": mode,
            "method": surgery,
            "construction": con,
            "c": c,
            "draw": draw,
            "erank": effective_rank(s),
            "log10_fro": p.log10_fro,
            "henrici": henrici_departure(np.sum(s**2), p.eigenvalues()),
        }
        row.update(order_summary(band[c] if con == "dose" and order_draws else []))
        row["n_orders"] = order_draws if con == "dose" else 0
        polar = surgery == "polar"
        row.update(eigvec_cond_max=cond if polar else np.nan, polar_residual_max=residual if polar else np.nan,
                   imag_rel_max=imag[c] if polar and con == "dose" else np.nan)
        if con == "dose" and c == 1.0 and order_draws:
            _check_order_free(row["erank"], band[c], precision, mode)
        rows.append(row)
    return pd.DataFrame(rows)


def _check_order_free(erank: float, orders: list[float], precision: str, mode: str) -> None:
    """c = 1 recomposes each layer's operator whatever the order: all orders must agree to rounding."""
    tol = 1e-3 if precision == "single" else 1e-8
    worst = max(abs(e - erank) for e in orders) / erank
    if worst > tol:
        raise FloatingPointError(f"mode {mode}: erank at c = 1 moves by {worst:.2e} (relative) across Schur "
                                 f"orders, beyond rounding ({tol:g}): the reordered forms do not reconstruct J")


def table3(dose_table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 3 per run: erank of P_{0:L-1} at c = 0, 1, 2 (mode J) and c0/c1 for J and R,
    from the run's surgery (`method`: polar, order-free; or schur, canonical order).

    Schur surgery with random orders adds their distribution: <name>_q05 / _median / _q95 and the 95 %
    interval of the median <name>_median_ci_lo / _hi, for erank_c0, ratio_c0_c1_j (= erank_c0 order
    quantiles / erank_c1, which no order moves) and erank_c2 (q05 / median / q95), over n_orders
    draws; NaN under polar surgery or without draws (n_orders 0). Polar surgery adds its resolution:
    eigvec_cond_max, polar_residual_max and imag_rel_max (c = 0, 1, 2), over layers and modes.
    ratio_c0_c1_r is NaN when schur.modes leaves mode R out (under polar it equals mode J's)."""
    need = {"run", "mode", "method", "construction", "c", "erank"}
    if need - set(dose_table.columns):
        raise KeyError(f"schur_dose table lacks columns {sorted(need - set(dose_table.columns))}")
    dose = dose_table[dose_table["construction"] == "dose"]
    rows = []
    for run, sub in dose.groupby("run", sort=False):
        def erank(mode: str, c: float, column: str = "erank") -> float:
            hit = sub[(sub["mode"] == mode) & np.isclose(sub["c"], c)]
            if hit.empty:
                raise ValueError(f"Table 3 needs mode {mode} at c = {c:g} for run {run}: add it to schur.doses / schur.modes")
            return float(hit[column].iloc[0]) if column in hit else np.nan

        methods = sorted(set(sub["method"]))
        if len(methods) != 1 or methods[0] not in SURGERIES:
            raise ValueError(f"Table 3 of run {run} needs one surgery method out of {SURGERIES}, got {methods}")
        row = {"run": run, "method": methods[0], "erank_c0": erank("J", 0), "erank_c1": erank("J", 1),
               "erank_c2": erank("J", 2)}
        row["ratio_c0_c1_j"] = row["erank_c0"] / row["erank_c1"]
        has_r = (sub["mode"] == "R").any()
        row["ratio_c0_c1_r"] = erank("R", 0) / erank("R", 1) if has_r else np.nan
        c0 = {k: erank("J", 0, f"erank_order_{k}") for k in (*ORDER_STATS, "median_ci_lo", "median_ci_hi")}
        row.update({f"erank_c0_{k}": v for k, v in c0.items()})
        row.update({f"ratio_c0_c1_j_{k}": v / row["erank_c1"] for k, v in c0.items()})
        row.update({f"erank_c2_{k}": erank("J", 2, f"erank_order_{k}") for k in ORDER_STATS})
        n = erank("J", 0, "n_orders")
        row["n_orders"] = 0 if np.isnan(n) else int(n)
        at = sub[np.isclose(sub["c"], 0) | np.isclose(sub["c"], 1) | np.isclose(sub["c"], 2)]
        for column in RESOLUTION_COLUMNS:
            row[column] = float(at[column].max()) if column in at and at[column].notna().any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt_orders(r, name: str, fmt: str, unit: str = "") -> str:
    """' [median; q05–q95]' of a Table 3 quantity over random orders, '' without draws."""
    if not r.n_orders:
        return ""
    g = lambda k: format(getattr(r, f"{name}_{k}"), fmt)  # noqa: E731
    return f" [{g('median')}{unit}; {g('q05')}–{g('q95')}]"


def table3_markdown(table: pd.DataFrame) -> str:
    methods = set(table["method"]) if len(table) else {"polar"}
    polar = methods == {"polar"}
    r_head = "c=0/c=1 (mode R: = mode J)" if polar else "c=0/c=1 (mode R: ordering check)"
    last = " cond(V) max |" if polar else ""
    lines = [f"| Run | c = 0 | c = 1 (trained) | c = 2 | c=0/c=1 (mode J) | {r_head} |{last}",
             "|---|---:|---:|---:|---:|---:|" + ("---:|" if polar else "")]
    for r in table.itertuples(index=False):
        cells = [
            r.run,
            f"{r.erank_c0:.3g}{_fmt_orders(r, 'erank_c0', '.3g')}",
            f"{r.erank_c1:.3g}",
            f"{r.erank_c2:.3g}{_fmt_orders(r, 'erank_c2', '.3g')}",
            f"{r.ratio_c0_c1_j:.2f}×{_fmt_orders(r, 'ratio_c0_c1_j', '.2f', '×')}",
            "—" if np.isnan(r.ratio_c0_c1_r) else f"{r.ratio_c0_c1_r:.2f}×",
        ]
        if polar:
            cells.append(f"{r.eigvec_cond_max:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    if polar:
        caption = (
            "Polar surgery dose response: effective rank of the cumulative product P_{0:L-1} (mode J), each layer "
            "J = VΛV⁻¹ recomposed as J_c = U P^c Λ P^{-c} U* (V = UP, unit-norm eigenvectors; c = 0 normal, c = 1 "
            "the model, spectrum kept at every c, no eigenvalue order). Mode R gives J_c − I exactly, so its ratio "
            "repeats mode J's. cond(V) max: the worst eigenvector condition over layers, which bounds how well "
            "the surgery is resolved."
        )
    else:
        n = int(table["n_orders"].max()) if len(table) else 0
        caption = (
            "Schur dose response: effective rank of the cumulative product P_{0:L-1} (mode J), with the Schur "
            "diagonal in canonical order (decreasing |λ|, ties by argument), an extreme of the choice"
            + (f"; brackets: median and 5th–95th percentiles over {n} random diagonal orders (c = 1 does "
               "not depend on the order)" if n else "")
            + ". Mode R is mode J with the diagonal ordered by |λ − 1| (R = J − I has J's Schur vectors): an "
            "ordering check, not an independent result."
        )
    return caption + "\n\n" + "\n".join(lines) + "\n"
