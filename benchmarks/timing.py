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


def interleaved_best(fns, rounds: int = 5) -> list[float]:
    """Smallest wall time of each function over `rounds` rounds that call them in turn: a ratio
    of two such times is little disturbed by neighbours on a shared machine."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best
