"""Compare two workflow folders table by table: has a change moved any number?

    python benchmarks/compare_results.py BEFORE AFTER [--rtol 1e-12]

BEFORE and AFTER are workflow roots (each with its results/). Every file of BEFORE under
results/tables/, plus results/findings.csv, is compared with AFTER's, one line each:
- identical: the same bytes;
- within RTOL: a CSV with the same columns and rows, text cells equal and numeric cells
  equal to RTOL relative (NaN equal to NaN): a float's last digit moved;
- columns added: AFTER adds columns, and BEFORE's columns are identical as above;
- DIFFERS / MISSING: anything else, with the first cell that differs.
Tables only AFTER has are listed as new. Exits 1 if any table differs or is missing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def tables(root: Path) -> dict[str, Path]:
    found = {str(p.relative_to(root)): p for p in sorted((root / "results" / "tables").rglob("*")) if p.is_file()}
    findings = root / "results" / "findings.csv"
    if findings.is_file():
        found[str(findings.relative_to(root))] = findings
    return found


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def worst_difference(x: pd.DataFrame, y: pd.DataFrame) -> tuple[float, str]:
    """(largest relative difference of numeric cells, "" or where a text or NaN cell differs);
    x and y have the same columns and shape."""
    worst = 0.0
    for col in x.columns:
        u, v = x[col], y[col]
        if pd.api.types.is_numeric_dtype(u) and pd.api.types.is_numeric_dtype(v):
            u, v = u.to_numpy(float), v.to_numpy(float)
            if not (np.isnan(u) == np.isnan(v)).all():
                return np.inf, f"column {col}: NaN in one table only"
            ok = ~np.isnan(u)
            scale = np.maximum(np.abs(u[ok]), np.abs(v[ok]))
            rel = np.abs(u[ok] - v[ok]) / np.where(scale > 0, scale, 1.0)
            worst = max(worst, float(rel.max(initial=0.0)))
        elif not (u.astype(str) == v.astype(str)).all():
            row = int(np.flatnonzero((u.astype(str) != v.astype(str)).to_numpy())[0])
            return np.inf, f"column {col}: text differs at row {row}"
    return worst, ""


def compare_csv(a: Path, b: Path, rtol: float) -> tuple[bool, str]:
    """(same within rtol, the line to print)."""
    x, y = _read(a), _read(b)
    added = [c for c in y.columns if c not in x.columns]
    kept = [c for c in y.columns if c in x.columns]
    if kept != list(x.columns):
        return False, f"columns differ: {list(x.columns)} vs {list(y.columns)}"
    if x.shape[0] != y.shape[0]:
        return False, f"{x.shape[0]} rows vs {y.shape[0]}"
    worst, where = worst_difference(x, y[kept])
    if where or worst > rtol:
        return False, where or f"relative difference {worst:.3g}"
    same = "identical" if worst == 0 else f"within {worst:.2g}"
    return True, f"columns added {added}; the others {same}" if added else f"within {rtol:g} (largest {worst:.2g})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-12)
    args = parser.parse_args(argv)
    before, after = tables(args.before), tables(args.after)
    if not before:
        print(f"no tables under {args.before}/results", file=sys.stderr)
        return 2
    bad = 0
    for name, a in before.items():
        b = after.get(name)
        if b is None:
            ok, line = False, "MISSING"
        elif a.read_bytes() == b.read_bytes():
            ok, line = True, "identical"
        elif a.suffix != ".csv":
            ok, line = False, "bytes differ (not a CSV)"
        else:
            ok, line = compare_csv(a, b, args.rtol)
        print(f"{name}: {line}" if ok else f"{name}: DIFFERS: {line}")
        bad += not ok
    for name in sorted(set(after) - set(before)):
        print(f"{name}: new")
    print(f"{len(before)} tables compared, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
