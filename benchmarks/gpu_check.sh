#!/usr/bin/env bash
# On a GPU machine: what a GPU job will see (device, driver, torch's CUDA build, TF32 state,
# free memory), then seconds per Jacobian at d = 576 and d = 4096 (closed form + cuSOLVER's
# singular values) beside the cost model's projection, then the GPU test suite. About 3-4
# minutes on one A100/H100-class GPU (under 6: each step is bounded by `timeout`).
#
#   benchmarks/gpu_check.sh            # from the repository root, with .venv installed (make install)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# device, torch/CUDA/driver versions, TF32 state, free memory; fails naming both versions
# where the scheduler granted a GPU that torch cannot see
timeout 60 "$PY" -m resdyn.core.device || exit 2
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')" || exit 2
status=0
timeout 110 "$PY" benchmarks/gpu_jacobian_rate.py || status=$?
timeout 180 "$PY" -m pytest -m gpu tests/gpu -q -rA -p no:cacheprovider || status=$?
exit $status
