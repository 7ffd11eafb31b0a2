#!/usr/bin/env bash
# On a GPU machine: the GPU test suite, then seconds per Jacobian at d = 576 and d = 4096
# beside the cost model's projection. About 2-3 minutes on one A100/H100-class GPU
# (under 5: each step is bounded by `timeout`).
#
#   benchmarks/gpu_check.sh            # from the repository root, with .venv installed (make install)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')" || exit 2
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
timeout 180 "$PY" -m pytest -m gpu tests/gpu -q -rA -p no:cacheprovider || status=$?
timeout 110 "$PY" benchmarks/gpu_jacobian_rate.py || status=$?
exit $status
