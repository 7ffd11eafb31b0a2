"""Keep a streaming job's peak memory independent of how long it runs."""
from __future__ import annotations

import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def fixed_mmap_threshold(nbytes: int = 1 << 20) -> bool:
    """Serve allocations above `nbytes` by mmap, returned to the OS when freed.

    glibc raises its mmap threshold each time a large block is freed, after which the
    per-batch Jacobian buffers (tens of MB) come from the heap and fragment it: peak RSS
    then wanders with the number of batches. A fixed threshold keeps it flat (measured by
    benchmarks/harness.py, memory section). Returns False where libc is not glibc.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(nbytes)))
    except (OSError, AttributeError):
        return False
