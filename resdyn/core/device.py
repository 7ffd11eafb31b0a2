"""The device of a GPU job: chosen once, refused where a granted GPU is invisible, pinned to IEEE float32, logged.

Three things a cluster does to a job without a word, each caught here at the job's start:
- The node's NVIDIA driver is older than torch's CUDA build (CUDA 13.x builds need a driver of
  branch 580 or later, CUDA 12.x builds 525 or later, by NVIDIA's minor-version compatibility):
  torch then sees no CUDA device and would grind on the CPU to the job's time limit while
  holding a GPU. Where SLURM granted a GPU (SLURM_JOB_GPUS, SLURM_STEP_GPUS, CUDA_VISIBLE_DEVICES)
  and torch sees none, `job_device` raises, naming both versions.
- TF32 float32 GEMMs (A100/H100; switched on from outside by TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1,
  which common containers set) carry a 10-bit mantissa, so the σ_min resolution bound of
  `resdyn.dynamics.jacobians` (float32 ε) would be wrong. `pin_ieee_float32` switches TF32 off for
  cuBLAS and cuDNN, sets matmul precision "highest" and reads it back.
- Nothing records where a job ran: `describe` gives device, torch and CUDA versions, driver,
  TF32 state and free device memory for the job's log.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import torch

GPU_GRANT_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES")
NO_GPU_VALUES = ("", "-1", "none", "NoDevFiles")  # what these variables hold when no GPU is granted
ALLOW_CPU_VARIABLE = "RESDYN_ALLOW_CPU"  # =1: run on the CPU although a GPU was granted (test clusters with fake GPUs)
TF32_OVERRIDE_VARIABLE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"
MIN_DRIVER = {"13": 580, "12": 525}  # CUDA major -> oldest driver branch that runs it (Linux)
OLDER_DRIVER_HINT = (
    "install a torch build for an older driver from the PyTorch wheel index, e.g. "
    "`pip install torch==<same version> --index-url https://download.pytorch.org/whl/cu126` "
    "(CUDA 12.6, driver >= 525), or ask for nodes with a driver of branch 580 or later"
)

log = logging.getLogger("resdyn.core.device")
_chosen: torch.device | None = None


class DeviceError(RuntimeError):
    """The job cannot run as asked (a granted GPU torch cannot see, TF32 that will not switch off)."""


def granted_gpus(environ=None) -> dict[str, str]:
    """The variables by which the scheduler says this job holds a GPU, with their values."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in GPU_GRANT_VARIABLES if k in environ and environ[k].strip() not in NO_GPU_VALUES}


def driver_version() -> str:
    """The NVIDIA kernel driver's version, from /proc or nvidia-smi; 'unknown' where neither says."""
    proc = Path("/proc/driver/nvidia/version")
    if proc.is_file():
        found = re.search(r"Kernel Module(?: for \w+)?\s+(\d+(?:\.\d+)+)", proc.read_text())
        if found:
            return found.group(1)
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown"


