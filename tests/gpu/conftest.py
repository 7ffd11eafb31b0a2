"""The GPU suite: the CUDA code paths checked against the CPU (float64 where tolerances
demand it). Every test here carries the `gpu` marker and is skipped where torch sees no
CUDA device, so `make test` stays green on a laptop. Run it on a GPU machine with

    benchmarks/gpu_check.sh        # the suite, then s/Jacobian beside the cost model's projection
    .venv/bin/python -m pytest -m gpu tests/gpu   # the suite alone

RESDYN_GPU_SUITE_DEVICE=cpu runs the same comparisons with the CPU standing in for the GPU:
a check of the suite's own code where no GPU is at hand (it proves nothing about CUDA).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

DEVICE = os.environ.get("RESDYN_GPU_SUITE_DEVICE", "cuda")
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if DEVICE != "cuda" or torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="GPU suite: torch sees no CUDA device (run it with benchmarks/gpu_check.sh on a GPU)")
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device() -> torch.device:
    dev = torch.device(DEVICE)
    if dev.type == "cuda":
        # float32 GEMMs in full precision (TF32 would cost ~3 digits), pinned as every GPU job pins them
        from resdyn.core.device import is_ieee_float32, pin_ieee_float32

        assert is_ieee_float32(pin_ieee_float32())
    return dev
