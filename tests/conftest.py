"""Shared pytest configuration: the `gpu` and `browser` markers.

Tests marked `@pytest.mark.gpu` need a CUDA device; they are skipped automatically (with a reason) when
`torch.cuda.is_available()` is False, so `pytest tests/` passes on the CPU-only CI machine.
Tests marked `@pytest.mark.browser` drive JupyterLab in headless Chromium (tests/test_browser.py); they skip themselves,
with the reason, only when `chromium` or the `playwright` package is missing (tools/ci_browser_setup.sh installs both).
Deselect them with `-m "not browser"`.
"""

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "gpu: needs a CUDA device; skipped automatically when torch.cuda.is_available() is False"
    )
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in headless Chromium via Playwright (needs chromium + playwright)"
    )


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _restore_flush_denormal():
    """`ContrastCorr.forward` turns on flush-to-zero for speed (a process-wide CPU setting); undo it after each test
    so later tests (e.g. hypothesis' float strategies, which need subnormals) see standard IEEE-754 arithmetic."""
    yield
    torch.set_flush_denormal(False)
