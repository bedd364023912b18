#!/usr/bin/env bash
# What tests/test_browser.py needs, installed when missing (idempotent; call from .ci/run before `make test`):
#   - Debian's `chromium` (apt-get), used through Playwright's executable_path. Never `playwright install`: it
#     downloads its own browsers, which we neither want nor can fetch in CI.
#   - the `playwright` Python package in the project venv (also in settings.ini dev_requirements, so `make install`
#     brings it too; this covers a venv created before it was added).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if ! python3 -c 'import shutil, sys; sys.exit(0 if shutil.which("chromium") else 1)'; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
python3 -c 'import shutil; print("chromium:", shutil.which("chromium"))'

if [ -x "$VENV/bin/python" ]; then
  "$VENV/bin/python" -c 'import playwright' 2>/dev/null || "$VENV/bin/python" -m pip install -q playwright
  "$VENV/bin/python" -c 'import playwright, importlib.metadata as m; print("playwright:", m.version("playwright"))'
else
  echo "no venv at $VENV yet: \`make install\` creates it with playwright (settings.ini dev_requirements)"
fi
