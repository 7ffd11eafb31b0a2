"""A simulated CUDA device on a machine without one: the GPU rules' code at full size, no GPU, no memory.

Under torch's FakeTensorMode, `device="cuda:0"` tensors carry shapes, dtypes and devices but no
data, so d = 4096 Jacobians cost nothing, while the mistakes a real GPU punishes still fail:
- a CPU tensor meeting a device tensor raises FakeTensorDeviceMismatchError (as CUDA does);
- `.numpy()` of a device tensor raises TypeError with CUDA's own message (`simulated_cuda`
  patches `Tensor.numpy`: a fake *host* tensor gives an array of host values, `host_values`).
What only data could answer is answered here: `bool()`, `float()` and `.item()` of a fake
tensor give True / 1.0 / 0 (a count of bad values), so finiteness checks pass, and host copies of floating arrays hold
`host_values` (by default each row falls linearly from 1 to 0: every σ_min is 0, every sample
unresolved, so `precision: auto` recomputes every sample in float64, its most memory-hungry path).

`DeviceMemory` counts the bytes of live fake CUDA storages op by op and keeps the peak: what
the job's tensors hold, not the caching allocator's reserve or cuBLAS/cuSOLVER workspaces.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

# A CPU-only torch build cannot index fake CUDA tensors (its indexing code takes a CUDA device
# guard: "PyTorch is not linked with support for cuda devices"); there the simulated GPU is the
# lazy device, the one non-CPU device such a build can guard. The code under test only asks
# whether a device is the CPU, so both take the GPU paths.
DEVICE = torch.device("cuda", 0) if torch.backends.cuda.is_built() else torch.device("lazy", 0)
GIB = 2**30


def falling_rows(shape, dtype) -> np.ndarray:
    """Host values of a fake tensor: rows falling linearly from 1 to 0 (floating), True (bool), 1 (integer)."""
    if dtype == np.bool_:
        return np.ones(shape, dtype=bool)
    if not np.issubdtype(dtype, np.floating) or len(shape) == 0:
        return np.ones(shape, dtype=dtype)
    return np.ascontiguousarray(np.broadcast_to(np.linspace(1.0, 0.0, shape[-1]), shape)).astype(dtype)


class DeviceMemory(TorchDispatchMode):
    """Live and peak bytes of fake device storages, by the storages each op's outputs hold.

    A storage counts from the first op that returns a tensor on it until the last tensor on it
    is gone; views share their base's storage. Also answers what only data could: scalars, and nonzero (all entries)."""

    def __init__(self, capacity: int | None = None):
        super().__init__()
        self.capacity = capacity  # bytes; beyond them an op raises torch.OutOfMemoryError, as the card would
        self.live = self.peak = 0
        self._bytes: dict[int, int] = {}  # live storages: their bytes

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self._bytes:
            return
        self._bytes[key] = storage.nbytes()
        self.live += storage.nbytes()
        weakref.finalize(storage, self._release, key)  # storages' Python objects live as long as the storage
        if self.capacity is not None and self.live > self.capacity:
            raise torch.OutOfMemoryError(f"simulated device: {self.live / GIB:.1f} GiB live, "
                                         f"{self.capacity / GIB:.1f} GiB on the card")
        self.peak = max(self.peak, self.live)

    def _release(self, key: int) -> None:
        self.live -= self._bytes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:  # bool(), float(), .item() of a fake tensor
            return True if args[0].dtype == torch.bool else 1.0 if args[0].is_floating_point() else 0
        if func is torch.ops.aten.nonzero.default:  # boolean-mask indexing: every entry counts as True
            x = args[0]
            return torch.empty((x.numel(), x.dim()), dtype=torch.long, device=x.device)
        if func is torch.ops.aten.index.Tensor and any(i is not None and i.dtype == torch.bool for i in args[1]):
            args = (args[0], [x for i in args[1] for x in _mask_as_indices(i)])
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, FakeTensor) and t.device.type == DEVICE.type:  # not host, not meta
                self._track(t)
        return out

    def reset_peak(self) -> None:
        self.peak = self.live


def _mask_as_indices(index):
    """A boolean mask as the integer indices of its (all True) entries, one per dimension it covers."""
    if index is None or index.dtype != torch.bool:
        return [index]
    return [torch.empty(index.numel(), dtype=torch.long, device=index.device) for _ in range(index.dim())]


@contextlib.contextmanager
def simulated_cuda(host_values=falling_rows, capacity: int | None = None):
    """Fake CUDA tensors for the block's body; yields the DeviceMemory tracker (a card of
    `capacity` bytes where given).

    Patches, for the block only: `Tensor.numpy` (refuses device tensors as CUDA does; a fake
    host tensor gives `host_values(shape, numpy dtype)`), and `torch.tensor` / `torch.as_tensor`
    with a device (made on the host, then copied, as torch does on a real GPU)."""
    numpy, tensor, as_tensor = torch.Tensor.numpy, torch.tensor, torch.as_tensor

    def fake_numpy(self, *, force=False):
        if not isinstance(self, FakeTensor):
            return numpy(self, force=force)
        if self.device.type != "cpu":
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        return host_values(tuple(self.shape), _numpy_dtype(self.dtype))

    def on_device(make):
        def made(data, *args, device=None, **kwargs):
            t = make(data, *args, **kwargs)
            return t if device is None else t.to(device)
        return made

    torch.Tensor.numpy = fake_numpy
    torch.tensor, torch.as_tensor = on_device(tensor), on_device(as_tensor)
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), DeviceMemory(capacity) as memory:
            yield memory
    finally:
        torch.Tensor.numpy, torch.tensor, torch.as_tensor = numpy, tensor, as_tensor


_NUMPY_DTYPES = {torch.float16: np.float16, torch.bfloat16: np.float32, torch.float32: np.float32,
                 torch.float64: np.float64, torch.int64: np.int64, torch.int32: np.int32, torch.bool: np.bool_,
                 torch.complex64: np.complex64, torch.complex128: np.complex128, torch.uint8: np.uint8}


def _numpy_dtype(dtype: torch.dtype):
    return np.dtype(_NUMPY_DTYPES[dtype])
