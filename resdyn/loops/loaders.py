"""A loop model from a local folder, by architecture name."""
from __future__ import annotations

import torch

from resdyn.loops.huginn import HuginnLoop
from resdyn.loops.ouro import OuroLoop
from resdyn.loops.weights import LoopModelError

ARCHITECTURES = {"ouro": OuroLoop, "huginn": HuginnLoop}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def load_loop_model(folder, arch: str, dtype: str | torch.dtype = "float32", device="cpu"):
    if arch not in ARCHITECTURES:
        raise LoopModelError(f"loops.models.*.arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise LoopModelError(f"loops.dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        dtype = DTYPES[dtype]
    return ARCHITECTURES[arch].from_folder(folder, dtype, device)
