#!/usr/bin/env bash
# Create .venv and install gait2hip with the local CPU build of PyTorch.
# torch==2.13.0 goes first: a bare `torch` would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[dev]"
echo "gait2hip installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
