#!/usr/bin/env bash
# What tests/test_browser.py needs, installed only when missing and without upgrading anything else:
#   - Debian's `chromium`, used through Playwright's executable_path. Never `playwright install`: it downloads its own
#     browsers, which we neither want nor can fetch in CI.
#   - the `playwright` Python package in the project venv (settings.ini dev_requirements brings it with `make install`;
#     this covers a venv created before it was added).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium) (already installed: nothing to do)"
elif ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing and there is no apt-get here: the browser test will skip and say why"
else
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
  echo "chromium is missing: installing Debian's chromium package only (apt-get install --no-upgrade; nothing else is upgraded)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-upgrade --no-install-recommends chromium
  echo "chromium: $(command -v chromium)"
fi

if [ -x "$VENV/bin/python" ]; then
  "$VENV/bin/python" -c 'import playwright' 2>/dev/null || {
    echo "the playwright package is missing from $VENV: installing it (pip, no browser download)"
    "$VENV/bin/python" -m pip install -q playwright; }
  "$VENV/bin/python" -c 'import importlib.metadata as m; print("playwright:", m.version("playwright"))'
else
  echo "no venv at $VENV yet: \`make install\` creates it with playwright (settings.ini dev_requirements)"
fi
