"""Shared pytest configuration: the `gpu` marker.

Tests marked `@pytest.mark.gpu` need a CUDA device; they are skipped automatically (with a reason) when
`torch.cuda.is_available()` is False, so `pytest tests/` passes on the CPU-only CI machine.
"""
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device; skipped automatically when torch.cuda.is_available() is False")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available(): return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if 'gpu' in item.keywords: item.add_marker(skip)
