#!/usr/bin/env bash
# The one prepared GPU check: interleaved `pernode timeit` at the paper's three shapes on JAX,
# the speed and memory targets met or not, in under 8 minutes on one GPU. Its output is
# kept as benchmarks/gpu-<GPU model>-<UTC date>.md.
#
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # peak memory is measured, not preallocated
# The environment's Python (a virtual environment's first), and no failure where nvidia-smi is missing.
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
model=$({ nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true; } | head -n 1 | tr -c 'A-Za-z0-9\n' '-' | sed 's/-*$//')
out="benchmarks/gpu-${model:-unknown}-$(date -u +%Y-%m-%d).md"
# Three shapes x (warm-up + timed rounds), each shape stopped after 2 minutes at most.
timeout 470 "$PYTHON" benchmarks/paper_shapes.py \
    --variants Dropout,PerNodeGaussian,PerNodeBernoulli,PerNodePartialGaussian \
    --epochs 8 --warmup 1 --steps-per-epoch cifar10=100,speech_commands=40,rcv1=100 \
    --max-minutes 2 --out "$out"
echo "written: $out"
