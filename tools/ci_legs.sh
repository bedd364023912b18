#!/usr/bin/env bash
# The numeric tests again with the CPU kernels forced down, so that a result which holds only on this CPU's kernels
# (AVX-512, AMX, its BLAS blocking) fails here instead of on a student's laptop. ATen's kernels, MKL's and oneDNN's are
# each capped; the bfloat16 choice of propagation then falls back to float32 ('auto'), and the tests that pass
# dtype=torch.bfloat16 exercise the bfloat16 path on every leg. The browser test is not numeric and runs once.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
# notebooks and pytest files whose tests compare floats computed by torch kernels
NOTEBOOKS='^(01_affinity|03_tracking|04_transforms|05_losses|06_model|08_propagation|09_metrics|10_widgets)\.ipynb$'
TESTS="tests/test_affinity.py tests/test_tracking.py tests/test_transforms.py tests/test_losses.py tests/test_model.py
       tests/test_propagation.py tests/test_metrics.py tests/test_encoder.py tests/test_protocols.py"
for cap in ${LEGS:-avx2 default}; do
  export ATEN_CPU_CAPABILITY=$cap MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
  start=$(date +%s)
  "$BIN/python" -c 'import os, torch; print("== leg ATEN_CPU_CAPABILITY=" + os.environ["ATEN_CPU_CAPABILITY"] + ":",
                   "torch.backends.cpu.get_cpu_capability() =", torch.backends.cpu.get_cpu_capability())'
  "$BIN/nbdev_test" --n_workers 2 --file_re "$NOTEBOOKS"
  # shellcheck disable=SC2086
  "$BIN/pytest" $(for t in $TESTS; do [ -f "$t" ] && echo "$t"; done) -q -p no:cacheprovider
  echo "== leg $cap: $(( $(date +%s) - start )) s"
done