def tf32_state() -> dict[str, object]:
    """What torch will do with float32 matmuls and convolutions, read back from torch."""
    return {"cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


def is_ieee_float32(state: dict[str, object]) -> bool:
    return (state["cuda.matmul.allow_tf32"] is False and state["cudnn.allow_tf32"] is False
            and state["float32_matmul_precision"] == "highest")


def pin_ieee_float32() -> dict[str, object]:
    """Switch TF32 off for float32 GEMMs and convolutions; returns the state read back (raises if it stays on)."""
    if os.environ.pop(TF32_OVERRIDE_VARIABLE, None) is not None:  # not inherited by child processes either
        log.info("%s was set in the job's environment; TF32 is switched off regardless", TF32_OVERRIDE_VARIABLE)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    state = tf32_state()
    if not is_ieee_float32(state):
        raise DeviceError(f"float32 matmuls could not be pinned to IEEE float32 (read back {state}); "
                          "σ_min resolution bounds assume float32 ε")
    return state


def _no_cuda_message(granted: dict[str, str]) -> str:
    built = torch.version.cuda
    need = MIN_DRIVER.get(built.split(".")[0]) if built else None
    needs = f" (needs driver >= {need})" if need else ""
    build = f"CUDA {built}{needs}" if built else "no CUDA (a CPU-only build)"
    granted_text = ", ".join(f"{k}={v}" for k, v in granted.items())
    return (f"this job was granted a GPU ({granted_text}) but torch sees no CUDA device: torch {torch.__version__} "
            f"is built for {build}, the NVIDIA driver here is {driver_version()}. Either {OLDER_DRIVER_HINT}. "
            f"Set {ALLOW_CPU_VARIABLE}=1 to run on the CPU anyway.")


def choose_device(environ=None) -> torch.device:
    """cuda:0 where torch sees a GPU; else the CPU, unless the scheduler granted a GPU (DeviceError)."""
    environ = os.environ if environ is None else environ
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    granted = granted_gpus(environ)
    if granted and environ.get(ALLOW_CPU_VARIABLE, "") not in ("1", "true", "yes"):
        raise DeviceError(_no_cuda_message(granted))
    return torch.device("cpu")


def free_memory(device: torch.device) -> tuple[int, int] | None:
    """(free, total) bytes on a CUDA device, None on the CPU."""
    return torch.cuda.mem_get_info(device) if device.type == "cuda" else None


def describe(device: torch.device) -> str:
    """One log line: device, torch/CUDA/driver versions, TF32 state, free device memory."""
    state = tf32_state()
    mode = "IEEE float32 (TF32 off)" if is_ieee_float32(state) else "TF32 ON"
    name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    memory = free_memory(device)
    free = "" if memory is None else f"; free device memory {memory[0] / 2**30:.1f} of {memory[1] / 2**30:.1f} GiB"
    return (f"device {device}{name}; torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}, "
            f"driver {driver_version()}; float32 matmul {mode}: "
            + ", ".join(f"{k}={v}" for k, v in state.items()) + free)


def require_memory(device: torch.device, need: float, what: str) -> None:
    """Fail at the job's start where the card is smaller than `need` bytes (what the job holds at
    once and cannot split), naming the setting that asks for a larger one."""
    memory = free_memory(device)
    if memory is not None and memory[1] < need:
        raise DeviceError(f"{what} needs ~{need / 2**30:.0f} GiB of device memory; this card has "
                          f"{memory[1] / 2**30:.0f} GiB. Ask for a larger card (profiles/slurm-a100: "
                          "RESDYN_SLURM_GPU_CONSTRAINT, e.g. the 80 GB A100's feature name on your cluster)")


def in_batches_that_fit(n: int, batch_size: int, run_batch, where: str = "") -> int:
    """run_batch(ids) over ids 0..n-1 in consecutive batches of at most `batch_size`; where the
    device runs out of memory, the batch is halved and tried again (logged). Returns the batch
    size that ran last. run_batch must keep nothing of a batch that fails (JacobianAccumulator.add)."""
    start = 0
    while start < n:
        ids = np.arange(start, min(start + batch_size, n))
        try:
            run_batch(ids)
        except torch.OutOfMemoryError as err:
            if batch_size == 1:
                raise
            message = str(err).splitlines()[0]
        else:
            start += len(ids)
            continue
        # outside the handler: the failed batch's tensors, held by the traceback, are gone
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        batch_size = max(1, batch_size // 2)
        log.warning("%s: device out of memory (%s); batch size now %d", where, message, batch_size)
    return batch_size


def job_device(logger: logging.Logger | None = None) -> torch.device:
    """The device of this job, chosen and checked once per process: pins IEEE float32, refuses a granted
    GPU that torch cannot see, and logs what it found. Every GPU entry point calls it first."""
    global _chosen
    if _chosen is None:
        pin_ieee_float32()
        _chosen = choose_device()
        (logger or log).info(describe(_chosen))
    return _chosen


if __name__ == "__main__":  # what a GPU job logs at its start, for a shell: python -m resdyn.core.device
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        job_device()
    except DeviceError as err:
        raise SystemExit(f"resdyn.core.device: {err}")
