#!/usr/bin/env bash
# The pip user's path: build the wheel, install it with the runtime requirements only (no dev extras) into a fresh
# virtual environment outside the checkout, execute the tutorials there, and run `contrastcorr demo --quick`.
# Only a notebook runner (nbclient + ipykernel) is added beside the wheel: a user opens the tutorials in Jupyter.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH="${TORCH:-torch==2.13.0}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
start=$(date +%s)
"${VENV:-.venv}/bin/python" -m pip wheel . --no-deps -q -w "$work/dist"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "$TORCH"
"$py" -m pip install -q "$work"/dist/*.whl
"$py" -m pip install -q nbclient ipykernel
"$py" -m pip list --format=freeze | grep -iE '^(fastcore|nbdev|av|pytest|hypothesis)==' && {
  echo "a dev-only package is in the wheel-only environment"; exit 1; } || true
echo "== wheel installed ($(ls "$work"/dist)): $(( $(date +%s) - start )) s"
mkdir "$work/run"; cp nbs/tutorials/*.ipynb "$work/run/"
cd "$work/run"    # nothing here resolves to the checkout: imports come from the installed wheel
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$py" - <<'PY'
import glob, sys, time
import nbformat
from nbclient import NotebookClient
failed = []
for path in sorted(glob.glob('*.ipynb')):
    t0 = time.time(); nb = nbformat.read(path, as_version=4)
    try: NotebookClient(nb, timeout=1200, kernel_name='python3', resources={'metadata': {'path': '.'}}).execute()
    except Exception as e:   # report every notebook, then fail
        failed.append(path); print(f"== {path}: FAILED from the wheel: {str(e).strip().splitlines()[-1]}", flush=True)
    else: print(f"== {path}: executed from the wheel in {time.time() - t0:.0f} s", flush=True)
sys.exit(f"tutorials that fail from the wheel: {failed}" if failed else 0)
PY
"$work/venv/bin/contrastcorr" demo --quick --out "$work/demo"
"$py" -c "import json, sys; d = json.load(open(sys.argv[1])); assert d['davis'], 'no J&F rows'" "$work/demo/results.json"
echo "== wheel leg: $(( $(date +%s) - start )) s"
