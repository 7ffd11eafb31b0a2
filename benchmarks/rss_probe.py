"""One single-token Jacobian stage in a fresh process; prints its peak RSS as JSON.

    python benchmarks/rss_probe.py MODEL_DIR ACTIVATIONS.npy [--layer 1] [--batch-size 16]

Runs what the jacobian_layer rule runs (memory-mapped activations, one block's weights,
streamed statistics), so the harness can compare peak memory at N and 4N samples.
"""
import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from resdyn.core.memory import fixed_mmap_threshold
from resdyn.dynamics.jacobians import single_token_layer_stats
from resdyn.models.layer_files import single_token_block


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB.

    VmHWM belongs to this program's own address space; ru_maxrss would start from the
    parent's size at fork (Linux carries it across exec), hiding this process's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("activations")
    ap.add_argument("--layer", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    fixed_mmap_threshold()  # as the jacobian_layer rule does
    block = single_token_block(args.model, args.layer)
    states = np.load(args.activations, mmap_mode="r")[:, 2 * args.layer]
    baseline = rss_mb()
    start = time.perf_counter()
    out = single_token_layer_stats(block, states, args.batch_size, "rss probe")
    print(json.dumps({"samples": len(out["kappa"]), "baseline_rss_mb": baseline, "peak_rss_mb": rss_mb(),
                      "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
