"""The one timing rule the benchmarks share."""
import time


def best_of(fn, repeats: int = 3) -> float:
    """Smallest wall time of `repeats` calls after one warm-up (the least disturbed by neighbours)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
