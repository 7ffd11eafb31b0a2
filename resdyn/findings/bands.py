"""A number known only within a band (Schur surgery over random eigenvalue orders), as the
surgery tables write it, and threshold tests on such bands (True / False / None = undecided).

Table layouts read, by precedence: a ``method`` column (polar rows are order-free numbers and
win; schur rows give ``<name>_q05`` / ``_median`` / ``_q95`` over ``n_orders`` random orders),
then the older ``<name>_min`` / ``_max`` band that also holds the canonical order's value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ORDER_FREE = "polar"


def pick_method(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of one surgery method: polar (order-free) where present, else the only one there."""
    if "method" not in rows:
        return rows, "schur"
    methods = sorted(set(rows["method"]))
    pick = ORDER_FREE if ORDER_FREE in methods else methods[0]
    return rows[rows["method"] == pick], pick


def band(row: pd.Series, name: str) -> tuple[float, float, str]:
    """(low, high, what the band is) of quantity ``name`` in one table row."""
    v = float(row[name]) if name in row else float("nan")
    n = row.get("n_orders")
    orders = f" over {int(n)} random Schur orders" if n is not None and pd.notna(n) and n else ""
    for lo_s, hi_s, what in (("_q05", "_q95", "90% interval"), ("_order_q05", "_order_q95", "90% interval"),
                             ("_min", "_max", "band (canonical order included)"),
                             ("_order_min", "_order_max", "band (canonical order included)")):
        lo, hi = row.get(name + lo_s), row.get(name + hi_s)
        if lo is not None and hi is not None and pd.notna(lo) and pd.notna(hi):
            lo, hi = float(lo), float(hi)
            if "canonical" in what and np.isfinite(v):
                lo, hi = min(lo, v), max(hi, v)
            return lo, hi, f"{name} {what}{orders}: [{lo:.3g}, {hi:.3g}]"
    return v, v, ""


def fmt(lo: float, hi: float) -> str:
    return f"{lo:.3g}" if lo == hi else f"[{lo:.3g}, {hi:.3g}]"


def within(lo: float, hi: float, a: float, b: float) -> bool | None:
    """Does a quantity in [lo, hi] lie in [a, b]?"""
    if a <= lo and hi <= b:
        return True
    if hi < a or lo > b:
        return False
    return None


def less(a: tuple[float, float], b: tuple[float, float]) -> bool | None:
    """Is a quantity in band a below one in band b?"""
    if a[1] < b[0]:
        return True
    if a[0] >= b[1]:
        return False
    return None


def falls_monotonically(bands: list[tuple[float, float]]) -> bool | None:
    """Each band below the one before it (bands in increasing dose)."""
    steps = [less(b, a) for a, b in zip(bands, bands[1:])]
    if any(s is False for s in steps):
        return False
    return None if any(s is None for s in steps) else True
