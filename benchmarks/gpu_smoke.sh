#!/usr/bin/env bash
# The first-GPU check, in one call (under 10 minutes on one GPU): the CUDA tests (forces, determinism,
# graphed == eager, and the job path: `tdlm simulate --device cuda` with and without the CUDA graph,
# SIGTERM in the branch phase, resume bit for bit, float64, a failing capture), then the CUDA benchmark,
# then a short report: the device, step rates, whether the graph was active, pass/fail.
#
#   bash benchmarks/gpu_smoke.sh [OUT_DIR]          # default: results/gpu-smoke/<host>-<time>/
#   srun --gres=gpu:1 --cpus-per-task=4 --time=15 bash benchmarks/gpu_smoke.sh   # on a SLURM cluster
#
# OUT_DIR gets report.md and report.json (the summary), tests.log and tests.xml (pytest), bench.log and
# bench_cuda.json (benchmarks/bench_md.py), device.json. Exit status: 0 all passed, 1 something failed,
# 2 no usable CUDA device here (a message says why; nothing is run). PYTHON picks the interpreter.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python}
OUT=${1:-results/gpu-smoke/$(hostname -s 2>/dev/null || echo host)-$(date +%Y%m%dT%H%M%S)}

if ! error=$("$PY" -c "import torch, tdlm" 2>&1); then
    echo "gpu_smoke: $PY cannot import torch and tdlm (pip install -e . in this environment): ${error##*$'\n'}" >&2
    exit 2
fi
if ! device=$("$PY" - <<'EOF'
import json
import sys

import torch

from tdlm.device import cuda_unavailable_reason, describe, software

if not torch.cuda.is_available():
    print(f"gpu_smoke: no usable CUDA device here: {cuda_unavailable_reason()}; run it on a GPU node", file=sys.stderr)
    sys.exit(2)
device = torch.device("cuda")
free, total = torch.cuda.mem_get_info(device)
record = {**describe(device), **software(), "devices_visible": torch.cuda.device_count(), "memory_gib": total / 2**30}
print(json.dumps(record, indent=2))
EOF
); then
    exit 2
fi
mkdir -p "$OUT" || exit 2
echo "$device" >"$OUT/device.json"
echo "gpu_smoke: $(grep -o '"device_name": "[^"]*"' "$OUT/device.json"), results in $OUT" >&2

# the CUDA tests; test_engine_device.py adds the CPU-side device and capture-failure checks
timeout -k 15 420 "$PY" -m pytest tests/engine/test_engine_cuda.py tests/engine/test_engine_device.py \
    -q -p no:randomly -rfEs --junitxml="$OUT/tests.xml" >"$OUT/tests.log" 2>&1
echo "gpu_smoke: tests exit $? (tests.log)" >&2

# the CUDA benchmark (quick: N 10 and 40, R 1 and 8, every CUDA method, engine+graph only from a captured graph)
timeout -k 15 150 "$PY" benchmarks/bench_md.py --device cuda --quick --out "$OUT/bench_cuda.json" >"$OUT/bench.log" 2>&1
echo "gpu_smoke: benchmark exit $? (bench.log)" >&2

"$PY" benchmarks/gpu_smoke_report.py "$OUT"
